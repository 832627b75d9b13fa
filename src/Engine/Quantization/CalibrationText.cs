using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Text whose activations calibrated recipes (GPTQ, AWQ) tune on, and how much of it they use: windows of
/// <see cref="WindowLength"/> tokens (or the model's context, if shorter), each from an empty cache with BOS first, up
/// to <see cref="TokenLimit"/> tokens in all (<see cref="DefaultTokens"/> unless asked otherwise).
/// </summary>
public sealed record CalibrationText(string Name, string Text)
{
    /// <summary>Tokens per window: long enough for attention to see real context, short enough for many windows.</summary>
    public const int WindowLength = 256;

    /// <summary>
    /// Tokens used at most unless <see cref="RequestedTokens"/> says otherwise. Calibration runs each layer over every
    /// window twice, so its time grows linearly with the tokens; 16,384 of varied text took the bundled model's KL
    /// divergence at groups of 128 below llama.cpp's Q4_K_M where 4,096 stayed 20% above it (docs/quantization.md).
    /// </summary>
    public const int DefaultTokens = 16384;

    /// <summary>Fewest tokens accepted: two windows, so that no recipe tunes on a single passage.</summary>
    public const int MinimumTokens = 2 * WindowLength;

    /// <summary>
    /// The largest <see cref="RequestedTokens"/> accepted: 256 windows. Calibration time grows with the tokens (every layer
    /// runs every window through the model), while the statistics kept do not (one Hessian per matrix input).
    /// </summary>
    public const int MaximumTokens = 65536;

    /// <summary>
    /// Tokens asked for, from <see cref="MinimumTokens"/> to <see cref="MaximumTokens"/>; null: <see cref="DefaultTokens"/>.
    /// A text that gives fewer is used whole, with a warning (only when a number was asked for).
    /// </summary>
    /// <exception cref="QuantizationArgumentException">Outside that range.</exception>
    public int? RequestedTokens
    {
        get => _requestedTokens;
        init => _requestedTokens = value is { } tokens ? CheckTokenLimit(tokens) : null;
    }

    private readonly int? _requestedTokens;

    /// <summary>Tokens used at most.</summary>
    public int TokenLimit => RequestedTokens ?? DefaultTokens;

    /// <summary>Returns <paramref name="tokens"/>, or throws naming the accepted range.</summary>
    /// <exception cref="QuantizationArgumentException">Outside <see cref="MinimumTokens"/> to <see cref="MaximumTokens"/>.</exception>
    public static int CheckTokenLimit(int tokens) => tokens is >= MinimumTokens and <= MaximumTokens
        ? tokens
        : throw new QuantizationArgumentException(QuantizationProblem.CalibrationTokensOutOfRange, "CalibrationTokens",
            $"Calibration uses from {MinimumTokens} to {MaximumTokens} tokens; {tokens} was asked for.");

    /// <summary>
    /// The sample used when none is given: the openings of five of Jane Austen's novels (public domain), the first
    /// 16,000 characters of each cut back to a whole paragraph: <i>Pride and Prejudice</i>, <i>Sense and
    /// Sensibility</i>, <i>Emma</i>, <i>Mansfield Park</i>, <i>Northanger Abbey</i>; 76,190 bytes, one paragraph per
    /// line, about 19,000 tokens for the bundled model. Five openings rather than one long passage because varied text
    /// gave at 16,384 tokens the KL divergence one novel needed 65,536 for. English prose, as GPTQ's and AWQ's own
    /// default calibration sets are; give text like your model's real input where you have it.
    /// </summary>
    public static CalibrationText BuiltIn { get; } = LoadBuiltIn();

    private static CalibrationText LoadBuiltIn()
    {
        using var stream = typeof(CalibrationText).Assembly.GetManifestResourceStream("LlmCpu.Engine.Quantization.CalibrationSample.txt")
            ?? throw new InvalidOperationException("The built-in calibration sample is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return new CalibrationText("built-in sample (the openings of five Austen novels)", reader.ReadToEnd());
    }

    /// <summary>The text of a file, named by its file name.</summary>
    public static CalibrationText FromFile(string path) => new(Path.GetFileName(path), File.ReadAllText(path));

    /// <summary>
    /// The windows of tokens a calibration runs, (windows, length) with BOS first in each where the tokenizer adds one:
    /// as many whole windows as the text gives, up to <see cref="TokenLimit"/> tokens.
    /// </summary>
    /// <exception cref="QuantizationArgumentException">The text gives fewer than the minimum number of tokens.</exception>
    public int[][] Windows(LanguageModel model)
    {
        var tokenizer = model.Tokenizer;
        int[] tokens = tokenizer.Encode(Text, tokenizer.AddBosByDefault);
        int length = Math.Min(WindowLength, model.ContextLength);
        const int minimum = MinimumTokens;
        if (tokens.Length < minimum)
            throw new QuantizationArgumentException(QuantizationProblem.CalibrationTextTooShort, "CalibrationPath",
                $"The calibration text '{Name}' is {tokens.Length} tokens for {model.Name}; calibration needs at least {minimum} tokens " +
                $"(two windows of {WindowLength}). Give a longer text.");
        int count = Math.Min(tokens.Length / length, TokenLimit / length);
        var windows = new int[count][];
        for (int w = 0; w < count; w++)
        {
            windows[w] = tokens.AsSpan(w * length, length).ToArray();
            if (tokenizer.AddBosByDefault) windows[w][0] = tokenizer.BosTokenId;
        }
        return windows;
    }
}
