"""Plausible wrong answers to chapter 03's exercises; each must lose points to the hidden tests."""

MUTANTS = {
    "softmax": {
        "no max-subtraction (overflows)": '''
def softmax(x, dim=-1):
    exponentials = x.exp()
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
''',
        "subtracts the maximum of the whole tensor, not of each row": '''
def softmax(x, dim=-1):
    exponentials = (x - x.max()).exp()
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
''',
        "always along the last dimension": '''
def softmax(x, dim=-1):
    exponentials = (x - x.amax(dim=-1, keepdim=True)).exp()
    return exponentials / exponentials.sum(dim=-1, keepdim=True)
''',
    },
    "scaled_dot_product_attention": {
        "no 1/sqrt(d)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "divides by d instead of sqrt(d)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "inverted mask (True = blocked)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "masked scores set to 0 instead of -inf": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores * mask
    return softmax(scores, dim=-1) @ v
''',
        "softmax over the queries": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-2) @ v
''',
    },
    "causal_mask": {
        "inverted (upper triangle)": '''
def causal_mask(num_queries, num_keys=None):
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool).triu(diagonal=num_keys - num_queries)
''',
        "a token cannot see itself (strictly lower)": '''
def causal_mask(num_queries, num_keys=None):
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool).tril(diagonal=num_keys - num_queries - 1)
''',
        "queries aligned with the first keys, not the last": '''
def causal_mask(num_queries, num_keys=None):
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool).tril()
''',
    },
    "split_heads": {
        "reshaped straight to (B, H, T, D)": '''
def split_heads(x, n_heads):
    batch, time, width = x.shape
    return x.reshape(batch, n_heads, time, width // n_heads)
''',
        "heads take every H-th feature": '''
def split_heads(x, n_heads):
    batch, time, width = x.shape
    return x.reshape(batch, time, width // n_heads, n_heads).permute(0, 3, 1, 2)
''',
    },
    "merge_heads": {
        "reshaped without moving the heads back": '''
def merge_heads(x):
    batch, heads, time, head_dim = x.shape
    return x.reshape(batch, time, heads * head_dim)
''',
    },
    "repeat_kv": {
        "KV heads repeated in the wrong order (tiled)": '''
def repeat_kv(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)
''',
    },
}
