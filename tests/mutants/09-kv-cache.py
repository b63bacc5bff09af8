"""Plausible wrong answers to chapter 09's exercises; each must lose points to the hidden tests."""

MUTANTS = {
    "softmax_with_temperature": {
        "temperature applied after softmax": '''
def softmax_with_temperature(logits, temperature):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    probs = torch.softmax(logits, dim=-1) / temperature
    return probs / probs.sum(dim=-1, keepdim=True)
''',
        "multiplied by the temperature": '''
def softmax_with_temperature(logits, temperature):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logits * temperature, dim=-1)
''',
        "temperature 0 not refused": '''
def softmax_with_temperature(logits, temperature):
    return torch.softmax(logits / temperature, dim=-1)
''',
        "softmax over the wrong dimension": '''
def softmax_with_temperature(logits, temperature):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logits / temperature, dim=0)
''',
        "the caller's logits divided in place": '''
def softmax_with_temperature(logits, temperature):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logits /= temperature
    return torch.softmax(logits, dim=-1)
''',
        "computed in float32 whatever the logits' dtype": '''
def softmax_with_temperature(logits, temperature):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    return torch.softmax(logits.float() / temperature, dim=-1)
''',
        "a hand-written softmax without the largest logit subtracted": '''
def softmax_with_temperature(logits, temperature):
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    weights = torch.exp(logits / temperature)
    return weights / weights.sum(dim=-1, keepdim=True)
''',
    },
    "top_k_filter": {
        "keeps the k least probable": '''
def top_k_filter(probs, k):
    if k < 0:
        raise ValueError("k must be >= 0")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    kth = probs.topk(k, dim=-1, largest=False).values[..., -1:]
    kept = probs.masked_fill(probs > kth, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "not renormalised": '''
def top_k_filter(probs, k):
    if k < 0:
        raise ValueError("k must be >= 0")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    kth = probs.topk(k, dim=-1).values[..., -1:]
    return probs.masked_fill(probs < kth, 0.0)
''',
        "one threshold for the whole batch": '''
def top_k_filter(probs, k):
    if k < 0:
        raise ValueError("k must be >= 0")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    kth = probs.flatten().topk(k).values[-1]
    kept = probs.masked_fill(probs < kth, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "exactly k kept: ties at the k-th place broken by position": '''
def top_k_filter(probs, k):
    if k < 0:
        raise ValueError("k must be >= 0")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    values, indices = probs.topk(k, dim=-1)
    kept = torch.zeros_like(probs).scatter(-1, indices, values)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "the caller's probabilities zeroed in place": '''
def top_k_filter(probs, k):
    if k < 0:
        raise ValueError("k must be >= 0")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    kth = probs.topk(k, dim=-1).values[..., -1:]
    probs.masked_fill_(probs < kth, 0.0)
    return probs / probs.sum(dim=-1, keepdim=True)
''',
        "the output built in float32 whatever the dtype of probs": '''
def top_k_filter(probs, k):
    if k < 0:
        raise ValueError("k must be >= 0")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    kth = probs.topk(k, dim=-1).values[..., -1:]
    keep = probs >= kth
    kept = torch.zeros(probs.shape)
    kept[keep] = probs[keep].float()
    return kept / kept.sum(dim=-1, keepdim=True)
''',
    },
    "top_p_filter": {
        "keeps the wrong side (the tail)": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before >= p)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "drops the token that crosses p": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep_sorted = sorted_probs.cumsum(dim=-1) <= p
    keep_sorted[..., 0] = True
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, keep_sorted)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "sorted in increasing order": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < p)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "mask left in sorted order": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    kept = probs.masked_fill(~(before < p), 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "a threshold at the crossing token's probability (ties at the boundary all kept)": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, _ = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    count = (before < p).sum(dim=-1, keepdim=True)
    threshold = sorted_probs.gather(-1, count - 1)
    kept = probs.masked_fill(probs < threshold, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "before <= p: one token too many when the sum reaches p exactly": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    remove = sorted_probs.cumsum(dim=-1) > p
    remove[..., 1:] = remove[..., :-1].clone()
    remove[..., 0] = False
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, ~remove)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)
''',
        "the caller's probabilities zeroed in place": '''
def top_p_filter(probs, p):
    if not 0 < p <= 1:
        raise ValueError("p must be in (0, 1]")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < p)
    probs[~keep] = 0.0
    return probs / probs.sum(dim=-1, keepdim=True)
''',
    },
    "apply_repetition_penalty": {
        "negative logits divided too": '''
def apply_repetition_penalty(logits, previous_ids, penalty):
    ids = torch.as_tensor(previous_ids, dtype=torch.long).unique()
    penalised = logits.clone()
    penalised[ids] = logits[ids] / penalty
    return penalised
''',
        "penalised once per occurrence": '''
def apply_repetition_penalty(logits, previous_ids, penalty):
    penalised = logits.clone()
    for i in torch.as_tensor(previous_ids, dtype=torch.long).tolist():
        value = penalised[i]
        penalised[i] = value / penalty if value > 0 else value * penalty
    return penalised
''',
        "the caller's logits modified in place": '''
def apply_repetition_penalty(logits, previous_ids, penalty):
    ids = torch.as_tensor(previous_ids, dtype=torch.long).unique()
    chosen = logits[ids]
    logits[ids] = torch.where(chosen > 0, chosen / penalty, chosen * penalty)
    return logits
''',
        "the ids used directly as an index (a tuple indexes dimensions)": '''
def apply_repetition_penalty(logits, previous_ids, penalty):
    penalised = logits.clone()
    chosen = penalised[previous_ids]
    penalised[previous_ids] = torch.where(chosen > 0, chosen / penalty, chosen * penalty)
    return penalised
''',
        "set() of a tensor of ids keeps its repeats (0-d tensors are all distinct)": '''
def apply_repetition_penalty(logits, previous_ids, penalty):
    penalised = logits.clone()
    for i in set(previous_ids):
        penalised[i] = penalised[i] / penalty if penalised[i] > 0 else penalised[i] * penalty
    return penalised
''',
    },
    "sample_token": {
        "top-p before top-k": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError("logits must be one row")
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature == 0:
        return int(logits.argmax())
    probs = top_k_filter(top_p_filter(softmax_with_temperature(logits, temperature), top_p), top_k)
    return int(torch.multinomial(probs, 1, generator=generator))
''',
        "torch's global generator instead of the given one": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError("logits must be one row")
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature == 0:
        return int(logits.argmax())
    probs = top_p_filter(top_k_filter(softmax_with_temperature(logits, temperature), top_k), top_p)
    return int(torch.multinomial(probs, 1))
''',
        "greedy ignores the repetition penalty": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError("logits must be one row")
    if temperature == 0:
        return int(logits.argmax())
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    probs = top_p_filter(top_k_filter(softmax_with_temperature(logits, temperature), top_k), top_p)
    return int(torch.multinomial(probs, 1, generator=generator))
''',
        "settings not checked": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature <= 0:
        return int(logits.argmax())
    probs = top_p_filter(top_k_filter(softmax_with_temperature(logits, temperature), max(top_k, 0)), min(max(top_p, 1e-6), 1.0))
    return int(torch.multinomial(probs, 1, generator=generator))
''',
        "the greedy choice returned as a tensor, not an int": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError("logits must be one row")
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature == 0:
        return logits.argmax()
    probs = top_p_filter(top_k_filter(softmax_with_temperature(logits, temperature), top_k), top_p)
    return int(torch.multinomial(probs, 1, generator=generator))
''',
        "top-k and top-p applied before the temperature": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError("logits must be one row")
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature == 0:
        return int(logits.argmax())
    probs = top_p_filter(top_k_filter(torch.softmax(logits, dim=-1), top_k), top_p)
    probs = softmax_with_temperature(probs.log(), temperature)
    return int(torch.multinomial(probs, 1, generator=generator))
''',
        "the caller's logits divided in place by the temperature": '''
def sample_token(logits, temperature=1.0, top_k=0, top_p=1.0, generator=None, previous_ids=(), repetition_penalty=1.0):
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError("logits must be one row")
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature == 0:
        return int(logits.argmax())
    logits /= temperature
    probs = top_p_filter(top_k_filter(torch.softmax(logits, dim=-1), top_k), top_p)
    return int(torch.multinomial(probs, 1, generator=generator))
''',
    },
    "kv_cache_bytes": {
        "query heads instead of key/value heads": '''
def kv_cache_bytes(config, num_tokens, batch_size=1, bytes_per_value=4):
    return 2 * config.n_layers * config.n_heads * config.head_dim * num_tokens * batch_size * bytes_per_value
''',
        "keys only": '''
def kv_cache_bytes(config, num_tokens, batch_size=1, bytes_per_value=4):
    return config.n_layers * config.n_kv_heads * config.head_dim * num_tokens * batch_size * bytes_per_value
''',
        "the batch forgotten": '''
def kv_cache_bytes(config, num_tokens, batch_size=1, bytes_per_value=4):
    return 2 * config.n_layers * config.n_kv_heads * config.head_dim * num_tokens * bytes_per_value
''',
        "head_dim as d_model / n_heads: a float, not an int": '''
def kv_cache_bytes(config, num_tokens, batch_size=1, bytes_per_value=4):
    head_dim = config.d_model / config.n_heads
    return 2 * config.n_layers * config.n_kv_heads * head_dim * num_tokens * batch_size * bytes_per_value
''',
        "d_model wide keys and values (all query heads' worth)": '''
def kv_cache_bytes(config, num_tokens, batch_size=1, bytes_per_value=4):
    return 2 * config.n_layers * config.d_model * num_tokens * batch_size * bytes_per_value
''',
    },
    "KVCache": {
        "cache position off by one": '''
class KVCache:
    def __init__(self, batch_size, n_kv_heads, max_len, head_dim, dtype=torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0

    @property
    def lengths(self):
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys, values):
        start, end = self.length, self.length + keys.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError("the cache is full")
        self.keys[:, :, start + 1:end + 1] = keys
        self.values[:, :, start + 1:end + 1] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]
''',
        "only the new keys and values returned": '''
class KVCache:
    def __init__(self, batch_size, n_kv_heads, max_len, head_dim, dtype=torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0

    @property
    def lengths(self):
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys, values):
        start, end = self.length, self.length + keys.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError("the cache is full")
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.length = end
        return self.keys[:, :, start:end], self.values[:, :, start:end]
''',
        "always written from position 0": '''
class KVCache:
    def __init__(self, batch_size, n_kv_heads, max_len, head_dim, dtype=torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0

    @property
    def lengths(self):
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys, values):
        end = self.length + keys.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError("the cache is full")
        self.keys[:, :, :keys.shape[2]] = keys
        self.values[:, :, :keys.shape[2]] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]
''',
        "grown with torch.cat, no overflow check": '''
class KVCache:
    def __init__(self, batch_size, n_kv_heads, max_len, head_dim, dtype=torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0
        self.stored = None

    @property
    def lengths(self):
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys, values):
        if self.stored is None:
            self.stored = (keys, values)
        else:
            self.stored = (torch.cat([self.stored[0], keys], dim=2), torch.cat([self.stored[1], values], dim=2))
        self.length += keys.shape[2]
        return self.stored
''',
        "a cache filled exactly to max_len refused (>= instead of >)": '''
class KVCache:
    def __init__(self, batch_size, n_kv_heads, max_len, head_dim, dtype=torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0

    @property
    def lengths(self):
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys, values):
        start, end = self.length, self.length + keys.shape[2]
        if end >= self.keys.shape[2]:
            raise ValueError("the cache is full")
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]
''',
        "length advanced before the overflow check (a refused update still counts)": '''
class KVCache:
    def __init__(self, batch_size, n_kv_heads, max_len, head_dim, dtype=torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0

    @property
    def lengths(self):
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys, values):
        start = self.length
        self.length += keys.shape[2]
        if self.length > self.keys.shape[2]:
            raise ValueError("the cache is full")
        self.keys[:, :, start:self.length] = keys
        self.values[:, :, start:self.length] = values
        return self.keys[:, :, :self.length], self.values[:, :, :self.length]
''',
    },
    "generate_with_cache": {
        "no cache: the whole sequence at every step": '''
def generate_with_cache(model, prompt_ids, max_new_tokens, pick_token=pick_greedy, stop_ids=()):
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        cache = new_kv_cache(model.config, 1, len(ids))
        with torch.no_grad():
            logits = model(torch.tensor([ids]), cache=cache)[0, -1]
        token = pick_token(logits, ids)
        yield token
        if token in stop_ids:
            return
        ids.append(token)
''',
        "no_grad left open across the yields": '''
def generate_with_cache(model, prompt_ids, max_new_tokens, pick_token=pick_greedy, stop_ids=()):
    ids = list(prompt_ids)
    cache = new_kv_cache(model.config, 1, len(ids) + max_new_tokens)
    step_input = torch.tensor([ids])
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(step_input, cache=cache)[0, -1]
            token = pick_token(logits, ids)
            yield token
            if token in stop_ids:
                return
            ids.append(token)
            step_input = torch.tensor([[token]])
''',
        "the stop token not yielded": '''
def generate_with_cache(model, prompt_ids, max_new_tokens, pick_token=pick_greedy, stop_ids=()):
    ids = list(prompt_ids)
    cache = new_kv_cache(model.config, 1, len(ids) + max_new_tokens)
    step_input = torch.tensor([ids])
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(step_input, cache=cache)[0, -1]
        token = pick_token(logits, ids)
        if token in stop_ids:
            return
        yield token
        ids.append(token)
        step_input = torch.tensor([[token]])
''',
        "one model call too many": '''
def generate_with_cache(model, prompt_ids, max_new_tokens, pick_token=pick_greedy, stop_ids=()):
    ids = list(prompt_ids)
    cache = new_kv_cache(model.config, 1, len(ids) + max_new_tokens + 1)
    with torch.no_grad():
        logits = model(torch.tensor([ids]), cache=cache)[0, -1]
    for _ in range(max_new_tokens):
        token = pick_token(logits, ids)
        yield token
        if token in stop_ids:
            return
        ids.append(token)
        with torch.no_grad():
            logits = model(torch.tensor([[token]]), cache=cache)[0, -1]
''',
        "the caller's prompt list extended in place": '''
def generate_with_cache(model, prompt_ids, max_new_tokens, pick_token=pick_greedy, stop_ids=()):
    ids = prompt_ids
    cache = new_kv_cache(model.config, 1, len(ids) + max_new_tokens)
    step_input = torch.tensor([ids])
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(step_input, cache=cache)[0, -1]
        token = pick_token(logits, ids)
        yield token
        if token in stop_ids:
            return
        ids.append(token)
        step_input = torch.tensor([[token]])
''',
        "pick_token given logits of shape (1, V)": '''
def generate_with_cache(model, prompt_ids, max_new_tokens, pick_token=pick_greedy, stop_ids=()):
    ids = list(prompt_ids)
    cache = new_kv_cache(model.config, 1, len(ids) + max_new_tokens)
    step_input = torch.tensor([ids])
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(step_input, cache=cache)[:, -1]
        token = pick_token(logits, ids)
        yield token
        if token in stop_ids:
            return
        ids.append(token)
        step_input = torch.tensor([[token]])
''',
    },
    "slot_indices": {
        "the block table ignored": '''
def slot_indices(block_table, positions, block_size):
    return positions // block_size * block_size + positions % block_size
''',
        "block and offset swapped": '''
def slot_indices(block_table, positions, block_size):
    return block_table[positions % block_size] * block_size + positions // block_size
''',
        "the block id not scaled by the block size": '''
def slot_indices(block_table, positions, block_size):
    return block_table[positions // block_size] + positions % block_size
''',
        "the caller's positions floor-divided in place": '''
def slot_indices(block_table, positions, block_size):
    offsets = positions % block_size
    positions //= block_size
    return block_table[positions] * block_size + offsets
''',
        "positions gone through one by one (1-D only)": '''
def slot_indices(block_table, positions, block_size):
    return torch.tensor([int(block_table[p // block_size]) * block_size + p % block_size for p in positions.tolist()])
''',
    },
    "quantize_rows": {
        "truncated instead of rounded": '''
def quantize_rows(weight):
    scales = weight.abs().amax(dim=1).float() / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    return (weight / scales[:, None]).to(torch.int8), scales
''',
        "one scale for the whole matrix": '''
def quantize_rows(weight):
    scale = weight.abs().max().float() / 127
    scales = torch.full((weight.shape[0],), float(scale) if scale > 0 else 1.0)
    return torch.round(weight / scales[:, None]).to(torch.int8), scales
''',
        "scale of 128 steps: +127.5 overflows": '''
def quantize_rows(weight):
    scales = weight.abs().amax(dim=1).float() / 128
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.round(weight / scales[:, None]).to(torch.int8), scales
''',
        "a row of zeros divides by zero": '''
def quantize_rows(weight):
    scales = weight.abs().amax(dim=1).float() / 127
    return torch.round(weight / scales[:, None]).to(torch.int8), scales
''',
        "scales in the weight's dtype, not float32": '''
def quantize_rows(weight):
    scales = weight.abs().amax(dim=1) / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.round(weight / scales[:, None]).to(torch.int8), scales
''',
        "the weight divided in place": '''
def quantize_rows(weight):
    scales = weight.abs().amax(dim=1).float() / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    weight /= scales[:, None].to(weight.dtype)
    return weight.round().to(torch.int8), scales
''',
        "one scale per column (the maximum over dim 0)": '''
def quantize_rows(weight):
    scales = weight.abs().amax(dim=0).float() / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.round(weight / scales[None, :]).to(torch.int8), scales
''',
    },
}
