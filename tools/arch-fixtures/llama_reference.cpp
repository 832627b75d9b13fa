// First-step logits and greedy tokens from llama.cpp, for the architecture fixtures.
// Usage: llama_reference MODEL.gguf N_GREEDY PROMPT...   (one JSON object per prompt on standard output)
// Built against a llama.cpp build by make_fixtures.sh; not part of the engine.
#include "llama.h"
#include <cstdio>
#include <string>
#include <vector>

static void print_json_string(const std::string & s) {
    putchar('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') { putchar('\\'); putchar(c); }
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(int argc, char ** argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s model.gguf n_greedy prompt...\n", argv[0]); return 64; }
    const int n_greedy = std::stoi(argv[2]);
    ggml_backend_load_all();
    llama_model_params mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    for (int a = 3; a < argc; a++) {
        std::string prompt = argv[a];
        int n = -llama_tokenize(vocab, prompt.c_str(), prompt.size(), nullptr, 0, true, true);
        std::vector<llama_token> tokens(n);
        llama_tokenize(vocab, prompt.c_str(), prompt.size(), tokens.data(), n, true, true);

        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = n + n_greedy + 8;
        cp.n_batch = n;
        cp.n_threads = 1;
        cp.n_threads_batch = 1;
        llama_context * ctx = llama_init_from_model(model, cp);
        if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }

        std::vector<float> first;
        std::vector<llama_token> greedy;
        llama_batch batch = llama_batch_get_one(tokens.data(), tokens.size());
        llama_token next = 0;
        for (int step = 0; step < n_greedy; step++) {
            if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
            const float * logits = llama_get_logits_ith(ctx, -1);
            if (step == 0) first.assign(logits, logits + n_vocab);
            // Greedy without stopping at end of sequence: the tokens compare position by position.
            next = 0;
            for (int i = 1; i < n_vocab; i++) if (logits[i] > logits[next]) next = i;
            greedy.push_back(next);
            batch = llama_batch_get_one(&next, 1);
        }
        llama_free(ctx);

        printf("{\"prompt\":");
        print_json_string(prompt);
        printf(",\"promptIds\":[");
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", tokens[i]);
        printf("],\"greedy\":[");
        for (size_t i = 0; i < greedy.size(); i++) printf(i ? ",%d" : "%d", greedy[i]);
        printf("],\"logits\":[");
        for (int i = 0; i < n_vocab; i++) printf(i ? ",%.9g" : "%.9g", first[i]);
        printf("]}\n");
    }
    llama_model_free(model);
    return 0;
}
