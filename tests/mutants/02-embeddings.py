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
    },
}
