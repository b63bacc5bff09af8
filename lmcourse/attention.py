# Generated from solutions/03-attention/03-attention.ipynb by `lmcourse export`: edit the notebook, not this file.

"""Attention (chapter 03): softmax, scaled dot-product attention, causal masks, multi-head and grouped-query attention.

Notable choices:
- masks are boolean, True where a query may attend to a key, and broadcast over any leading dimensions;
- attention is plain matrix products and your softmax; torch's fused `scaled_dot_product_attention`
  is only the reference the tests compare with;
- `MultiHeadAttention` rotates queries and keys with RoPE (chapter 02's `apply_rope`), never values;
- causal attention takes the queries in blocks, each against the keys it may see: half the work;
- grouped-query attention: query head h reads key/value head h // (n_heads / n_kv_heads), the grouping
  of Llama models and their GGUF files.
"""
import math

import torch
from torch import nn

from lmcourse.embeddings import apply_rope


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax along dim, stable for large inputs: exp(x - max) / sum(exp(x - max)).

    x: any shape, any floating dtype -> a new tensor of x's shape and dtype, non-negative, summing to 1
    along dim (any dim, negative ones included); x itself is not modified. Entries of -inf get weight 0.

    >>> softmax(torch.tensor([1.0, 2.0, 3.0]))
    tensor([0.0900, 0.2447, 0.6652])
    """
    exponentials = (x - x.amax(dim=dim, keepdim=True)).exp_()  # exp_ in place: the difference is a new tensor
    return exponentials / exponentials.sum(dim=dim, keepdim=True)


def check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> None:
    """Raise a clear error unless q: (..., Tq, D), k: (..., Tk, D), v: (..., Tk, Dv) and mask is None or a
    bool tensor that broadcasts to the scores (..., Tq, Tk)."""
    if min(q.dim(), k.dim(), v.dim()) < 2:
        raise ValueError(f"q, k and v need at least 2 dimensions (..., T, D); got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same size D: q is {tuple(q.shape)}, k is {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"there must be as many values as keys: k is {tuple(k.shape)}, v is {tuple(v.shape)}")
    try:
        scores = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]) + (q.shape[-2], k.shape[-2])
        if mask is not None and torch.broadcast_shapes(mask.shape, scores) != scores:
            raise RuntimeError
    except RuntimeError:
        where = "" if mask is None else f" and mask {tuple(mask.shape)}"
        raise ValueError(f"the leading dimensions of q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}{where} "
                         "do not broadcast to one shape of scores (..., Tq, Tk)") from None
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), not {mask.dtype}")


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v, where scores that the mask forbids are -inf before the softmax.

    q: (..., Tq, D), k: (..., Tk, D), v: (..., Tk, Dv), whose leading dimensions broadcast (keys shared by
    all heads: (B, 1, Tk, D)), possibly not contiguous (the heads of split_heads, the keys of a KV cache,
    with Tk > Tq); mask: bool, broadcastable to (..., Tq, Tk), True where a query may attend to a key
    (None: everywhere), e.g. (Tq, Tk) for every sequence and head, or (B, 1, Tq, Tk) for each sequence its
    own -> a new tensor (..., Tq, Dv) in q's dtype; q, k, v and mask are not modified. Uses your softmax.

    >>> values = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> scaled_dot_product_attention(torch.zeros(1, 2), torch.randn(2, 2), values)  # equal scores: the mean
    tensor([[2., 3.]])
    >>> scaled_dot_product_attention(torch.zeros(1, 2), torch.randn(2, 2), values, torch.tensor([[True, False]]))
    tensor([[1., 2.]])
    """
    check_attention_inputs(q, k, v, mask)
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)  # (..., Tq, Tk); scaling q is the cheaper way
    if mask is not None:
        scores.masked_fill_(~mask, float("-inf"))  # in place: scores is a new tensor of our own
    return softmax(scores, dim=-1) @ v


def causal_mask(num_queries: int, num_keys: int | None = None) -> torch.Tensor:
    """The causal mask: True where query i may attend to key j, that is j <= i + num_keys - num_queries.

    -> (num_queries, num_keys) bool. The queries are the last num_queries of num_keys positions
    (num_keys=None: as many keys as queries).

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    >>> causal_mask(1, 3).int()  # the newest token sees everything before it
    tensor([[1, 1, 1]], dtype=torch.int32)
    """
    if num_keys is not None and num_keys < num_queries:
        raise ValueError(f"num_keys={num_keys} < num_queries={num_queries}: every query needs its own key")
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool).tril(diagonal=num_keys - num_queries)


