namespace LlmCpu.Engine.Runtime;

/// <summary>One prompt of a batch (<see cref="BatchedGenerator"/>) with its own options: seed, limits, stop rules, format.</summary>
public sealed record GenerationRequest(string Prompt, GenerationOptions Options);

/// <summary>
/// How one request of a batch ended: its <see cref="Result"/>, or the <see cref="Error"/> that ended it alone (a bad
/// prompt or option: <see cref="GenerationArgumentException"/>; a step whose values were not finite:
/// <see cref="ModelNumericException"/>), leaving the other requests to go on.
/// </summary>
/// <param name="Index">The request's place among the requests given, from 0.</param>
public sealed record BatchedOutcome(int Index, GenerationRequest Request, GenerationResult? Result, Exception? Error);
