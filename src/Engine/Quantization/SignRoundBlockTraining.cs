using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// SignRound on a whole decoder block, as the paper and Intel's auto-round train it: every weight's rounding offset v
/// and every group's clipping factors α/β (<see cref="SignRoundQuantizer"/> describes them) for the block's four
/// matrices at once, each step on a minibatch of calibration windows, with the loss the mean squared difference between
/// the block run with the fake-quantized weights and the float block (<see cref="BlockTrainingSet"/>), its gradient with
/// respect to each fake-quantized matrix from <see cref="DecoderBlockGradient"/> and chained through the rounding
/// (<see cref="StraightThroughRounding.Backward"/>) to v, α and β. Signed steps as <see cref="SignedDescentOptions"/>
/// says; the point with the lowest loss on the evaluation windows is kept, the first being round-to-nearest's.
/// </summary>
internal static class SignRoundBlockTraining
{
    /// <param name="weights">The four matrices (<see cref="Runtime.LinearInput"/> order), row-major FP32.</param>
    /// <param name="targets">Empty INT4 matrices of the four shapes and formats, filled with the best point.</param>
    /// <returns>The evaluation loss of round-to-nearest and of the point kept.</returns>
    public static (double RoundToNearest, double Trained) Train(float[][] weights, Int4Matrix[] targets, BlockTrainingSet set, WorkerPool pool,
        SignedDescentOptions options, CancellationToken cancellation)
    {
        var point = new Point(weights.Select((w, m) => new RoundingKnobs(w, targets[m])).ToArray(), pool);
        var losses = set.Descend(point, options, cancellation);
        foreach (var k in point.Knobs) k.Run(RoundingKnobs.Mode.Store, pool);
        return losses;
    }

    /// <summary>The four matrices' knobs as the descent moves them.</summary>
    private sealed class Point(RoundingKnobs[] knobs, WorkerPool pool) : IBlockTrainingPoint
    {
        public RoundingKnobs[] Knobs => knobs;

        public void SetWeights(DecoderBlockGradient block)
        {
            foreach (var k in knobs) k.Run(RoundingKnobs.Mode.Quantize, pool);
            block.SetWeights(knobs[0].Quantized, knobs[1].Quantized, knobs[2].Quantized, knobs[3].Quantized);
        }

        public void Keep()
        {
            foreach (var k in knobs) k.Run(RoundingKnobs.Mode.Keep, pool);
        }

        public void Step(IReadOnlyList<float[]> gradients, float rate)
        {
            for (int m = 0; m < knobs.Length; m++)
            {
                knobs[m].Gradient = gradients[m];
                knobs[m].Rate = rate;
                knobs[m].Run(RoundingKnobs.Mode.Step, pool);
            }
        }
    }

    /// <summary>One matrix's offsets and clipping factors, and what a step, a kept point and the result do with them, a row per item.</summary>
    private sealed class RoundingKnobs : IRangeJob
    {
        public enum Mode { Quantize, Keep, Step, Store }

        private readonly float[] _w, _offsets, _alpha, _beta, _bestScale;
        private readonly byte[] _codes, _bestCodes, _bestZero;
        private readonly StraightThroughRounding.Group[] _states;
        private readonly Int4Matrix _target;
        private readonly int _columns, _group, _groups;
        private readonly bool _asymmetric;
        private Mode _mode;

        public RoundingKnobs(float[] weights, Int4Matrix target)
        {
            (_w, _target, _columns, _group, _groups, _asymmetric) = (weights, target, target.Columns, target.GroupSize, target.Groups, target.Int4Format.Asymmetric);
            int rows = target.Rows;
            _offsets = new float[weights.Length];
            Quantized = new float[weights.Length];
            _codes = new byte[weights.Length];
            _bestCodes = new byte[weights.Length];
            _alpha = Enumerable.Repeat(1f, rows * _groups).ToArray();
            _beta = Enumerable.Repeat(1f, rows * _groups).ToArray();
            _bestScale = new float[rows * _groups];
            _bestZero = new byte[rows * _groups];
            _states = new StraightThroughRounding.Group[rows * _groups];
        }

        /// <summary>The fake-quantized weights of the current point.</summary>
        public float[] Quantized { get; }

        /// <summary>The loss's gradient with respect to <see cref="Quantized"/>, for a step.</summary>
        public float[] Gradient { get; set; } = [];

        public float Rate { get; set; }

        public void Run(Mode mode, WorkerPool pool)
        {
            _mode = mode;
            pool.Run(this, _target.Rows);
        }

        public void Execute(int begin, int end)
        {
            var padded = new byte[_group];
            var gradOffsets = new float[_group];
            for (int r = begin; r < end; r++)
                for (int g = 0; g < _groups; g++)
                {
                    var (g0, length) = SignRoundQuantizer.Range(g, _group, _columns);
                    int at = r * _columns + g0, i = r * _groups + g;
                    switch (_mode)
                    {
                        case Mode.Quantize:
                            _states[i] = StraightThroughRounding.Forward(_w.AsSpan(at, length), _offsets.AsSpan(at, length), _alpha[i], _beta[i], _asymmetric,
                                _codes.AsSpan(at, length), Quantized.AsSpan(at, length));
                            break;
                        case Mode.Keep:
                            _codes.AsSpan(at, length).CopyTo(_bestCodes.AsSpan(at));
                            (_bestScale[i], _bestZero[i]) = (_states[i].Scale, _states[i].Zero);
                            break;
                        case Mode.Step:
                            var gradient = Gradient.AsSpan(at, length);
                            var (gradAlpha, gradBeta) = StraightThroughRounding.Backward(_states[i], _w.AsSpan(at, length), _offsets.AsSpan(at, length), _alpha[i], _beta[i],
                                _asymmetric, _codes.AsSpan(at, length), gradient, gradOffsets, default);
                            var offsets = _offsets.AsSpan(at, length);
                            for (int j = 0; j < length; j++) offsets[j] = Math.Clamp(offsets[j] - Rate * MathF.Sign(gradOffsets[j]), -0.5f, 0.5f);
                            _alpha[i] = Math.Clamp(_alpha[i] - Rate * Math.Sign(gradAlpha), SignRoundQuantizer.ClipFloor, 1f);
                            if (_asymmetric) _beta[i] = Math.Clamp(_beta[i] - Rate * Math.Sign(gradBeta), SignRoundQuantizer.ClipFloor, 1f);
                            break;
                        case Mode.Store:
                            _bestCodes.AsSpan(at, length).CopyTo(padded);
                            padded.AsSpan(length).Fill(_bestZero[i]);
                            _target.SetGroup(r, g, (Half)_bestScale[i], padded, _asymmetric ? _bestZero[i] : (byte)8);
                            break;
                    }
                }
        }
    }
}
