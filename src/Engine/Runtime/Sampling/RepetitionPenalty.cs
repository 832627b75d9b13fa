namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// llama.cpp's "penalties" stage: the last n accepted tokens (prompt and answer) make each token that occurs among
/// them less likely. A positive logit is divided by the repeat penalty and a negative one multiplied by it (dividing
/// a negative logit would make the token more likely); then frequency times the count and presence once are
/// subtracted. Counts are kept per token as tokens enter and leave the window, so a step costs the number of distinct
/// tokens in the window, and nothing is allocated after construction.
/// </summary>
internal sealed class RepetitionPenalty
{
    private readonly float _repeat, _frequency, _presence;
    private readonly int[] _counts;
    private readonly int[]? _window; // ring of the last n tokens; null when the window is unbounded
    private int _windowStart, _windowCount;
    private readonly int[] _distinct; // tokens with a count above 0, in no particular order
    private readonly int[] _distinctPosition; // where each token is in _distinct, -1 when absent
    private int _distinctCount;

    /// <param name="lastN">Window size; -1 for every token accepted.</param>
    public RepetitionPenalty(int vocabularySize, int lastN, float repeat, float frequency, float presence)
    {
        _repeat = repeat;
        _frequency = frequency;
        _presence = presence;
        _counts = new int[vocabularySize];
        _window = lastN > 0 ? new int[lastN] : null;
        _distinct = new int[lastN > 0 ? Math.Min(lastN, vocabularySize) : vocabularySize];
        _distinctPosition = new int[vocabularySize];
        Array.Fill(_distinctPosition, -1);
    }

    /// <summary>Whether the options switch the stage off (llama.cpp: a window of 0, or neutral penalties).</summary>
    public static bool IsDisabled(SamplingOptions o) =>
        o.RepeatLastN == 0 || (o.RepeatPenalty == 1 && o.FrequencyPenalty == 0 && o.PresencePenalty == 0);

    public void Accept(int token)
    {
        if ((uint)token >= (uint)_counts.Length) return;
        if (_window is not null)
        {
            if (_windowCount == _window.Length)
            {
                Forget(_window[_windowStart]);
                _window[_windowStart] = token;
                _windowStart = (_windowStart + 1) % _window.Length;
            }
            else
            {
                _window[(_windowStart + _windowCount++) % _window.Length] = token;
            }
        }
        if (_counts[token]++ == 0)
        {
            _distinctPosition[token] = _distinctCount;
            _distinct[_distinctCount++] = token;
        }
    }

    public void Apply(Span<float> logits)
    {
        for (int i = 0; i < _distinctCount; i++)
        {
            int token = _distinct[i];
            int count = _counts[token];
            float logit = logits[token];
            logit = logit <= 0 ? logit * _repeat : logit / _repeat;
            logits[token] = logit - (count * _frequency + _presence);
        }
    }

    private void Forget(int token)
    {
        if (--_counts[token] > 0) return;
        // Swap-remove from the distinct list.
        int position = _distinctPosition[token];
        int last = _distinct[--_distinctCount];
        _distinct[position] = last;
        _distinctPosition[last] = position;
        _distinctPosition[token] = -1;
    }
}
