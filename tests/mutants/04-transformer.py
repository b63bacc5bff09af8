"""Plausible wrong answers to chapter 04's exercises; each must lose points to the hidden tests."""

# The block's given __init__, so that each mutant of its forward is a whole class, as a student's cell is.
BLOCK = '''
class TransformerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attention = MultiHeadAttention(config.d_model, config.n_heads, config.n_kv_heads)
        self.feed_forward_norm = RMSNorm(config.d_model, config.norm_eps)
        self.feed_forward = FeedForward(config.d_model, config.d_ff)
'''

MUTANTS = {
    "layer_norm": {
        "unbiased variance (divides by d - 1)": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True) + eps) * weight + bias
''',
        "eps outside the square root": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / (torch.sqrt(variance) + eps) * weight + bias
''',
        "bias and gain swapped": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * bias + weight
''',
        "centres x in place (x -= mean), changing the caller's tensor": '''
def layer_norm(x, weight, bias, eps=1e-5):
    x -= x.mean(dim=-1, keepdim=True)
    variance = x.pow(2).mean(dim=-1, keepdim=True)
    return x / torch.sqrt(variance + eps) * weight + bias
''',
        "eps hard-coded to 1e-5 (the argument ignored)": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + 1e-5) * weight + bias
''',
        "computes in float32 (x.float()): a float64 input loses precision": '''
def layer_norm(x, weight, bias, eps=1e-5):
    x = x.float()
    mean = x.mean(dim=-1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias
''',
        "flattens the leading dimensions with view (fails on a non-contiguous input)": '''
def layer_norm(x, weight, bias, eps=1e-5):
    rows = x.view(-1, x.shape[-1])
    mean = rows.mean(dim=1, keepdim=True)
    variance = (rows - mean).pow(2).mean(dim=1, keepdim=True)
    return ((rows - mean) / torch.sqrt(variance + eps) * weight + bias).view(x.shape)
''',
        "assumes a 2-D input (statistics over dim 1)": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias
''',
        "variance as E[x^2] - E[x]^2 (cancels catastrophically when the mean is large)": '''
def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    variance = x.pow(2).mean(dim=-1, keepdim=True) - mean.pow(2)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias
''',
        "gain applied before normalising": '''
def layer_norm(x, weight, bias, eps=1e-5):
    x = x * weight
    mean = x.mean(dim=-1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) + bias
''',
    },
    "rms_norm": {
        "eps outside the square root": '''
def rms_norm(x, weight, eps=1e-5):
    return x / (x.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps) * weight
''',
        "centres the vector (a LayerNorm without bias)": '''
def rms_norm(x, weight, eps=1e-5):
    centred = x - x.mean(dim=-1, keepdim=True)
    return centred * torch.rsqrt(centred.pow(2).mean(dim=-1, keepdim=True) + eps) * weight
''',
        "no gain": '''
def rms_norm(x, weight, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
''',
        "rescales in place (x.mul_), changing the caller's tensor": '''
def rms_norm(x, weight, eps=1e-5):
    return x.mul_(torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)).mul_(weight)
''',
        "eps hard-coded to 1e-5 (the argument ignored)": '''
def rms_norm(x, weight, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + 1e-5) * weight
''',
        "Llama-style float32 upcast, cast back to x's dtype (a float64 input loses precision)": '''
def rms_norm(x, weight, eps=1e-5):
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + eps)
    return weight * normed.to(x.dtype)
''',
        "gain applied before normalising": '''
def rms_norm(x, weight, eps=1e-5):
    x = x * weight
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)
''',
        "root mean square from x.norm / sqrt(x.shape[1]) (assumes a 2-D input)": '''
def rms_norm(x, weight, eps=1e-5):
    mean_square = x.norm(dim=-1, keepdim=True) ** 2 / x.shape[1]
    return x / torch.sqrt(mean_square + eps) * weight
''',
        "flattens the leading dimensions with view (fails on a non-contiguous input)": '''
def rms_norm(x, weight, eps=1e-5):
    rows = x.view(-1, x.shape[-1])
    out = rows * torch.rsqrt(rows.pow(2).mean(dim=1, keepdim=True) + eps) * weight
    return out.view(x.shape)
''',
    },
    "silu": {
        "sigmoid alone": '''
def silu(x):
    return torch.sigmoid(x)
''',
        "GELU's sigmoid approximation": '''
def silu(x):
    return x * torch.sigmoid(1.702 * x)
''',
        "in place (x.mul_), changing the caller's tensor": '''
def silu(x):
    return x.mul_(torch.sigmoid(x))
''',
        "x e^x / (1 + e^x): overflows to nan for large x": '''
def silu(x):
    e = torch.exp(x)
    return x * e / (1 + e)
''',
        "the sigmoid in float32 (x.float()): float64 loses precision, bfloat16 comes back float32": '''
def silu(x):
    return x * torch.sigmoid(x.float())
