// Loads a GGUF file with node-llama-cpp on the CPU, tokenizes a prompt with llama.cpp's tokenizer (BOS first when
// the file asks for it) and continues it greedily one token per evaluation, past end-of-sequence tokens too,
// recording the raw logits llama.cpp computed before each pick.
// Prints one line: RESULT {"promptIds": [...], "tokens": [...], "logits": [[...], ...]}.
// Usage: node greedy-tokens.mjs <model.gguf> <prompt> <token count>
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, prompt, countText] = process.argv.slice(2);
const count = Number.parseInt(countText, 10);
if (!modelPath || prompt === undefined || !(count > 0)) {
    console.error("usage: node greedy-tokens.mjs <model.gguf> <prompt> <token count>");
    process.exit(2);
}

// Prebuilt CPU binaries only: never build llama.cpp from source, never download anything.
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: LlamaLogLevel.error, maxThreads: 2 });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
// FP32 keys and values, so the cache adds no rounding of its own to the comparison.
const context = await model.createContext({
    contextSize: Math.min(256, model.trainContextSize),
    threads: 2,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
});
const sequence = context.getSequence();

const promptIds = [...(model.tokens.shouldPrependBosToken ? [model.tokens.bos] : []), ...model.tokenize(prompt)];
const tokens = [];
const logits = [];
let input = promptIds;
for (let step = 0; step < count; step++) {
    // Temperature 0 selects llama.cpp's greedy sampler; nothing else (penalties, grammar) is applied.
    const next = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };
    const items = input.map((token, i) => (i === input.length - 1 ? [token, next] : token));
    const results = await sequence.controlledEvaluate(items);
    const result = results[input.length - 1].next;
    const row = new Array(result.logits.size);
    for (const [token, logit] of result.logits) row[token] = logit;
    tokens.push(result.token);
    logits.push(row);
    input = [result.token];
}

console.log("RESULT " + JSON.stringify({ promptIds, tokens, logits }));
await context.dispose();
await model.dispose();
await llama.dispose();
