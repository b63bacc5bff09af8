"""Decoding benchmark: lmcourse's KV-cached generation against Hugging Face `transformers` and llama.cpp.

Everything runs in one process on the same weights (SmolLM2-135M-Instruct from its GGUF file), with
the same prompt, 128 greedy tokens, and the same number of threads (default 2):

- lmcourse, float32: `lmcourse.generate.stream_tokens` on chapter 04's `LanguageModel`;
- lmcourse, int8: the same after `quantize_int8` (weight-only int8, bfloat16 activations);
- transformers, float32: `LlamaForCausalLM.generate` on the same weights, exported with
  `lmcourse.runs.model_export.to_hugging_face` (its own KV cache, greedy);
- llama.cpp, Q4_1: `llama-cpp-python` on the GGUF file itself, when that package is installed;
- the serving engine (`lmcourse.serving.engine`, what `lmcourse serve` runs): `--batch` requests at once,
  decoded together over the paged KV cache, in tokens/s summed over the requests (prefill included).

Decode speed is measured without the prompt: the time of a 1-token run (prefill and first token) is
subtracted from that of the 128-token run, and the best of `--repeats` runs is kept (a shared
machine's other work only ever slows a run down). Decoding reads every weight once per token, so
it is bound by memory bandwidth: the table gives each engine's bytes of weights per token and the
fraction of the bound `bandwidth / bytes per token` it reaches, at the 17 GB/s DESIGN.md measured here
(`--bandwidth`) and at the read bandwidth the script measures at its start. The KV cache adds about
46 KB per token of context to the reads, under 2 % here, and is left out.

Run: .venv/bin/python benchmarks/bench_generate.py [--threads 2] [--tokens 128] [--repeats 3] [--batch 8]

Leave OMP_WAIT_POLICY unset (or ACTIVE): a decoding step is some 600 small operations, and OpenMP
threads that sleep between them (PASSIVE) wake too late; measured here, int8 decoding fell from 58.6
to 27.5 tokens/s and float32 from 22.8 to 18.5 with PASSIVE.
"""

from __future__ import annotations

import argparse
import copy
import platform
import tempfile
import threading
import time

import torch

from lmcourse.generate import Int8Weight, quantize_int8, stream_tokens
from lmcourse.model import load_pretrained
from lmcourse.serving.engine import Engine, SamplingParams
from lmcourse.storage.pretrained import chat_template, open_gguf, pretrained_path, render_chat

QUESTION = "Explain in a few paragraphs how a bicycle works."


def best_decode_rate(generate, tokens: int, repeats: int) -> tuple[float, list[int]]:
    """Decode tokens/s of generate(n) -> list of n token ids: (n - 1) tokens over t(n) - t(1), best run."""
    generate(2)  # warm-up: first-call allocations and thread start-up
    best, result = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        generate(1)
        first = time.perf_counter() - start
        start = time.perf_counter()
        result = generate(tokens)
        best = min(best, time.perf_counter() - start - first)
    return (tokens - 1) / best, result


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of weights one decoding step reads: every matrix once (the embedding table as the output
    layer; its lookup reads one row), the norms' gains too."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    for module in model.modules():
        for value in vars(module).values():
            if isinstance(value, Int8Weight):
                total += value.quantized.numel() + value.kernel_scales.numel() * value.kernel_scales.element_size()
    return total


def read_bandwidth() -> float:
    """GB/s of reading a 512 MiB tensor (a sum), best of 5."""
    data = torch.ones(128 * 2**20)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - start)
    return data.numel() * 4 / best / 1e9


def transformers_generate(model, tokenizer, prompt: list[int]):
    from transformers import AutoModelForCausalLM

    from lmcourse.runs.model_export import to_hugging_face

    with tempfile.TemporaryDirectory() as folder:
        to_hugging_face(model, tokenizer, folder)
        hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = torch.tensor([prompt])

    def generate(n: int) -> list[int]:
        with torch.no_grad():
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                              do_sample=False, pad_token_id=0)
        return out[0, len(prompt):].tolist()

    return hf, generate


def llama_cpp_generate(path, prompt: list[int], threads: int):
    """A generate(n) running llama.cpp on the GGUF file, or None when llama-cpp-python is missing."""
    try:
        import llama_cpp
    except ImportError:
        return None
    llm = llama_cpp.Llama(model_path=str(path), n_threads=threads, n_threads_batch=threads, n_ctx=1024,
                          verbose=False)

    def generate(n: int) -> list[int]:
        llm.reset()
        llm.eval(prompt)
        tokens = []
        for _ in range(n):
            token = llm.sample(top_k=1, temp=0.0)
            tokens.append(token)
            llm.eval([token])
        return tokens

    return generate


