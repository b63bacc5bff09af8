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
    },
}
