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
        "subtracts the maximum in place (x -= max: the caller's scores change)": '''
def softmax(x, dim=-1):
    x -= x.amax(dim=dim, keepdim=True)
    exponentials = x.exp()
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
''',
        "maximum without keepdim (broadcasts against the wrong axis)": '''
def softmax(x, dim=-1):
    exponentials = (x - x.amax(dim=dim)).exp()
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
''',
        "normalised by the sum of the whole tensor": '''
def softmax(x, dim=-1):
    exponentials = (x - x.amax(dim=dim, keepdim=True)).exp()
    return exponentials / exponentials.sum()
''',
        "computed in float32 (x.float())": '''
def softmax(x, dim=-1):
    x = x.float()
    exponentials = (x - x.amax(dim=dim, keepdim=True)).exp()
    return exponentials / exponentials.sum(dim=dim, keepdim=True)
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
        "scales the caller's q in place (q /= sqrt(D))": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    q /= math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "scaled by sqrt(Dv), the size of the values": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "k.T instead of k.transpose(-2, -1) (reverses every dimension of batched keys)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    scores = q @ k.T / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "masks with scores[~mask] = -inf (a boolean index does not broadcast)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores[~mask] = float("-inf")
    return softmax(scores, dim=-1) @ v
''',
        "mask applied after the softmax (weights zeroed, rows no longer sum to 1)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    weights = softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v
''',
        "batches flattened with .view for torch.bmm (non-contiguous or broadcast inputs fail)": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    *lead, num_queries, d = q.shape
    num_keys = k.shape[-2]
    scores = torch.bmm(q.view(-1, num_queries, d), k.view(-1, num_keys, d).transpose(1, 2))
    scores = scores.view(*lead, num_queries, num_keys) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "weights in float32 (torch.softmax(..., dtype=torch.float32))": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    check_attention_inputs(q, k, v, mask)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1, dtype=torch.float32) @ v.float()
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
        "the offset only for a single new token (num_queries == 1)": '''
def causal_mask(num_queries, num_keys=None):
    num_keys = num_queries if num_keys is None else num_keys
    if num_queries == 1:
        return torch.ones(1, num_keys, dtype=torch.bool)
    return torch.ones(num_queries, num_keys, dtype=torch.bool).tril()
''',
        "diagonal num_keys - 1 (every query sees every key once num_keys is given)": '''
def causal_mask(num_queries, num_keys=None):
    if num_keys is None:
        return torch.ones(num_queries, num_queries, dtype=torch.bool).tril()
    return torch.ones(num_queries, num_keys, dtype=torch.bool).tril(diagonal=num_keys - 1)
''',
        "offset with the wrong sign (j <= i - (num_keys - num_queries))": '''
def causal_mask(num_queries, num_keys=None):
    num_keys = num_queries if num_keys is None else num_keys
    return torch.arange(num_keys)[None, :] <= torch.arange(num_queries)[:, None] - (num_keys - num_queries)
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
        "the number of heads taken for the head size (reshape(B, T, -1, n_heads))": '''
def split_heads(x, n_heads):
    batch, time, width = x.shape
    return x.reshape(batch, time, -1, n_heads).transpose(1, 2)
''',
        "x.split(n_heads) (chunks of n_heads features, not n_heads chunks)": '''
def split_heads(x, n_heads):
    return torch.stack(x.split(n_heads, dim=-1), dim=1)
''',
        "heads as the last dimension ((B, T, H, D) with time and heads not swapped)": '''
def split_heads(x, n_heads):
    batch, time, width = x.shape
    return x.reshape(batch, time, n_heads, width // n_heads).transpose(1, 3).transpose(2, 3)
''',
    },
    "merge_heads": {
        "reshaped without moving the heads back": '''
def merge_heads(x):
    batch, heads, time, head_dim = x.shape
    return x.reshape(batch, time, heads * head_dim)
''',
        "unpacks the shape as (B, T, H, D) (right only when H == T)": '''
def merge_heads(x):
    batch, time, heads, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, time, heads * head_dim)
''',
        "assumes a batch of one (x[0])": '''
def merge_heads(x):
    heads, time, head_dim = x.shape[1:]
    return x[0].transpose(0, 1).reshape(1, time, heads * head_dim)
''',
    },
    "repeat_kv": {
        "KV heads repeated in the wrong order (tiled)": '''
def repeat_kv(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)
''',
        "flattened with .view(B * H_kv, T, D) (fails on the non-contiguous keys of a KV cache)": '''
def repeat_kv(x, n_rep):
    batch, heads, time, head_dim = x.shape
    flat = x.view(batch * heads, time, head_dim).repeat_interleave(n_rep, dim=0)
    return flat.view(batch, heads * n_rep, time, head_dim)
''',
        "assumes a batch of one (x[0])": '''
def repeat_kv(x, n_rep):
    return x[0].repeat_interleave(n_rep, dim=0)[None]
''',
        "tiled with torch.cat([x] * n_rep) (query head h reads kv head h % H_kv)": '''
def repeat_kv(x, n_rep):
    return torch.cat([x] * n_rep, dim=1)
''',
    },
}