def engine_rate(model, tokenizer, prompt: list[int], batch: int, tokens: int) -> float:
    """Tokens/s of the serving engine answering `batch` identical greedy requests submitted together,
    from submission to the last token (prefills included)."""
    engine = Engine("bench", model, tokenizer, (), lambda messages: "")
    params = SamplingParams(max_tokens=tokens, temperature=0)
    done = threading.Semaphore(0)
    list(engine.complete(prompt, SamplingParams(max_tokens=2, temperature=0)))  # warm-up
    start = time.perf_counter()
    for _ in range(batch):
        engine.submit(prompt, params, lambda event: event.finish_reason and done.release())
    for _ in range(batch):
        done.acquire()
    return batch * tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="concurrent requests for the engine's row")
    parser.add_argument("--bandwidth", type=float, default=17.0, help="memory read bandwidth in GB/s for the bound")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"{args.tokens} greedy tokens, best of {args.repeats}")
    measured = read_bandwidth()
    print(f"memory read bandwidth: {measured:.1f} GB/s measured now (a sum over 512 MiB), "
          f"{args.bandwidth:.1f} GB/s assumed (DESIGN.md)\n")

    path = pretrained_path("smollm2-135m-instruct")
    model, tokenizer = load_pretrained("smollm2-135m-instruct")
    prompt = tokenizer.encode(render_chat(chat_template(path), [{"role": "user", "content": QUESTION}]),
                              allowed_special="all")

    def ours(network):
        return lambda n: list(stream_tokens(network, prompt, max_new_tokens=n, temperature=0))

    rows = []  # (engine, weights, bytes per token, tokens/s, tokens)
    rate, fp32_tokens = best_decode_rate(ours(model), args.tokens, args.repeats)
    rows.append(("lmcourse", "float32", weight_bytes(model), rate, fp32_tokens))

    hf, hf_generate = transformers_generate(model, tokenizer, prompt)
    rate, hf_tokens = best_decode_rate(hf_generate, args.tokens, args.repeats)
    rows.append(("transformers generate", "float32", weight_bytes(hf), rate, hf_tokens))
    del hf

    int8_model = quantize_int8(copy.deepcopy(model))
    rate, int8_tokens = best_decode_rate(ours(int8_model), args.tokens, args.repeats)
    rows.append(("lmcourse", "int8 (bf16 act.)", weight_bytes(int8_model), rate, int8_tokens))
    del int8_model

    llama = llama_cpp_generate(path, prompt, args.threads)
    if llama is None:
        print("llama.cpp: skipped (llama-cpp-python is not installed; reference measured here: about 83 tokens/s)\n")
    else:
        gguf_bytes = sum(int(t.n_bytes) for t in open_gguf(path).tensors)
        rate, llama_tokens = best_decode_rate(llama, args.tokens, args.repeats)
        rows.append(("llama.cpp", "Q4_1 / Q8_0 file", gguf_bytes, rate, llama_tokens))

    reference = next(r[3] for r in rows if r[0].startswith("transformers"))
    print(f"{'engine':<22} {'weights':<17} {'MB/token':>8} {'tokens/s':>9} {'vs transformers':>15} "
          f"{'of bound at ' + format(args.bandwidth, 'g') + ' GB/s':>22} {'at ' + format(measured, '.0f') + ' GB/s':>9}")
    for engine, weights, size, rate, _ in rows:
        bound, measured_bound = args.bandwidth * 1e9 / size, measured * 1e9 / size
        print(f"{engine:<22} {weights:<17} {size / 1e6:8.0f} {rate:9.1f} {rate / reference:14.2f}x "
              f"{rate / bound:13.0%} of {bound:5.1f} {rate / measured_bound:9.0%}")

    def agreement(tokens):
        return next((i for i, (a, b) in enumerate(zip(tokens, fp32_tokens)) if a != b), len(tokens))

    single, batched = (engine_rate(model, tokenizer, prompt, b, args.tokens) for b in (1, args.batch))
    print(f"\nserving engine, float32 (prefill included): 1 request {single:.1f} tokens/s, {args.batch} at once "
          f"{batched:.1f} tokens/s in all ({batched / single:.1f}x)")

    print(f"\ngreedy tokens identical to lmcourse float32: transformers {agreement(hf_tokens)} of {args.tokens}, "
          f"int8 the first {agreement(int8_tokens)}")


if __name__ == "__main__":
    main()
