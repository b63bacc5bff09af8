# Generated from solutions/02-embeddings/02-embeddings.ipynb by `lmcourse export`: edit the notebook, not this file.

"""Token embeddings and positions (chapter 02): lookup tables, sinusoidal positions, rotary embeddings.

Notable choices:
- an embedding table is a plain (V, d) tensor; looking ids up is indexing its rows;
- RoPE rotates interleaved pairs (x[2i], x[2i+1]), the layout of GGUF files and llama.cpp; Hugging
  Face checkpoints pair x[i] with x[i + D/2] instead, and `half_split_to_interleaved` converts
  their query and key weights;
- tools to explore a real embedding table: cosine nearest neighbours and a 2-D projection (PCA).
"""
from collections.abc import Iterable

import torch

INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_token_ids(ids: torch.Tensor, vocab_size: int) -> None:
    """Raise a clear error unless ids is an integer tensor of values in [0, vocab_size)."""
    if ids.dtype not in INTEGER_DTYPES:
        raise TypeError(f"token ids must be an integer tensor, not {ids.dtype}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        outside = ids[(ids < 0) | (ids >= vocab_size)].flatten()[0].item()
        raise IndexError(f"token id {outside} is outside the embedding table (ids 0 to {vocab_size - 1})")


def embedding_lookup(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The embedding vector of each token id: row ids[...] of the table.

    ids: (...) token ids, of any shape (a single id is a 0-d tensor) and any integer dtype of
    INTEGER_DTYPES (int64, int32, int16, int8 or uint8: uint8 ids are ids, not a boolean mask);
    weight: (V, d) -> (..., d) in weight's dtype, where out[..., :] = weight[ids[...], :], the same as
    one_hot(ids, V) @ weight without the multiplications by zero. An id outside [0, V) raises an
    IndexError (check_token_ids): a negative id does not count from the end of the table.

    >>> embedding_lookup(torch.tensor([[2, 0]]), torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]))
    tensor([[[4., 5.],
             [0., 1.]]])
    """
    check_token_ids(ids, weight.shape[0])
    return weight[ids.long()]  # int64 first: uint8 ids would index as a boolean mask, int8 and int16 not at all


def sinusoidal_positions(num_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """The sinusoidal position table of "Attention Is All You Need".

    -> (num_positions, dim) float32 where, for position t and pair i = 0 .. dim/2 - 1,
    out[t, 2i] = sin(t * w_i) and out[t, 2i + 1] = cos(t * w_i), with w_i = base ** (-2i / dim).

    >>> sinusoidal_positions(2, 4)
    tensor([[0.0000, 1.0000, 0.0000, 1.0000],
            [0.8415, 0.5403, 0.0100, 0.9999]])
    """
    if dim % 2:
        raise ValueError(f"dim must be even: the table is made of (sin, cos) pairs, got dim={dim}")
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (dim/2,)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies  # (T, dim/2)
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()
    return table


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """RoPE's rotation angle for every position and every pair of dimensions.

    positions: (...) integer positions of any shape and integer dtype, usually (T,), or (B, T) when each
    sequence has positions of its own -> (..., head_dim/2) float32 with
    out[..., i] = positions[...] * theta_i, theta_i = base ** (-2i / head_dim). positions is not modified.

    >>> rope_angles(torch.tensor([0, 1, 2]), 4, base=100.0)
    tensor([[0.0000, 0.0000],
            [1.0000, 0.1000],
            [2.0000, 0.2000]])
    """
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    return positions.to(torch.float32)[..., None] * frequencies  # (..., 1) * (head_dim/2,)


def check_rope_inputs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    """Raise a clear error unless x is (..., T, D) and cos, sin are (T, D/2), or (..., T, D/2) when each
    sequence has positions of its own (chapter 09 uses (B, 1, T, D/2)) and the leading dimensions broadcast."""
    if cos.shape != sin.shape or cos.dim() < 2:
        raise ValueError(f"cos and sin must both be (T, D/2), got {tuple(cos.shape)} and {tuple(sin.shape)}")
    time, pairs = cos.shape[-2:]
    if x.dim() < 2 or x.shape[-2:] != (time, 2 * pairs):
        raise ValueError(f"x must be (..., T, D) = (..., {time}, {2 * pairs}) to match cos and sin "
                         f"of shape {tuple(cos.shape)}, got {tuple(x.shape)}")
    try:
        torch.broadcast_shapes(x.shape[:-1], cos.shape[:-1])
    except RuntimeError:
        raise ValueError(f"cos and sin of shape {tuple(cos.shape)} do not broadcast against x {tuple(x.shape)}") from None


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every interleaved pair (x[..., 2i], x[..., 2i+1]) by its angle: RoPE in the GGUF layout.

    x: (..., T, D), possibly not contiguous (the transposed heads of split_heads); cos, sin: (T, D/2), the
    cosines and sines of rope_angles, or (..., T, D/2) when each sequence has its own positions (chapter 09
    passes (B, 1, T, D/2) for x of (B, H, T, D)), broadcasting against x's leading dimensions -> a new
    tensor (..., T, D), in x's dtype when cos and sin have it too (x itself is not modified), with
    out[..., 2i]     = x[..., 2i] * cos - x[..., 2i+1] * sin
    out[..., 2i + 1] = x[..., 2i] * sin + x[..., 2i+1] * cos

    >>> angle = torch.tensor([[0.5]])  # one position, one pair, half a radian
    >>> apply_rope(torch.tensor([[1.0, 0.0]]), angle.cos(), angle.sin())
    tensor([[0.8776, 0.4794]])
    """
    check_rope_inputs(x, cos, sin)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, D/2) each
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)  # (..., T, D/2, 2)
    return rotated.flatten(-2)


