"""Tokenizer benchmark: lmcourse's pure-Python BPE against Hugging Face `tokenizers` and `tiktoken`.

Everything is measured in one run on the same text, so the ratios hold even where the machine's
speed varies:

- training: an 8,192-token vocabulary on the first 10 MiB of the default corpus
  (`lmcourse.storage.corpus`: Python's docs and standard library), with SmolLM2's pre-tokenizer (digits
  apart, then GPT-2's pattern) and one special token, by `BPETokenizer.train` and by
  `tokenizers`' `BpeTrainer` (which uses every core);
- encoding: SmolLM2's vocabulary (read from its GGUF file) on the same text, one document at a
  time on one thread, by `BPETokenizer` (starting with an empty cache), by `tokenizers` built
  from the same file (`smollm2_reference`), and by a `tiktoken.Encoding` built from the same
  merges with one regex equivalent to SmolLM2's two-step pre-tokenizer.

Each time is the best of `--repeats` runs (default 3), which filters out other work on a shared
machine.

Run: .venv/bin/python benchmarks/bench_tokenizer.py [--megabytes 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import Counter

import tiktoken
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from lmcourse.storage import corpus
from lmcourse.tokenizer import SMOLLM2_PATTERNS, BPETokenizer, bytes_to_unicode, pretokenize, smollm2_reference

VOCAB_SIZE = 8192
SPECIAL_TOKENS = ["<|endoftext|>"]
# SmolLM2_PATTERNS as one regex, for tiktoken (which takes one): numeric characters alone, and a
# whitespace run before one ends there (in the two-step version the run ends its piece).
SMOLLM2_SINGLE_PATTERN = r"""\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?![^\s\p{N}])|\s+"""


def timed(function, repeats: int = 1):
    """The result of function() and its best time over `repeats` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return result, best


def train_ours(texts: list[str], repeats: int) -> tuple[BPETokenizer, float, float]:
    """Our training time, and the part of it spent pre-tokenizing and counting."""
    def count():
        counts = Counter()
        for text in texts:
            counts.update(pretokenize(text, SMOLLM2_PATTERNS))
        return counts

    _, counting = timed(count, repeats)
    tokenizer, seconds = timed(lambda: BPETokenizer.train(texts, VOCAB_SIZE, SPECIAL_TOKENS), repeats)
    return tokenizer, seconds, counting


def train_huggingface(texts: list[str], repeats: int) -> tuple[Tokenizer, float]:
    def train() -> Tokenizer:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                           pre_tokenizers.ByteLevel(add_prefix_space=False)])
        trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return tokenizer

    return timed(train, repeats)


def tiktoken_encoding(smollm2: BPETokenizer) -> tiktoken.Encoding:
    """SmolLM2's merges as tiktoken ranks (rank = token id; merges make ids in rank order)."""
    ranks = {token: token_id for token_id, token in smollm2.vocab.items()}
    # tiktoken needs every byte; SmolLM2 lacks 21, which get ids past its vocabulary.
    for byte in range(256):
        ranks.setdefault(bytes([byte]), len(smollm2) + byte)
    return tiktoken.Encoding(name="smollm2", pat_str=SMOLLM2_SINGLE_PATTERN, mergeable_ranks=ranks,
                             special_tokens=smollm2.special_tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=float, default=10, help="MiB of the default corpus (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement, best kept (default 3)")
    args = parser.parse_args()
    max_bytes = int(args.megabytes * 2**20)
    texts = list(corpus.texts(max_bytes))
    n_bytes = sum(len(text.encode("utf-8")) for text in texts)
    digest = corpus.manifest(max_bytes)["sha256"][:16]
    print(f"corpus: {n_bytes:,} bytes in {len(texts)} documents (manifest sha256 {digest}...), "
          f"Python {platform.python_version()}, {os.cpu_count()} cores\n")

    ours, ours_seconds, counting_seconds = train_ours(texts, args.repeats)
    theirs, theirs_seconds = train_huggingface(texts, args.repeats)
    byte_of = {character: byte for byte, character in bytes_to_unicode().items()}
    their_tokens = {bytes(byte_of[c] for c in token) for token in theirs.get_vocab() if token not in SPECIAL_TOKENS}
    shared = len(their_tokens & set(ours.vocab.values())) / len(their_tokens)
    print(f"training {VOCAB_SIZE:,} tokens")
    print(f"  lmcourse BPETokenizer.train  {ours_seconds:7.2f} s  (pre-tokenizing and counting: {counting_seconds:.2f} s)")
    print(f"  tokenizers BpeTrainer        {theirs_seconds:7.2f} s  ({os.cpu_count()} threads)")
    print(f"  ratio lmcourse / tokenizers  {ours_seconds / theirs_seconds:7.2f}    (aim: at most 5)")
    print(f"  tokens in common             {shared:7.1%}    (ties are broken in different id orders)\n")

    smollm2 = BPETokenizer.from_gguf()
    reference = smollm2_reference()
    encoding = tiktoken_encoding(smollm2)

    def encode_cold() -> list[list[int]]:
        fresh = BPETokenizer(smollm2.vocab, smollm2.merges, smollm2.patterns, smollm2.special_tokens)
        return [fresh.encode(text) for text in texts]

    our_ids, our_seconds = timed(encode_cold, args.repeats)
    their_ids, their_seconds = timed(lambda: [reference.encode(text).ids for text in texts], args.repeats)
    tiktoken_ids, tiktoken_seconds = timed(lambda: [encoding.encode_ordinary(text) for text in texts], args.repeats)
    smollm2.encode("".join(texts))  # fills the cache
    _, warm_seconds = timed(lambda: [smollm2.encode(text) for text in texts], args.repeats)
    identical = sum(a == b for a, b in zip(our_ids, their_ids))
    same_as_tiktoken = sum(a == b for a, b in zip(our_ids, tiktoken_ids))
    rate = n_bytes / 1e6
    print("encoding with SmolLM2's vocabulary (one thread, one document at a time)")
    print(f"  lmcourse BPETokenizer        {rate / our_seconds:7.2f} MB/s  (second pass, cache warm: {rate / warm_seconds:.2f} MB/s)")
    print(f"  tokenizers                   {rate / their_seconds:7.2f} MB/s")
    print(f"  tiktoken                     {rate / tiktoken_seconds:7.2f} MB/s")
    print(f"  ratio tiktoken / lmcourse    {our_seconds / tiktoken_seconds:7.2f}    (aim: at most 3)")
    print(f"  ratio tokenizers / lmcourse  {our_seconds / their_seconds:7.2f}")
    print(f"  identical ids to tokenizers: {identical} of {len(texts)} documents; to tiktoken: {same_as_tiktoken}")
    print(f"  {sum(map(len, our_ids)):,} tokens, {n_bytes / sum(map(len, our_ids)):.2f} bytes per token")


if __name__ == "__main__":
    main()
