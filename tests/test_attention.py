"""Chapter 03's package module, `lmcourse.attention`, against PyTorch's and Hugging Face's attention."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding

import lmcourse.attention
from lmcourse.attention import (QUERY_BLOCK, MultiHeadAttention, causal_attention, causal_mask, merge_heads, repeat_kv,
                                scaled_dot_product_attention, softmax, split_heads)
from lmcourse.embeddings import half_split_to_interleaved, rope_angles


def test_docstring_examples():
    assert doctest.testmod(lmcourse.attention, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_softmax_is_stable_and_matches_torch():
    x = torch.randn(3, 4, 5) * 500
    for dim in (0, 1, -1):
        assert torch.allclose(softmax(x, dim), torch.softmax(x, dim), atol=1e-6)
    assert torch.equal(softmax(torch.tensor([0.0, float("-inf")])), torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize("q_shape,k_shape,v_shape", [
    ((7, 16), (9, 16), (9, 5)),
    ((2, 3, 7, 16), (2, 3, 9, 16), (2, 3, 9, 5)),
    ((2, 3, 7, 16), (1, 3, 9, 16), (1, 3, 9, 5)),  # keys broadcast over the batch
])
def test_attention_matches_torch(q_shape, k_shape, v_shape):
    q, k, v = (torch.randn(shape, dtype=torch.float64) for shape in (q_shape, k_shape, v_shape))
    mask = torch.rand(7, 9) > 0.4
    mask[:, 0] = True
    assert torch.allclose(scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
    assert torch.allclose(scaled_dot_product_attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_causal_mask_is_torch_causal_attention():
    q, k, v = torch.randn(2, 4, 10, 8), torch.randn(2, 4, 10, 8), torch.randn(2, 4, 10, 8)
    assert torch.allclose(scaled_dot_product_attention(q, k, v, causal_mask(10)),
                          F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6)
    # the last 3 queries against all 10 keys: the bottom rows of the full mask
    assert torch.equal(causal_mask(3, 10), causal_mask(10)[-3:])


def test_heads_round_trip_and_repeat_in_groups():
    x = torch.randn(2, 5, 24)
    assert torch.equal(merge_heads(split_heads(x, 6)), x)
    kv = torch.randn(2, 3, 5, 8)
    assert torch.equal(repeat_kv(kv, 3), kv.repeat_interleave(3, dim=1))


@pytest.mark.parametrize("length", [1, 11, QUERY_BLOCK, 2 * QUERY_BLOCK + 37])
def test_grouped_query_attention_matches_torch(length):
    layer = MultiHeadAttention(d_model=48, n_heads=6, n_kv_heads=2)
    x = torch.randn(3, length, 48)
    angles = rope_angles(torch.arange(length), 8, 100_000.0)
    rope = (angles.cos(), angles.sin())
    with torch.no_grad():
        ours = layer(x, rope)
        q = lmcourse.attention.apply_rope(split_heads(layer.q_proj(x), 6), *rope)
        k = lmcourse.attention.apply_rope(split_heads(layer.k_proj(x), 2), *rope)
        v = split_heads(layer.v_proj(x), 2)
        reference = layer.o_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)))
    assert torch.allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("length", [1, 5, QUERY_BLOCK, QUERY_BLOCK + 1, 3 * QUERY_BLOCK - 7])
def test_causal_attention_in_blocks_is_masked_attention(length):
    q, k, v = torch.randn(2, 3, length, 8), torch.randn(2, 3, length, 8), torch.randn(2, 3, length, 4)
    expected = scaled_dot_product_attention(q, k, v, causal_mask(length))
    assert torch.allclose(causal_attention(q, k, v), expected, atol=1e-6)


def test_an_explicit_mask_replaces_the_causal_one():
    layer = MultiHeadAttention(d_model=16, n_heads=4, n_kv_heads=2)
    x = torch.randn(1, 6, 16)
    with torch.no_grad():
        assert torch.allclose(layer(x), layer(x, mask=causal_mask(6)), atol=1e-6)
        assert not torch.allclose(layer(x), layer(x, mask=torch.ones(6, 6, dtype=torch.bool)), atol=1e-3)


def test_attention_gradients_match_torch():
    q, k, v = (torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    (scaled_dot_product_attention(q, k, v, causal_mask(9)) ** 2).sum().backward()
    ours = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    (F.scaled_dot_product_attention(q, k, v, is_causal=True) ** 2).sum().backward()
    assert all(torch.allclose(a, t.grad) for a, t in zip(ours, (q, k, v)))


def test_attention_layer_matches_transformers_llama_attention():
    """Hugging Face's Llama attention with half-split weights == ours with the weights permuted."""
    config = LlamaConfig(hidden_size=64, num_attention_heads=8, num_key_value_heads=2, rope_theta=100_000.0,
                         max_position_embeddings=64, attention_bias=False)
    config._attn_implementation = "eager"
    reference = LlamaAttention(config, layer_idx=0).eval()
    ours = MultiHeadAttention(d_model=64, n_heads=8, n_kv_heads=2)
    with torch.no_grad():
        ours.q_proj.weight.copy_(half_split_to_interleaved(reference.q_proj.weight, 8))
        ours.k_proj.weight.copy_(half_split_to_interleaved(reference.k_proj.weight, 2))
        ours.v_proj.weight.copy_(reference.v_proj.weight)
        ours.o_proj.weight.copy_(reference.o_proj.weight)
        x = torch.randn(2, 13, 64)
        cos, sin = LlamaRotaryEmbedding(config)(x, torch.arange(13)[None].expand(2, 13))
        additive = torch.zeros(13, 13).masked_fill(~causal_mask(13), float("-inf"))[None, None]
        expected, _ = reference(x, (cos, sin), additive)
        angles = rope_angles(torch.arange(13), 8, 100_000.0)
        out = ours(x, (angles.cos(), angles.sin()))
    assert torch.allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("shapes,mask,error,message", [
    (((4, 8), (5, 6), (5, 3)), None, ValueError, "queries and keys must have the same size D"),
    (((4, 8), (5, 8), (6, 3)), None, ValueError, "as many values as keys"),
    (((2, 4, 8), (3, 5, 8), (3, 5, 2)), None, ValueError, "do not broadcast"),
    (((4, 8), (5, 8), (5, 3)), torch.ones(4, 4, dtype=torch.bool), ValueError, r"and mask \(4, 4\) do not broadcast"),
    (((4, 8), (5, 8), (5, 3)), torch.ones(4, 5), TypeError, "mask must be a bool tensor"),
])
def test_attention_rejects_mismatched_inputs(shapes, mask, error, message):
    q, k, v = (torch.zeros(shape) for shape in shapes)
    with pytest.raises(error, match=message):
        scaled_dot_product_attention(q, k, v, mask)


def test_head_counts_must_divide():
    with pytest.raises(ValueError, match="d_model = 576 is not divisible by n_heads = 7"):
        MultiHeadAttention(576, 7)
    with pytest.raises(ValueError, match="n_heads = 9 is not a multiple of n_kv_heads = 2"):
        MultiHeadAttention(576, 9, 2)
    with pytest.raises(ValueError, match="d_model = 10 is not divisible by n_heads = 4"):
        split_heads(torch.zeros(1, 2, 10), 4)
    with pytest.raises(ValueError, match=r"x must be \(batch, time, d_model=64\)"):
        MultiHeadAttention(64, 8)(torch.zeros(1, 3, 32))