def apply_rope_half_split(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE in Hugging Face's layout: dimension i is paired with dimension i + D/2 ("rotate_half").

    Same shapes as apply_rope. Use it only with weights in the half-split layout.
    """
    check_rope_inputs(x, cos, sin)
    first, second = x.chunk(2, dim=-1)  # (..., T, D/2) each
    return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)


def check_head_rows(weight: torch.Tensor, n_heads: int) -> None:
    """Raise a clear error unless weight is (n_heads * D, d_in) with an even head size D."""
    if weight.dim() != 2:
        raise ValueError(f"weight must be a 2-D (out_features, in_features) matrix, got shape {tuple(weight.shape)}")
    if weight.shape[0] % n_heads or (weight.shape[0] // n_heads) % 2:
        raise ValueError(f"weight has {weight.shape[0]} rows: that is not n_heads={n_heads} heads of an even size")


def half_split_to_interleaved(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder the rows of a query or key weight from the half-split RoPE layout to the interleaved one.

    weight: (n_heads * D, d_in), of any dtype and possibly not contiguous -> a new tensor of the same shape
    and dtype where, inside each head, out row 2i is in row i and out row 2i + 1 is in row i + D/2 (what
    llama.cpp does when it writes a GGUF file). weight itself is not modified.

    >>> half_split_to_interleaved(torch.arange(8.0)[:, None], n_heads=2).flatten()
    tensor([0., 2., 1., 3., 4., 6., 5., 7.])
    """
    check_head_rows(weight, n_heads)
    rows, columns = weight.shape
    halves = weight.reshape(n_heads, 2, rows // n_heads // 2, columns)  # (head, half, i, d_in)
    return halves.transpose(1, 2).reshape(rows, columns)


def nearest_neighbours(table: torch.Tensor, query: torch.Tensor, k: int,
                       exclude: Iterable[int] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """The k rows of table most similar to query by cosine similarity, most similar first.

    table: (V, d), query: (d,) -> (ids: (k,) int64, similarities: (k,) in table's dtype), where the
    similarity of row t is (t . query) / (|t| |query|). Rows whose ids are in exclude (any iterable of
    ids) are never returned, and k is at most the number of rows left. Rows of equal similarity come in
    increasing id order. Neither table nor query is modified.

    >>> nearest_neighbours(torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]), torch.tensor([0.0, 1.0]), 2)
    (tensor([1, 2]), tensor([1.0000, 0.7071]))
    """
    similarities = (table @ query) / (table.norm(dim=1) * query.norm())  # (V,)
    similarities[list(exclude)] = float("-inf")
    ids = similarities.sort(descending=True, stable=True).indices[:k]  # stable: ties in id order
    return ids, similarities[ids]


def pca_2d(x: torch.Tensor) -> torch.Tensor:
    """Coordinates of the rows of x along their first two principal components.

    x: (N, d), N >= 2, also with fewer points than dimensions (N < d) -> (N, 2) in x's dtype: subtract
    the mean row, then project onto the two right singular vectors of the centred matrix with the
    largest singular values, the largest first (column 0). The sign of each axis is arbitrary. x itself
    is not modified.

    >>> pca_2d(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])).abs().round(decimals=4)
    tensor([[1.4142, 0.0000],
            [0.0000, 0.0000],
            [1.4142, 0.0000]])
    """
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, v_transposed = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v_transposed[:2].T
