using BenchmarkDotNet.Running;
using LlmCpu.Bench;
using LlmCpu.Engine.Quantization;

// dotnet run -c Release --project bench/LlmCpu.Bench -- gemv | gemv-l2 | ggml-l2 | tile-l2 | gemm | handoff   (figures as JSON lines)
// dotnet run -c Release --project bench/LlmCpu.Bench -- gemm-shape <rows> <columns> <tokens> [group size] [rounds]   (a few tokens' GEMM on one shape, from memory and from cache)
// dotnet run -c Release --project bench/LlmCpu.Bench -- model <model path> [threads] [repetitions]   (pp512 / tg128)
// dotnet run -c Release --project bench/LlmCpu.Bench -- batch <model path> [threads] [tokens] [rounds]   (aggregate decode t/s, 1-16 sequences)
// dotnet run -c Release --project bench/LlmCpu.Bench -- batch-profile <model path> [threads] [sequences] [tokens] [greedy|sampled]   (ms per batched decode step, by stage)
// dotnet run -c Release --project bench/LlmCpu.Bench -- load <model path> [loads] [context]   (seconds to load from the page cache, resident memory against weights + KV cache)
// dotnet run -c Release --project bench/LlmCpu.Bench -- profile <model path> [threads]   (GEMV time per matrix)
// dotnet run -c Release --project bench/LlmCpu.Bench -- prefill-profile <model path> [threads] [tokens]   (share of each stage; t/s of wall and of CPU time)
// dotnet run -c Release --project bench/LlmCpu.Bench -- llama-logits <llama-perplexity logits file> <model path | second logits file> [text file] [threads]
// dotnet run -c Release --project bench/LlmCpu.Bench -- activation [rounds]   (feed-forward activations per element, one thread)
// dotnet run -c Release --project bench/LlmCpu.Bench -- kv-attention [threads] [rounds]   (decode attention through the KV block table, FP32 and FP16)
// dotnet run -c Release --project bench/LlmCpu.Bench -- gptq-layer [tokens] [width] [feed-forward] [kv width] [threads] [parts | sums]   (XᵀX sums and GPTQ per matrix of one random layer; 4096 2048 5632 256: a 1.1B Llama's)
// dotnet run -c Release --project bench/LlmCpu.Bench -- block-training <dim> <ffn> <heads> <kv heads> [threads] [steps] [batch windows]   (SignRound and TEQ seconds per block-wise step)
// dotnet run -c Release --project bench/LlmCpu.Bench -- bdn [BenchmarkDotNet arguments]
// Any command that loads a model takes --no-mmap anywhere after it: .llmc files read into memory instead of mapped.
BenchModels.MemoryMap = !args.Contains(BenchModels.NoMemoryMapArgument);
args = args.Where(a => a != BenchModels.NoMemoryMapArgument).ToArray();
string command = args.Length > 0 ? args[0].ToLowerInvariant() : "help";
int rounds = args.Length > 1 && command is not ("gemm-shape" or "profile" or "load" or "model" or "batch" or "batch-profile" or "prefill-profile" or "llama-logits" or "kv-attention" or "gptq-layer" or "block-training") && int.TryParse(args[1], out int r) ? r : 0;
switch (command)
{
    case "gemv": FigureCommands.Gemv(rounds > 0 ? rounds : 50); break;
    case "gemv-l2": FigureCommands.GemvInCache(rounds > 0 ? rounds : 50); break;
    case "ggml-l2": GgmlBlockBench.Run(rounds > 0 ? rounds : 50); break;
    case "tile-l2": FigureCommands.TileInCache(rounds > 0 ? rounds : 400); break;
    case "gemm": FigureCommands.Gemm(rounds > 0 ? rounds : 3); break;
    case "gemm-shape": FigureCommands.GemmShape(int.Parse(args[1]), int.Parse(args[2]), int.Parse(args[3]), args.Length > 4 ? int.Parse(args[4]) : 128, args.Length > 5 ? int.Parse(args[5]) : 200); break;
    case "handoff": FigureCommands.HandOff(); break;
    case "model": ModelBench.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount, args.Length > 3 ? int.Parse(args[3]) : 3); break;
    case "load": LoadBench.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : 3, args.Length > 3 ? int.Parse(args[3]) : 512); break;
    case "batch": BatchBench.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount, args.Length > 3 ? int.Parse(args[3]) : 64, args.Length > 4 ? int.Parse(args[4]) : 1); break;
    case "batch-profile": BatchProfile.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount, args.Length > 3 ? int.Parse(args[3]) : 8, args.Length > 4 ? int.Parse(args[4]) : 64,
        args.Length > 5 && args[5] == "sampled"); break;
    case "profile": ModelProfile.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount); break;
    case "prefill-profile": PrefillProfile.Run(args[1], args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount, args.Length > 3 ? int.Parse(args[3]) : 512); break;
    case "llama-logits": LlamaLogitsComparison.Run(args[1], args[2], args.Length > 3 ? args[3] : null, args.Length > 4 ? int.Parse(args[4]) : Environment.ProcessorCount); break;
    case "activation": ActivationBench.Run(rounds > 0 ? rounds : 51); break;
    case "kv-attention": KvAttentionBench.Run(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount, args.Length > 2 ? int.Parse(args[2]) : 9); break;
    case "gptq-layer": GptqLayerBench.Run(args.Length > 1 ? int.Parse(args[1]) : 4096, args.Length > 2 ? int.Parse(args[2]) : 2048, args.Length > 3 ? int.Parse(args[3]) : 5632,
        args.Length > 4 ? int.Parse(args[4]) : 256, args.Length > 5 ? int.Parse(args[5]) : Environment.ProcessorCount, args.Contains("parts"), args.Contains("sums")); break;
    case "block-training": BlockTrainingBench.Run(int.Parse(args[1]), int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]), args.Length > 5 ? int.Parse(args[5]) : Environment.ProcessorCount,
        args.Length > 6 ? int.Parse(args[6]) : 5, args.Length > 7 ? int.Parse(args[7]) : SignedDescentOptions.SignRound.BatchWindows); break;
    case "bdn": BenchmarkSwitcher.FromAssembly(typeof(Int4GemvBenchmarks).Assembly).Run(args[1..]); break;
    default:
        Console.Error.WriteLine("Commands: gemv [rounds], gemv-l2 [rounds], tile-l2 [rounds], gemm [rounds], gemm-shape <rows> <columns> <tokens> [group size] [rounds], handoff, model <path> [threads] [repetitions], load <path> [loads] [context], batch <path> [threads] [tokens] [rounds], batch-profile <path> [threads] [sequences] [tokens] [greedy|sampled], profile <path> [threads], prefill-profile <path> [threads] [tokens], llama-logits <logits file> <model | logits file> [text file] [threads], activation [rounds], kv-attention [threads] [rounds], gptq-layer [tokens] [width] [feed-forward] [kv width] [threads] [parts | sums], block-training <dim> <ffn> <heads> <kv heads> [threads] [steps] [batch windows], bdn [BenchmarkDotNet arguments]; --no-mmap reads .llmc files into memory");
        return 64;
}
return 0;
