"""Training throughput: the course's model and training step against transformers' LlamaForCausalLM.

Both train the same architecture with the same weights on the same random batches, in one run, on
2 threads: ours is chapter 04's LanguageModel with chapter 05's AdamW, cross_entropy and train_step;
the peer is transformers' LlamaForCausalLM (its default attention, PyTorch's SDPA) with
torch.optim.AdamW (foreach) and torch.nn.functional.cross_entropy. It prints tokens/s of each, their
ratio, and the model FLOPs utilisation (MFU) of each: achieved FLOP/s over this machine's measured
float32 matmul peak.

FLOPs per token follow PaLM's count: 6 N (forward and backward through every weight matrix,
the output layer included, the embedding lookup not) plus 12 L T d for attention's two products.

usage: .venv/bin/python benchmarks/bench_train.py [CONFIG] [--steps N] [--threads N] [--set TABLE.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `lmcourse train` does (see lmcourse/cli.py)
import torch  # noqa: E402 (after the OpenMP setting)
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def matmul_peak(seconds: float = 3.0, size: int = 1024) -> float:
    """The best float32 matmul rate seen in `seconds` (FLOP/s), the denominator of MFU."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - started))
    return best


def flops_per_token(model_config, context: int) -> float:
    from lmcourse.model import count_parameters

    parameters = count_parameters(model_config)
    if not model_config.tie_embeddings:  # the input table is looked up, not multiplied
        parameters -= model_config.vocab_size * model_config.d_model
    return 6 * parameters + 12 * model_config.n_layers * context * model_config.d_model


def peer_model(ours):
    """transformers' LlamaForCausalLM with our model's config and weights."""
    import tempfile

    from transformers import LlamaForCausalLM

    from lmcourse.runs import model_export
    from lmcourse.tokenizer import BPETokenizer

    tokenizer = BPETokenizer({i: bytes([i]) for i in range(256)}, {}, special_tokens={"<|endoftext|>": 256})
    with tempfile.TemporaryDirectory() as folder:
        model_export.to_hugging_face(ours, tokenizer, folder)
        return LlamaForCausalLM.from_pretrained(folder).train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "default.toml"))
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of ours and the peer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from lmcourse.model import LanguageModel, ModelConfig, count_parameters
    from lmcourse.runs import config as configuration
    from lmcourse.train import AdamW, parameter_groups, train_step

    settings = configuration.load(args.config, args.set)
    model_config = ModelConfig(**settings.model)
    context, batch = settings.data.context_length, settings.micro_batch()
    torch.manual_seed(0)
    ours = LanguageModel(model_config)
    peer = peer_model(ours)
    optimizer = AdamW(parameter_groups(ours, 0.1), lr=1e-4, betas=(0.9, 0.95))
    peer_optimizer = torch.optim.AdamW([{"params": [p for p in peer.parameters() if p.dim() >= 2], "weight_decay": 0.1},
                                        {"params": [p for p in peer.parameters() if p.dim() < 2], "weight_decay": 0.0}],
                                       lr=1e-4, betas=(0.9, 0.95), foreach=True)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, model_config.vocab_size, (batch, context), generator=generator)
    targets = torch.randint(0, model_config.vocab_size, (batch, context), generator=generator)

    def our_step():
        train_step(ours, optimizer, [(inputs, targets)], 1e-4, 1.0)

    def peer_step():
        peer_optimizer.zero_grad(set_to_none=True)
        logits = peer(input_ids=inputs).logits
        F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1)).backward()
        torch.nn.utils.clip_grad_norm_(peer.parameters(), 1.0)
        peer_optimizer.step()

    def seconds_per_step(step) -> float:
        times = []
        for _ in range(args.steps):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    print(f"model: {count_parameters(model_config):,} parameters ({model_config}); batch {batch} x {context} tokens; "
          f"{args.threads} threads")
    our_step(), peer_step()  # warm-up: allocations, lazy imports
    rates = {"lmcourse": [], "transformers": []}
    for _ in range(args.rounds):  # alternate, so that a busy moment of the machine hits both
        rates["lmcourse"].append(batch * context / seconds_per_step(our_step))
        rates["transformers"].append(batch * context / seconds_per_step(peer_step))
    peak = matmul_peak()
    flops = flops_per_token(model_config, context)
    print(f"matmul peak (float32, 1024 x 1024, {args.threads} threads): {peak / 1e9:.1f} GFLOP/s; "
          f"{flops / 1e6:.2f} MFLOP per token trained")
    print(f"{'':14} {'tokens/s':>10} {'GFLOP/s':>9} {'MFU':>6}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:14} {rate:10,.0f} {rate * flops / 1e9:9.1f} {rate * flops / peak:6.1%}")
    ratio = statistics.median(rates["lmcourse"]) / statistics.median(rates["transformers"])
    print(f"lmcourse / transformers: {ratio:.2f}x")


if __name__ == "__main__":
    main()
