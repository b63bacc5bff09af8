"""Chapter 02's package module, `lmcourse.embeddings`, against PyTorch and Hugging Face references."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

import lmcourse.embeddings
from lmcourse.embeddings import (apply_rope, apply_rope_half_split, embedding_lookup, half_split_to_interleaved,
                                 nearest_neighbours, pca_2d, rope_angles, sinusoidal_positions)


def test_docstring_examples():
    assert doctest.testmod(lmcourse.embeddings, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_embedding_lookup_is_a_one_hot_product():
    table = torch.randn(11, 5, dtype=torch.float64)
    ids = torch.randint(0, 11, (3, 4))
    assert torch.equal(embedding_lookup(ids, table), F.embedding(ids, table))
    assert torch.allclose(embedding_lookup(ids, table), F.one_hot(ids, 11).double() @ table)


@pytest.mark.parametrize("ids,error,message", [
    (torch.tensor([0.0, 1.0]), TypeError, "integer tensor, not torch.float32"),
    (torch.tensor([1, 11]), IndexError, "token id 11 is outside the embedding table"),
    (torch.tensor([-1]), IndexError, "token id -1 is outside"),
])
def test_embedding_lookup_rejects_bad_ids(ids, error, message):
    with pytest.raises(error, match=message):
        embedding_lookup(ids, torch.zeros(11, 2))


def test_sinusoidal_positions_follow_the_formula():
    table = sinusoidal_positions(30, 10)
    for t in range(30):
        for i in range(5):
            w = 10000.0 ** (-2 * i / 10)
            assert table[t, 2 * i].item() == pytest.approx(math.sin(t * w), abs=1e-5)
            assert table[t, 2 * i + 1].item() == pytest.approx(math.cos(t * w), abs=1e-5)
    with pytest.raises(ValueError, match="dim must be even"):
        sinusoidal_positions(4, 5)


def hf_cos_sin(T: int, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin as Hugging Face's Llama computes them: (T, head_dim), each frequency twice."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = torch.arange(T).float()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def test_rope_angles_match_transformers():
    cos, sin = hf_cos_sin(40, 64, 100_000.0)
    angles = rope_angles(torch.arange(40), 64, 100_000.0)
    assert torch.allclose(angles.cos(), cos[:, :32], atol=1e-6) and torch.allclose(angles.sin(), sin[:, :32], atol=1e-6)


def test_half_split_rope_is_transformers_rope():
    q, k = torch.randn(2, 3, 12, 16), torch.randn(2, 3, 12, 16)  # (batch, heads, T, D)
    cos, sin = hf_cos_sin(12, 16, 10_000.0)
    expected_q, expected_k = apply_rotary_pos_emb(q, k, cos[None], sin[None])
    angles = rope_angles(torch.arange(12), 16)
    assert torch.allclose(apply_rope_half_split(q, angles.cos(), angles.sin()), expected_q, atol=1e-6)
    assert torch.allclose(apply_rope_half_split(k, angles.cos(), angles.sin()), expected_k, atol=1e-6)


def test_permuted_weights_with_interleaved_rope_give_transformers_scores():
    """A Hugging Face (half-split) checkpoint, permuted, runs with the course's interleaved RoPE."""
    n_heads, head_dim, d_model, T = 4, 16, 32, 9
    w_q, w_k = torch.randn(n_heads * head_dim, d_model), torch.randn(n_heads * head_dim, d_model)
    x = torch.randn(T, d_model)
    cos, sin = hf_cos_sin(T, head_dim, 10_000.0)

    def heads(y):
        return y.reshape(T, n_heads, head_dim).transpose(0, 1)[None]  # (1, H, T, D)

    hf_q, hf_k = apply_rotary_pos_emb(heads(x @ w_q.T), heads(x @ w_k.T), cos[None], sin[None])
    angles = rope_angles(torch.arange(T), head_dim)
    q = apply_rope(heads(x @ half_split_to_interleaved(w_q, n_heads).T), angles.cos(), angles.sin())
    k = apply_rope(heads(x @ half_split_to_interleaved(w_k, n_heads).T), angles.cos(), angles.sin())
    assert torch.allclose(q @ k.transpose(-2, -1), hf_q @ hf_k.transpose(-2, -1), atol=1e-3)


def test_rope_scores_depend_on_the_offset_only():
    q, k = torch.randn(64, dtype=torch.float64), torch.randn(64, dtype=torch.float64)

    def score(m, n):
        angles = rope_angles(torch.tensor([m, n]), 64, 100_000.0).double()
        rotated = apply_rope(torch.stack([q, k]), angles.cos(), angles.sin())
        return (rotated[0] @ rotated[1]).item()

    assert score(0, 7) == pytest.approx(score(1000, 1007), abs=1e-3)
    assert score(0, 7) != pytest.approx(score(0, 8), abs=1e-3)


@pytest.mark.parametrize("x_shape,cos_shape,message", [
    ((5, 8), (5, 3), r"x must be \(\.\.\., T, D\) = \(\.\.\., 5, 6\)"),
    ((4, 8), (5, 4), r"x must be \(\.\.\., T, D\) = \(\.\.\., 5, 8\)"),
])
def test_apply_rope_rejects_mismatched_shapes(x_shape, cos_shape, message):
    with pytest.raises(ValueError, match=message):
        apply_rope(torch.zeros(x_shape), torch.zeros(cos_shape), torch.zeros(cos_shape))


def test_half_split_to_interleaved_rejects_uneven_heads():
    with pytest.raises(ValueError, match="not n_heads=3 heads of an even size"):
        half_split_to_interleaved(torch.zeros(8, 2), 3)


def test_nearest_neighbours_by_cosine():
    table = torch.randn(50, 8)
    query = torch.randn(8)
    ids, similarities = nearest_neighbours(table, query, 5, exclude={0, 7})
    reference = F.cosine_similarity(table, query[None], dim=1)
    reference[[0, 7]] = -2
    assert ids.tolist() == reference.topk(5).indices.tolist()
    assert torch.allclose(similarities, reference.topk(5).values, atol=1e-6)


def test_pca_2d_matches_an_eigendecomposition():
    x = torch.randn(100, 6, dtype=torch.float64) * torch.arange(1, 7, dtype=torch.float64) + 40
    _, vectors = torch.linalg.eigh(torch.cov(x.T))
    expected = (x - x.mean(dim=0)) @ vectors[:, [5, 4]]
    out = pca_2d(x)
    assert torch.allclose(out * (out * expected).sum(dim=0).sign(), expected, atol=1e-8)