def check_heads(width: int, n_heads: int) -> None:
    """Raise a clear error unless n_heads heads split width features evenly."""
    if n_heads < 1 or width % n_heads:
        raise ValueError(f"d_model = {width} is not divisible by n_heads = {n_heads}: "
                         "every head needs the same number of features")


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Split the features of every token into heads: (B, T, n_heads * D) -> (B, n_heads, T, D).

    Head h gets features h * D .. (h + 1) * D - 1 of every token: out[b, h, t, i] = x[b, t, h * D + i].
    x may be a non-contiguous view (a slice of a wider projection); the result keeps x's dtype.

    >>> split_heads(torch.arange(8.0).reshape(1, 2, 4), n_heads=2)
    tensor([[[[0., 1.],
              [4., 5.]],
    <BLANKLINE>
             [[2., 3.],
              [6., 7.]]]])
    """
    if x.dim() != 3:
        raise ValueError(f"x must be (batch, time, features), got shape {tuple(x.shape)}")
    check_heads(x.shape[-1], n_heads)
    batch, time, width = x.shape
    return x.reshape(batch, time, n_heads, width // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Put the heads' outputs back side by side: (B, H, T, D) -> (B, T, H * D), the inverse of split_heads.

    out[b, t, h * D + i] = x[b, h, t, i]; x may be a non-contiguous view; the result keeps x's dtype.

    >>> merge_heads(torch.tensor([[[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]]))
    tensor([[[0., 1., 2., 3.],
             [4., 5., 6., 7.]]])
    """
    batch, heads, time, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, time, heads * head_dim)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Repeat each key/value head n_rep times in a row: (B, H_kv, T, D) -> (B, H_kv * n_rep, T, D).

    out[:, h] = x[:, h // n_rep], so that query head h reads key/value head h // n_rep. x may be a
    non-contiguous view (the keys a KV cache returns); the result keeps x's dtype.

    >>> repeat_kv(torch.tensor([10.0, 20.0]).reshape(1, 2, 1, 1), 3).flatten()
    tensor([10., 10., 10., 20., 20., 20.])
    """
    batch, heads, time, head_dim = x.shape
    return x[:, :, None].expand(batch, heads, n_rep, time, head_dim).reshape(batch, heads * n_rep, time, head_dim)


QUERY_BLOCK = 64  # queries per block of causal attention (64 was the fastest on a 2-core laptop)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention, computed block by block of queries.

    q: (..., Tq, D), k, v: (..., Tk, D) with Tk >= Tq -> (..., Tq, D), the same as
    scaled_dot_product_attention(q, k, v, causal_mask(Tq, Tk)): the queries are the last Tq positions
    (Tk > Tq when earlier tokens' keys come from a KV cache, chapter 09). A block of queries that ends
    at key position `end` sees keys 0..end-1 only, so the later keys are left out of its product:
    about half the work of the full scores, in pieces that stay in cache.
    """
    length, earlier, blocks = q.shape[-2], k.shape[-2] - q.shape[-2], []
    for start in range(0, length, QUERY_BLOCK):
        end = min(start + QUERY_BLOCK, length) + earlier
        blocks.append(scaled_dot_product_attention(q[..., start:end - earlier, :], k[..., :end, :], v[..., :end, :],
                                                   causal_mask(end - earlier - start, end)))
    return torch.cat(blocks, dim=-2)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention with RoPE and grouped-query attention, causal unless told otherwise, no biases.

    Weights in nn.Linear's (out, in) layout, D = d_model / n_heads: q_proj (n_heads * D, d_model),
    k_proj and v_proj (n_kv_heads * D, d_model), o_proj (d_model, n_heads * D).
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None):
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        check_heads(d_model, n_heads)
        if n_kv_heads < 1 or n_heads % n_kv_heads:
            raise ValueError(f"n_heads = {n_heads} is not a multiple of n_kv_heads = {n_kv_heads}: "
                             "each key/value head serves a whole group of query heads")
        self.n_heads, self.n_kv_heads, self.head_dim = n_heads, n_kv_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(n_heads * self.head_dim, d_model, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                mask: torch.Tensor | None = None, cache=None) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model).

        rope: (cos, sin), each (T, D/2) or (B, 1, T, D/2), or None for no rotation. mask: None for causal
        attention (each token sees itself and the tokens before it), or a bool mask broadcastable to
        (B, n_heads, T, S), True = may attend. cache (chapter 09): None, or this layer's KV cache, whose
        update(keys, values) stores the new tokens' keys and values after the earlier ones and returns
        all S of them; S = T without a cache.
        """
        if x.dim() != 3 or x.shape[-1] != self.q_proj.in_features:
            raise ValueError(f"x must be (batch, time, d_model={self.q_proj.in_features}), got shape {tuple(x.shape)}")
        queries = split_heads(self.q_proj(x), self.n_heads)  # (B, H, T, D)
        keys = split_heads(self.k_proj(x), self.n_kv_heads)  # (B, H_kv, T, D)
        values = split_heads(self.v_proj(x), self.n_kv_heads)
        if rope is not None:
            queries, keys = apply_rope(queries, *rope), apply_rope(keys, *rope)
        if cache is not None:
            keys, values = cache.update(keys, values)  # (B, H_kv, S, D): the earlier tokens' and these
        group = self.n_heads // self.n_kv_heads
        keys, values = repeat_kv(keys, group), repeat_kv(values, group)  # (B, H, T, D)
        if mask is None:
            out = causal_attention(queries, keys, values)
        else:
            out = scaled_dot_product_attention(queries, keys, values, mask)
        return self.o_proj(merge_heads(out))  # (B, T, d_model)
