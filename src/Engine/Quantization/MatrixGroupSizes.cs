using System.Text.Json.Serialization;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// The group size of each kind of layer matrix, the same in every layer: finer groups (more scales) for the kinds whose
/// rounding error costs the most accuracy, coarser ones for the rest, so that the model stays within a budget of bits.
/// Each INT4 matrix in a .llmc file records its own group size, so a mix loads as any INT4 file does. Zero points, when
/// asked for, apply to every matrix.
/// </summary>
/// <param name="QueryKeyValue">The stacked Q, K and V projections.</param>
/// <param name="AttentionOutput">The attention output projection.</param>
/// <param name="GateUp">The stacked feed-forward gate and up projections.</param>
/// <param name="Down">The feed-forward down projection.</param>
public sealed record MatrixGroupSizes(int QueryKeyValue, int AttentionOutput, int GateUp, int Down)
{
    /// <summary>The kinds of layer matrix, in the order a layer holds them.</summary>
    public static IReadOnlyList<LinearInput> Kinds { get; } = [LinearInput.QueryKeyValue, LinearInput.AttentionOutput, LinearInput.GateUp, LinearInput.Down];

    /// <summary>Every kind in groups of <paramref name="groupSize"/>.</summary>
    public static MatrixGroupSizes Uniform(int groupSize) => new(groupSize, groupSize, groupSize, groupSize);

    /// <summary>The group size of one kind of matrix.</summary>
    public int this[LinearInput kind] => kind switch
    {
        LinearInput.QueryKeyValue => QueryKeyValue,
        LinearInput.AttentionOutput => AttentionOutput,
        LinearInput.GateUp => GateUp,
        LinearInput.Down => Down,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind of layer matrix."),
    };

    /// <summary>The same sizes with <paramref name="kind"/>'s replaced.</summary>
    public MatrixGroupSizes With(LinearInput kind, int groupSize) => kind switch
    {
        LinearInput.QueryKeyValue => this with { QueryKeyValue = groupSize },
        LinearInput.AttentionOutput => this with { AttentionOutput = groupSize },
        LinearInput.GateUp => this with { GateUp = groupSize },
        LinearInput.Down => this with { Down = groupSize },
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind of layer matrix."),
    };

    /// <summary>Whether every kind has the same group size.</summary>
    [JsonIgnore]
    public bool IsUniform => Kinds.All(k => this[k] == QueryKeyValue);

    /// <summary>The largest group size (per-channel the largest of all): what a mix is named by.</summary>
    [JsonIgnore]
    public int Largest => Kinds.Any(k => this[k] == Int4Format.PerChannel) ? Int4Format.PerChannel : Kinds.Max(k => this[k]);

    /// <summary>The format of one kind of matrix: <paramref name="format"/> with this kind's group size.</summary>
    public Int4Format FormatOf(Int4Format format, LinearInput kind) => format with { GroupSize = this[kind] };

    /// <exception cref="QuantizationArgumentException">A group size is not 32, 64, 128 or -1.</exception>
    public void Validate()
    {
        foreach (var kind in Kinds)
            if (this[kind] is not (32 or 64 or 128 or Int4Format.PerChannel))
                throw new QuantizationArgumentException(QuantizationProblem.InvalidMatrixGroupSize, "MatrixGroupSize",
                    $"The group size of {kind} is {this[kind]}; a group size is 32, 64, 128 or -1 (per channel).");
    }

    /// <summary>
    /// Sizes from (kind name, group size) pairs, the kinds not named taking <paramref name="rest"/>. Names are the
    /// kinds' (<see cref="LinearInput"/>), case-insensitive; <c>Attention</c> stands for both QueryKeyValue and
    /// AttentionOutput, <c>FeedForward</c> for both GateUp and Down.
    /// </summary>
    /// <exception cref="QuantizationArgumentException">An unknown name, a kind named twice, or a group size the format does not have.</exception>
    public static MatrixGroupSizes Parse(IEnumerable<KeyValuePair<string, int>> entries, int rest)
    {
        var sizes = Uniform(rest);
        var named = new HashSet<LinearInput>();
        foreach (var (name, size) in entries)
        {
            foreach (var kind in KindsNamed(name))
            {
                if (!named.Add(kind))
                    throw new QuantizationArgumentException(QuantizationProblem.InvalidMatrixGroupSize, "MatrixGroupSize",
                        $"The group size of {kind} is given twice.");
                sizes = sizes.With(kind, size);
            }
        }
        sizes.Validate();
        return sizes;
    }

    private static IReadOnlyList<LinearInput> KindsNamed(string name)
    {
        if (string.Equals(name, "Attention", StringComparison.OrdinalIgnoreCase)) return [LinearInput.QueryKeyValue, LinearInput.AttentionOutput];
        if (string.Equals(name, "FeedForward", StringComparison.OrdinalIgnoreCase)) return [LinearInput.GateUp, LinearInput.Down];
        foreach (var kind in Kinds)
            if (string.Equals(name, kind.ToString(), StringComparison.OrdinalIgnoreCase)) return [kind];
        throw new QuantizationArgumentException(QuantizationProblem.InvalidMatrixGroupSize, "MatrixGroupSize",
            $"'{name}' is not a kind of layer matrix; the kinds are {string.Join(", ", Kinds)}, Attention (QueryKeyValue and AttentionOutput) " +
            "and FeedForward (GateUp and Down).");
    }

    /// <summary>The number of weights of each kind of matrix in one layer of a model of <paramref name="config"/>'s shape.</summary>
    public static long WeightsOf(ModelConfig config, LinearInput kind)
    {
        long dim = config.EmbeddingLength, kvDim = config.KvDim, ffn = config.FeedForwardLength;
        return kind switch
        {
            LinearInput.QueryKeyValue => (dim + 2 * kvDim) * dim,
            LinearInput.AttentionOutput => dim * dim,
            LinearInput.GateUp => (config.FeedForwardGated ? 2 : 1) * ffn * dim,
            LinearInput.Down => dim * ffn,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind of layer matrix."),
        };
    }

    /// <summary>
    /// Bits per layer weight of a model of <paramref name="config"/>'s shape in these sizes, as
    /// <see cref="Int4Format.BitsPerWeight"/> counts them (FP16 scales, and 8-bit zero points when
    /// <paramref name="asymmetric"/>), each kind weighted by its number of weights.
    /// </summary>
    public double BitsPerWeight(ModelConfig config, bool asymmetric)
    {
        double bits = 0, count = 0;
        foreach (var kind in Kinds)
        {
            double n = WeightsOf(config, kind);
            int columns = kind == LinearInput.Down ? config.FeedForwardLength : config.EmbeddingLength;
            bits += n * new Int4Format(this[kind], asymmetric).BitsPerWeight(columns);
            count += n;
        }
        return bits / count;
    }

    /// <summary>"QueryKeyValue g64, AttentionOutput g64, GateUp g128, Down g32".</summary>
    public override string ToString() =>
        string.Join(", ", Kinds.Select(k => $"{k} {(this[k] == Int4Format.PerChannel ? "per-channel" : "g" + this[k])}"));
}
