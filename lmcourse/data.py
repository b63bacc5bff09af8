# Generated from solutions/05-pretraining/05-pretraining.ipynb by `lmcourse export`: edit the notebook, not this file.

"""Pretraining data (chapter 05): random windows of a token file, and the unigram baseline.

The corpus itself is tokenized once and cached by `lmcourse.runs.token_cache`; these functions work
on the resulting flat arrays of token ids (numpy uint16 memory maps).
"""
import numpy as np
import torch


def get_batch(tokens: np.ndarray, batch_size: int, context_length: int,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random windows of a token array, as inputs and next-token targets.

    tokens: (N,) token ids (a numpy uint16 memmap). Each window starts at a position drawn
    uniformly from 0 .. N - context_length - 1 with torch.randint(..., generator=generator) and
    holds context_length + 1 tokens. Returns (inputs, targets), both (batch_size, context_length)
    int64: inputs = the window without its last token, targets = without its first. The starts are
    one call, torch.randint(0, N - context_length, (batch_size,), generator=generator), so a batch may
    hold the same window twice; tokens is only read.

    >>> x, y = get_batch(np.arange(10, dtype=np.uint16), 2, 4, torch.Generator().manual_seed(0))
    >>> x, y   # each row of y is its row of x shifted by one
    (tensor([[2, 3, 4, 5], [3, 4, 5, 6]]), tensor([[3, 4, 5, 6], [4, 5, 6, 7]]))
    """
    starts = torch.randint(0, len(tokens) - context_length, (batch_size,), generator=generator)
    windows = np.stack([tokens[start : start + context_length + 1] for start in starts.tolist()])
    windows = torch.from_numpy(windows.astype(np.int64))  # (batch_size, context_length + 1)
    return windows[:, :-1], windows[:, 1:]


def unigram_cross_entropy(train: np.ndarray, validation: np.ndarray, vocab_size: int) -> float:
    """Validation loss (nats per token) of the unigram model fitted on the training tokens.

    p(v) = (count of v in train + 1) / (N + vocab_size): add-one smoothing, so that a token never
    seen in training does not cost an infinite loss.
    """
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    log_probabilities = np.log(counts / counts.sum())
    return float(-log_probabilities[np.asarray(validation, dtype=np.int64)].mean())
