namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// Several matrices of the same width whose rows are stacked into one (Q, K and V; gate and up) although they are
/// stored in different formats, as a file may keep them (a Q4_K_M GGUF has Q4_K query and key but Q6_K values in some
/// layers): one multiplication, one hand-off to the workers, each part computing its own rows in its own format. The
/// parts must read the same prepared activations (<see cref="WeightMatrix.ActivationLayout"/>), prepared once; part
/// boundaries lie on multiples of the row grain, so a worker's range never splits a tile.
/// </summary>
public sealed unsafe class StackedMatrix : WeightMatrix
{
    private readonly WeightMatrix[] _parts;
    private readonly int[] _firstRows;

    public StackedMatrix(IReadOnlyList<WeightMatrix> parts) : base(parts.Sum(p => p.Rows), parts[0].Columns)
    {
        if (parts.Any(p => p.Columns != Columns)) throw new ArgumentException("Stacked matrices must have the same number of columns.", nameof(parts));
        if (parts.Select(p => p.ActivationLayout).Distinct().Count() > 1)
            throw new ArgumentException($"Stacked matrices must read the same prepared activations; these read {string.Join(", ", parts.Select(p => p.ActivationLayout).Distinct())}.", nameof(parts));
        RowGrain = parts.Max(p => p.RowGrain);
        _parts = [.. parts];
        _firstRows = new int[parts.Count];
        for (int i = 1; i < parts.Count; i++)
        {
            _firstRows[i] = _firstRows[i - 1] + parts[i - 1].Rows;
            if (_firstRows[i] % RowGrain != 0) throw new ArgumentException($"Part {i} starts at row {_firstRows[i]}, not a multiple of {RowGrain}.", nameof(parts));
        }
    }

    public IReadOnlyList<WeightMatrix> Parts => _parts;

    public override string Format => string.Join("+", _parts.Select(p => p.Format).Distinct());

    public override long ByteSize => _parts.Sum(p => p.ByteSize);

    public override long OwnedBytes => _parts.Sum(p => p.OwnedBytes);

    public override int RowGrain { get; }

    public override string ActivationLayout => _parts[0].ActivationLayout;

    public override void PrepareLayout(int tokens, ActivationScratch scratch) => _parts[0].PrepareLayout(tokens, scratch);

    public override void PrepareTokens(float* input, int first, int last, ActivationScratch scratch) => _parts[0].PrepareTokens(input, first, last, scratch);

    public override void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch)
    {
        for (int i = 0; i < _parts.Length; i++)
        {
            int first = _firstRows[i], last = first + _parts[i].Rows;
            int begin = Math.Max(rowBegin, first), end = Math.Min(rowEnd, last);
            if (begin < end) _parts[i].MultiplyRows(input, output + first, outputStride, tokens, begin - first, end - first, scratch);
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        int i = Array.FindLastIndex(_firstRows, first => first <= row);
        _parts[i].DequantizeRow(row - _firstRows[i], destination);
    }

    public override void Dispose()
    {
        foreach (var part in _parts) part.Dispose();
        base.Dispose();
    }
}