''',
        "element by element over x.tolist() (1-D only, float32 result)": '''
def silu(x):
    return torch.tensor([v / (1 + math.exp(-v)) for v in x.tolist()])
''',
    },
    "swiglu": {
        "SiLU on the up branch instead of the gate": '''
def swiglu(x, w_gate, w_up, w_down):
    return F.linear(F.linear(x, w_gate) * silu(F.linear(x, w_up)), w_down)
''',
        "branches added instead of multiplied": '''
def swiglu(x, w_gate, w_up, w_down):
    return F.linear(silu(F.linear(x, w_gate)) + F.linear(x, w_up), w_down)
''',
        "sigmoid gate (GLU) instead of SiLU": '''
def swiglu(x, w_gate, w_up, w_down):
    return F.linear(torch.sigmoid(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)
''',
        "transposes the weights in place (.t_() for .t()), changing the caller's tensors": '''
def swiglu(x, w_gate, w_up, w_down):
    return (silu(x @ w_gate.t_()) * (x @ w_up.t_())) @ w_down.t_()
''',
        "flattens the leading dimensions with view (fails on a non-contiguous input)": '''
def swiglu(x, w_gate, w_up, w_down):
    rows = x.view(-1, x.shape[-1])
    out = F.linear(silu(F.linear(rows, w_gate)) * F.linear(rows, w_up), w_down)
    return out.view(*x.shape[:-1], -1)
''',
        "torch.mm (a 2-D input only)": '''
def swiglu(x, w_gate, w_up, w_down):
    return torch.mm(silu(torch.mm(x, w_gate.T)) * torch.mm(x, w_up.T), w_down.T)
''',
    },
    "TransformerBlock": {
        "residual missing around the attention": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = self.attention(self.attention_norm(x), rope, mask, cache)
        return h + self.feed_forward(self.feed_forward_norm(h))
''',
        "residual missing around the feed-forward network": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = x + self.attention(self.attention_norm(x), rope, mask, cache)
        return self.feed_forward(self.feed_forward_norm(h))
''',
        "post-norm (normalises after adding)": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = self.attention_norm(x + self.attention(x, rope, mask, cache))
        return self.feed_forward_norm(h + self.feed_forward(h))
''',
        "feed-forward reads x instead of h": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = x + self.attention(self.attention_norm(x), rope, mask, cache)
        return h + self.feed_forward(self.feed_forward_norm(x))
''',
        "rope not passed on": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = x + self.attention(self.attention_norm(x), None, mask, cache)
        return h + self.feed_forward(self.feed_forward_norm(h))
''',
        "mask not passed on": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = x + self.attention(self.attention_norm(x), rope, None, cache)
        return h + self.feed_forward(self.feed_forward_norm(h))
''',
        "cache not passed on": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = x + self.attention(self.attention_norm(x), rope, mask)
        return h + self.feed_forward(self.feed_forward_norm(h))
''',
        "adds the residuals in place (x +=), changing the caller's tensor": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        x += self.attention(self.attention_norm(x), rope, mask, cache)
        x += self.feed_forward(self.feed_forward_norm(x))
        return x
''',
        "h inlined, so the attention (and its cache update) runs twice": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        return (x + self.attention(self.attention_norm(x), rope, mask, cache)
                + self.feed_forward(self.feed_forward_norm(
                    x + self.attention(self.attention_norm(x), rope, mask, cache))))
''',
        "makes the causal mask itself, T x T (wrong once a cache holds earlier tokens)": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        from lmcourse.attention import causal_mask
        if mask is None:
            mask = causal_mask(x.shape[1]).to(x.device)
        h = x + self.attention(self.attention_norm(x), rope, mask, cache)
        return h + self.feed_forward(self.feed_forward_norm(h))
''',
        "one norm for both sublayers (feed_forward_norm never used)": BLOCK + '''
    def forward(self, x, rope=None, mask=None, cache=None):
        h = x + self.attention(self.attention_norm(x), rope, mask, cache)
        return h + self.feed_forward(self.attention_norm(h))
''',
    },
    "init_weights": {
        "residual projections not scaled down": '''
def init_weights(model, n_layers, std=0.02):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            else:
                parameter.normal_(0.0, std)
''',
        "scaled by 1 / sqrt(n_layers) instead of 1 / sqrt(2 n_layers)": '''
def init_weights(model, n_layers, std=0.02):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.normal_(0.0, std / math.sqrt(n_layers))
            else:
                parameter.normal_(0.0, std)
''',
        "norm gains drawn at random": '''
def init_weights(model, n_layers, std=0.02):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.normal_(0.0, std / math.sqrt(2 * n_layers))
            else:
                parameter.normal_(0.0, std)
''',
        "initialises nn.Linear and RMSNorm modules only (bare nn.Parameter tables left alone)": '''
def init_weights(model, n_layers, std=0.02):
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                if name.endswith(("o_proj", "down_proj")):
                    module.weight.normal_(0.0, std / math.sqrt(2 * n_layers))
                else:
                    module.weight.normal_(0.0, std)
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1.0)
''',
        "skips frozen parameters (requires_grad False)": '''
