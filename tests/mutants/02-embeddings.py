"""Plausible wrong answers to chapter 02's exercises; each must lose points to the hidden tests."""

MUTANTS = {
    "embedding_lookup": {
        "indexes columns instead of rows": '''
def embedding_lookup(ids, weight):
    return weight[:, ids]
''',
        "flattens the leading dimensions": '''
def embedding_lookup(ids, weight):
    return weight[ids.reshape(-1)]
''',
        "indexes with the raw ids (uint8 ids read as a boolean mask, int8 and int16 refused)": '''
def embedding_lookup(ids, weight):
    check_token_ids(ids, weight.shape[0])
    return weight[ids]
''',
        "F.embedding with the raw ids (only int64 and int32 ids work)": '''
def embedding_lookup(ids, weight):
    check_token_ids(ids, weight.shape[0])
    return torch.nn.functional.embedding(ids, weight)
''',
        "converts only uint8 ids (int8 and int16 still fail)": '''
def embedding_lookup(ids, weight):
    check_token_ids(ids, weight.shape[0])
    if ids.dtype == torch.uint8:
        ids = ids.long()
    return weight[ids]
''',
        "one-hot product in float32 (a float64 table comes back float32)": '''
def embedding_lookup(ids, weight):
    check_token_ids(ids, weight.shape[0])
    return torch.nn.functional.one_hot(ids.long(), weight.shape[0]).float() @ weight.float()
''',
        "flattens the ids with .view (fails on non-contiguous ids)": '''
def embedding_lookup(ids, weight):
    check_token_ids(ids, weight.shape[0])
    return weight[ids.view(-1).long()].view(*ids.shape, weight.shape[1])
''',
        "the range check dropped (negative ids count from the end of the table)": '''
def embedding_lookup(ids, weight):
    return weight[ids.long()]
''',
    },
    "sinusoidal_positions": {
        "sin and cos swapped": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = angles.cos()
    table[:, 1::2] = angles.sin()
    return table
''',
        "frequency exponent i / dim instead of 2i / dim": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = base ** (-torch.arange(0, dim // 2, dtype=torch.float32) / dim)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()
    return table
''',
        "sines in the first half, cosines in the second": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
''',
        "a float64 table (frequencies computed in float64)": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * frequencies
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
''',
        "exponent normalised by dim - 2 (the last frequency exactly 1 / base)": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float32) / max(dim - 2, 1))
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()
    return table
