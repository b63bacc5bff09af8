"""Forward-pass throughput of the course's transformer against `transformers`' LlamaForCausalLM.

Both hold SmolLM2-135M-Instruct's weights from the same GGUF file, dequantised to float32: ours through
`lmcourse.model.load_pretrained`, theirs through `transformers`' own GGUF conversion (with its default
attention, PyTorch's fused scaled_dot_product_attention). Each forward pass is a prefill: one sequence of
512 tokens in, logits for every position out (`use_cache=False` on their side, so that neither keeps a
cache). The two run alternately, on 2 threads, and the best and median of each are compared.

    .venv/bin/python benchmarks/bench_model.py [--tokens 512] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lmcourse.model import load_pretrained
from lmcourse.storage.pretrained import pretrained_path, transformers_reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, default=512, help="prompt length of each forward pass")
    parser.add_argument("--rounds", type=int, default=7, help="timed forward passes of each model")
    args = parser.parse_args()
    torch.set_num_threads(2)

    ours, _ = load_pretrained("smollm2-135m-instruct")
    theirs = transformers_reference(pretrained_path("smollm2-135m-instruct"))
    ids = torch.randint(0, ours.config.vocab_size, (1, args.tokens), generator=torch.Generator().manual_seed(0))
    runs = {"lmcourse": lambda: ours(ids), "transformers": lambda: theirs(ids, use_cache=False).logits}

    with torch.inference_mode():
        difference = (runs["lmcourse"]() - runs["transformers"]()).abs().max().item()  # also the warm-up
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)

    print(f"prefill of {args.tokens} tokens, SmolLM2-135M-Instruct in float32, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, {args.rounds} rounds (max abs logit difference {difference:.1e})")
    speed = {}
    for name, seconds in times.items():
        speed[name] = (args.tokens / min(seconds), args.tokens / statistics.median(seconds))
        print(f"  {name:13} best {speed[name][0]:7.1f} tokens/s   median {speed[name][1]:7.1f} tokens/s")
    best, median = (speed["lmcourse"][i] / speed["transformers"][i] for i in (0, 1))
    print(f"  ratio lmcourse / transformers: {best:.2f} (best), {median:.2f} (median)")


if __name__ == "__main__":
    main()