def init_weights(model, n_layers, std=0.02):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.normal_(0.0, std / math.sqrt(2 * n_layers))
            else:
                parameter.normal_(0.0, std)
''',
        "seeds the generator itself (every call gives the same weights, whatever the caller's seed)": '''
def init_weights(model, n_layers, std=0.02):
    torch.manual_seed(0)  # reproducible
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.normal_(0.0, std / math.sqrt(2 * n_layers))
            else:
                parameter.normal_(0.0, std)
''',
        "normal_(std): sets the mean, not the standard deviation": '''
def init_weights(model, n_layers, std=0.02):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.normal_(std / math.sqrt(2 * n_layers))
            else:
                parameter.normal_(std)
''',
    },
    "count_parameters": {
        "tied output layer counted twice": '''
def count_parameters(config):
    d, head_dim = config.d_model, config.head_dim
    attention = 2 * d * config.n_heads * head_dim + 2 * d * config.n_kv_heads * head_dim
    return 2 * config.vocab_size * d + config.n_layers * (attention + 3 * d * config.d_ff + 2 * d) + d
''',
        "keys and values as large as queries (GQA ignored)": '''
def count_parameters(config):
    d = config.d_model
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layers * (4 * d * d + 3 * d * config.d_ff + 2 * d) + d
''',
        "norm weights forgotten": '''
def count_parameters(config):
    d, head_dim = config.d_model, config.head_dim
    attention = 2 * d * config.n_heads * head_dim + 2 * d * config.n_kv_heads * head_dim
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layers * (attention + 3 * d * config.d_ff)
''',
        "head size by true division (d_model / n_heads): a float, not an int": '''
def count_parameters(config):
    d, head_dim = config.d_model, config.d_model / config.n_heads
    attention = 2 * d * config.n_heads * head_dim + 2 * d * config.n_kv_heads * head_dim
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layers * (attention + 3 * d * config.d_ff + 2 * d) + d
''',
        "one norm per layer": '''
def count_parameters(config):
    d, head_dim = config.d_model, config.head_dim
    attention = 2 * d * config.n_heads * head_dim + 2 * d * config.n_kv_heads * head_dim
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layers * (attention + 3 * d * config.d_ff + d) + d
''',
        "the untied output layer forgotten": '''
def count_parameters(config):
    d, head_dim = config.d_model, config.head_dim
    attention = 2 * d * config.n_heads * head_dim + 2 * d * config.n_kv_heads * head_dim
    return config.vocab_size * d + config.n_layers * (attention + 3 * d * config.d_ff + 2 * d) + d
''',
    },
    "greedy_generate": {
        "reads the logits of the first position": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence]))[0, 0].argmax())
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids:
                break
    return new_tokens
''',
        "stop tokens ignored": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence]))[0, -1].argmax())
            new_tokens.append(token)
            sequence.append(token)
    return new_tokens
''',
        "feeds only the last token": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence[-1:]]))[0, -1].argmax())
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids:
                break
    return new_tokens
''',
        "the stop token left out": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence]))[0, -1].argmax())
            if token in stop_ids:
                break
            new_tokens.append(token)
            sequence.append(token)
    return new_tokens
''',
        "appends to the caller's prompt (sequence = ids, no copy)": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = ids, []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence]))[0, -1].argmax())
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids:
                break
    return new_tokens
''',
        "returns 0-d tensors, not Python ints": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = model(torch.tensor([sequence]))[0, -1].argmax()
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids:
                break
    return new_tokens
''',
        "runs the model with gradients on (no torch.no_grad())": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    for _ in range(max_new_tokens):
        token = int(model(torch.tensor([sequence]))[0, -1].argmax())
        new_tokens.append(token)
        sequence.append(token)
        if token in stop_ids:
            break
    return new_tokens
''',
        "the argmax through an ascending sort (ties go to the highest id)": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence]))[0, -1].sort().indices[-1])
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids:
                break
    return new_tokens
''',
        "one token even when max_new_tokens is 0 (the length checked after appending)": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        while True:
            token = int(model(torch.tensor([sequence]))[0, -1].argmax())
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids or len(new_tokens) >= max_new_tokens:
                break
    return new_tokens
''',
        "turns stop_ids into a set (a Container need not be iterable)": '''
def greedy_generate(model, ids, max_new_tokens, stop_ids=()):
    sequence, new_tokens, stops = list(ids), [], set(stop_ids)
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = int(model(torch.tensor([sequence]))[0, -1].argmax())
            new_tokens.append(token)
            sequence.append(token)
            if token in stops:
                break
    return new_tokens
''',
    },
}