''',
        "each column its own exponent (cos of column 2i + 1 uses (2i + 1) / dim)": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = base ** (-torch.arange(dim, dtype=torch.float32) / dim)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = angles[:, 0::2].sin()
    table[:, 1::2] = angles[:, 1::2].cos()
    return table
''',
        "base ignored (always 10000)": '''
def sinusoidal_positions(num_positions, dim, base=10000.0):
    frequencies = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    angles = torch.arange(num_positions, dtype=torch.float32)[:, None] * frequencies
    table = torch.empty(num_positions, dim)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()
    return table
''',
    },
    "rope_angles": {
        "frequency exponent i / head_dim instead of 2i / head_dim": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim // 2, dtype=torch.float32) / head_dim)
    return positions.float()[:, None] * frequencies[None, :]
''',
        "positions divided by the frequencies": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    return positions.float()[:, None] / frequencies[None, :]
''',
        "assumes 1-D positions ([:, None]: (B, T) positions of sequences with their own offsets break)": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    return positions.float()[:, None] * frequencies[None, :]
''',
        "torch.outer (1-D positions only)": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    return torch.outer(positions.float(), frequencies)
''',
        "flattens the positions with .view (fails on non-contiguous positions)": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = positions.view(-1).float()[:, None] * frequencies
    return angles.view(*positions.shape, head_dim // 2)
''',
        "positions' values ignored (torch.arange(T): every sequence starts at 0)": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    return torch.arange(positions.shape[-1], dtype=torch.float32)[:, None] * frequencies
''',
        "unsqueezes the caller's positions in place (unsqueeze_)": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    positions.unsqueeze_(-1)
    return positions.float() * frequencies
''',
        "float64 angles (frequencies from Python floats)": '''
def rope_angles(positions, head_dim, base=10000.0):
    frequencies = torch.tensor([base ** (-2 * i / head_dim) for i in range(head_dim // 2)], dtype=torch.float64)
    return positions[..., None] * frequencies
''',
    },
    "apply_rope": {
        "rotates the wrong pairs (half-split: x[i] with x[i + D/2])": '''
def apply_rope(x, cos, sin):
    first, second = x.chunk(2, dim=-1)
    return torch.cat((first * cos - second * sin, first * sin + second * cos), dim=-1)
''',
        "rotates the wrong way (clockwise)": '''
def apply_rope(x, cos, sin):
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos + odd * sin, -even * sin + odd * cos), dim=-1).flatten(-2)
''',
        "puts the rotated pairs back in half-split order": '''
def apply_rope(x, cos, sin):
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.cat((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
''',
        "rotates x in place (the caller's queries change)": '''
def apply_rope(x, cos, sin):
    check_rope_inputs(x, cos, sin)
    even, odd = x[..., 0::2].clone(), x[..., 1::2].clone()
    x[..., 0::2] = even * cos - odd * sin
    x[..., 1::2] = even * sin + odd * cos
    return x
''',
        "flattens the leading dimensions with x.view(-1, T, D) (fails on the non-contiguous heads of split_heads)": '''
def apply_rope(x, cos, sin):
    check_rope_inputs(x, cos, sin)
    flat = x.view(-1, *x.shape[-2:])  # (N, T, D): every sequence and head
    even, odd = flat[..., 0::2], flat[..., 1::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.view(x.shape)
''',
        "result built in torch.empty(x.shape) (always float32)": '''
def apply_rope(x, cos, sin):
    check_rope_inputs(x, cos, sin)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = torch.empty(x.shape)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out
''',
        "complex numbers of x.float() (float64 inputs come back float32)": '''
def apply_rope(x, cos, sin):
    check_rope_inputs(x, cos, sin)
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * torch.complex(cos.float(), sin.float())).flatten(-2)
''',
        "a loop over positions with cos[t] (per-sequence (B, 1, T, D/2) tables break)": '''
def apply_rope(x, cos, sin):
    check_rope_inputs(x, cos, sin)
    out = torch.empty_like(x)
    for t in range(x.shape[-2]):
        even, odd = x[..., t, 0::2], x[..., t, 1::2]
        out[..., t, 0::2] = even * cos[t] - odd * sin[t]
        out[..., t, 1::2] = even * sin[t] + odd * cos[t]
    return out
''',
    },
    "half_split_to_interleaved": {
        "the inverse permutation (interleaved to half-split)": '''
def half_split_to_interleaved(weight, n_heads):
    rows, columns = weight.shape
    pairs = weight.reshape(n_heads, rows // n_heads // 2, 2, columns)
    return pairs.transpose(1, 2).reshape(rows, columns)
''',
        "all rows permuted as one head": '''
def half_split_to_interleaved(weight, n_heads):
    rows, columns = weight.shape
    return weight.reshape(2, rows // 2, columns).transpose(0, 1).reshape(rows, columns)
''',
        "the two halves of each head stacked in the wrong order (row 2i <- row i + D/2)": '''
def half_split_to_interleaved(weight, n_heads):
    check_head_rows(weight, n_heads)
    rows, columns = weight.shape
    first, second = weight.reshape(n_heads, rows // n_heads, columns).chunk(2, dim=1)
    return torch.stack((second, first), dim=2).reshape(rows, columns)
''',
        "permutes the caller's weight in place (copy_)": '''
def half_split_to_interleaved(weight, n_heads):
    check_head_rows(weight, n_heads)
    rows, columns = weight.shape
    halves = weight.reshape(n_heads, 2, rows // n_heads // 2, columns)
    weight.copy_(halves.transpose(1, 2).reshape(rows, columns))
    return weight
''',
        "a row-by-row copy into torch.empty (always float32)": '''
def half_split_to_interleaved(weight, n_heads):
    check_head_rows(weight, n_heads)
    rows, columns = weight.shape
    head_dim = rows // n_heads
    out = torch.empty(rows, columns)
    for h in range(n_heads):
        for i in range(head_dim // 2):
            out[h * head_dim + 2 * i] = weight[h * head_dim + i]
            out[h * head_dim + 2 * i + 1] = weight[h * head_dim + i + head_dim // 2]
    return out
''',
    },
    "nearest_neighbours": {
        "dot product instead of cosine similarity": '''
def nearest_neighbours(table, query, k, exclude=()):
    similarities = table @ query
    similarities[list(exclude)] = float("-inf")
    best = similarities.topk(k)
    return best.indices, best.values
''',
        "excluded rows still returned": '''
def nearest_neighbours(table, query, k, exclude=()):
    similarities = (table @ query) / (table.norm(dim=1) * query.norm())
    best = similarities.topk(k)
    return best.indices, best.values
''',
        "torch.topk (rows of equal similarity in no particular order)": '''
def nearest_neighbours(table, query, k, exclude=()):
    similarities = (table @ query) / (table.norm(dim=1) * query.norm())
    similarities[list(exclude)] = float("-inf")
    best = similarities.topk(k)
    return best.indices, best.values
''',
        "ascending argsort, last k reversed (ties come largest id first)": '''
def nearest_neighbours(table, query, k, exclude=()):
    similarities = (table @ query) / (table.norm(dim=1) * query.norm())
    similarities[list(exclude)] = float("-inf")
    ids = similarities.argsort()[-k:].flip(0)
    return ids, similarities[ids]
''',
        "normalises the caller's table in place": '''
def nearest_neighbours(table, query, k, exclude=()):
    table /= table.norm(dim=1, keepdim=True)
    similarities = table @ query / query.norm()
    similarities[list(exclude)] = float("-inf")
    ids = similarities.sort(descending=True, stable=True).indices[:k]
    return ids, similarities[ids]
''',
        "normalises the caller's query in place (a row of the table, in the tour)": '''
def nearest_neighbours(table, query, k, exclude=()):
    query /= query.norm()
    similarities = (table @ query) / table.norm(dim=1)
    similarities[list(exclude)] = float("-inf")
    ids = similarities.sort(descending=True, stable=True).indices[:k]
    return ids, similarities[ids]
''',
        "excluded rows set to similarity 0 (they beat rows of negative similarity)": '''
def nearest_neighbours(table, query, k, exclude=()):
    similarities = (table @ query) / (table.norm(dim=1) * query.norm())
    similarities[list(exclude)] = 0.0
    ids = similarities.sort(descending=True, stable=True).indices[:k]
    return ids, similarities[ids]
''',
        "excluded rows dropped from the table (returns positions in the smaller table, not ids)": '''
def nearest_neighbours(table, query, k, exclude=()):
    excluded = set(exclude)
    kept = table[[i for i in range(table.shape[0]) if i not in excluded]]
    similarities = (kept @ query) / (kept.norm(dim=1) * query.norm())
    ids = similarities.sort(descending=True, stable=True).indices[:k]
    return ids, similarities[ids]
''',
        "similarities computed in float32 (table.float())": '''
def nearest_neighbours(table, query, k, exclude=()):
    table, query = table.float(), query.float()
    similarities = (table @ query) / (table.norm(dim=1) * query.norm())
    similarities[list(exclude)] = float("-inf")
    ids = similarities.sort(descending=True, stable=True).indices[:k]
    return ids, similarities[ids]
''',
    },
    "pca_2d": {
        "points not centred": '''
def pca_2d(x):
    _, _, v_transposed = torch.linalg.svd(x, full_matrices=False)
    return x @ v_transposed[:2].T
''',
        "the two smallest components": '''
def pca_2d(x):
    centred = x - x.mean(dim=0, keepdim=True)
    _, _, v_transposed = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v_transposed[-2:].T
''',
        "centres x in place (x -= mean: the caller's points move)": '''
def pca_2d(x):
    x -= x.mean(dim=0, keepdim=True)
    _, _, v_transposed = torch.linalg.svd(x, full_matrices=False)
    return x @ v_transposed[:2].T
''',
        "eigh's last two eigenvectors (ascending: the second component first)": '''
def pca_2d(x):
    centred = x - x.mean(dim=0, keepdim=True)
    _, eigenvectors = torch.linalg.eigh(centred.T @ centred)
    return centred @ eigenvectors[:, -2:]
''',
        "returns U[:, :2] (not scaled by the singular values)": '''
def pca_2d(x):
    centred = x - x.mean(dim=0, keepdim=True)
    u, _, _ = torch.linalg.svd(centred, full_matrices=False)
    return u[:, :2]
''',
        "subtracts each row's mean (dim=1) instead of the mean row": '''
def pca_2d(x):
    centred = x - x.mean(dim=1, keepdim=True)
    _, _, v_transposed = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v_transposed[:2].T
''',
        "computed in float32 (x.float())": '''
def pca_2d(x):
    centred = x.float() - x.float().mean(dim=0, keepdim=True)
    _, _, v_transposed = torch.linalg.svd(centred, full_matrices=False)
    return centred @ v_transposed[:2].T
''',
    },
}
