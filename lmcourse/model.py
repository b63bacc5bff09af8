# Generated from solutions/04-transformer/04-transformer.ipynb by `lmcourse export`: edit the notebook, not this file.

"""The transformer (chapter 04): normalisation, SwiGLU, pre-norm blocks and the decoder-only language model,
built from a config (to train from scratch) or loaded from a GGUF file (SmolLM2-135M-Instruct).

Notable choices, those of Llama and SmolLM2:
- pre-norm blocks with RMSNorm, and residual connections around attention and the feed-forward network;
- rotary positions (chapter 02) inside grouped-query attention (chapter 03), no position table;
- a SwiGLU feed-forward network, and no biases anywhere;
- optional weight tying: the output layer reuses the embedding table (SmolLM2 ties them);
- `model(ids)` returns float32 logits for every position, (B, T, vocab_size);
- loading a GGUF file dequantises every tensor to float32; its query and key rows are already in the
  interleaved RoPE layout of `apply_rope`.
"""
import math
from collections.abc import Container
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmcourse.attention import MultiHeadAttention, check_heads
from lmcourse.embeddings import embedding_lookup, rope_angles
from lmcourse.storage.pretrained import pretrained_path, read_metadata, read_tensors


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm over the last dimension: (x - mean) / sqrt(var + eps) * weight + bias, var biased (divide by d).

    x: (..., d), any number of leading dimensions, contiguous or not; weight, bias: (d,), of x's dtype
    -> (..., d), of x's dtype. x is not modified; eps is used as given. Compute at x's precision (a float64 x
    stays float64 throughout), and the variance as the mean of (x - mean) ** 2: E[x ** 2] - mean ** 2 loses
    all precision when the mean is large next to the spread.

    >>> layer_norm(torch.tensor([[1.0, 2.0, 3.0]]), torch.ones(3), torch.zeros(3), eps=0.0)
    tensor([[-1.2247,  0.0000,  1.2247]])
    """
    mean = x.mean(dim=-1, keepdim=True)
    variance = (x - mean).pow(2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm over the last dimension: x / sqrt(mean(x ** 2) + eps) * weight.

    x: (..., d), any number of leading dimensions, contiguous or not; weight: (d,), of x's dtype
    -> (..., d), of x's dtype. x is not modified; eps is used as given; computed at x's precision (a float64 x
    stays float64 throughout).

    >>> rms_norm(torch.tensor([[3.0, 4.0]]), torch.tensor([1.0, 2.0]), eps=0.0)
    tensor([[0.8485, 2.2627]])
    """
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def silu(x: torch.Tensor) -> torch.Tensor:
    """SiLU (swish): x * sigmoid(x), elementwise.

    x: any shape -> the same shape and dtype, computed at x's precision; x is not modified. Finite for every
    finite x (e ** x overflows for large x; torch.sigmoid does not).

    >>> silu(torch.tensor([-1.0, 0.0, 1.0, 4.0]))
    tensor([-0.2689,  0.0000,  0.7311,  3.9281])
    """
    return x * torch.sigmoid(x)


def swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """The SwiGLU feed-forward network: w_down (silu(w_gate x) * (w_up x)).

    x: (..., d), any number of leading dimensions, contiguous or not; w_gate, w_up: (d_ff, d); w_down: (d, d_ff),
    nn.Linear's (out, in) layout -> (..., d). Neither x nor the weights are modified.

    >>> swiglu(torch.tensor([[1.0, 2.0]]), torch.eye(2), torch.eye(2), torch.ones(1, 2))  # silu(1)*1 + silu(2)*2
    tensor([[4.2542]])
    """
    return F.linear(silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)


@dataclass
class ModelConfig:
    """Hyper-parameters of the decoder-only transformer; the defaults are SmolLM2-135M's."""

    vocab_size: int = 49152  # tokens the embedding table and the output layer know
    d_model: int = 576  # width of the residual stream
    n_layers: int = 30  # transformer blocks
    n_heads: int = 9  # query heads, each of d_model / n_heads features
    n_kv_heads: int = 3  # key/value heads (grouped-query attention); n_heads for plain multi-head attention
    d_ff: int = 1536  # hidden width of the SwiGLU feed-forward network
    rope_base: float = 100000.0  # RoPE's base b: pair i turns by position * b ** (-2i / head_dim)
    norm_eps: float = 1e-5  # RMSNorm's epsilon, inside the square root
    max_seq_len: int = 8192  # the longest input; RoPE itself has no limit, but training saw no longer one
    tie_embeddings: bool = True  # the output layer reuses the embedding table

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "max_seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        check_heads(self.d_model, self.n_heads)
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads = {self.n_heads} is not a multiple of n_kv_heads = {self.n_kv_heads}: "
                             "each key/value head serves a whole group of query heads")
        if self.head_dim % 2:
            raise ValueError(f"the head size d_model / n_heads = {self.head_dim} must be even: RoPE rotates pairs")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


class RMSNorm(nn.Module):
    """RMSNorm over the last dimension, with a learned gain `weight` (initially ones)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


class FeedForward(nn.Module):
    """The SwiGLU feed-forward network: gate_proj and up_proj (d_ff, d_model), down_proj (d_model, d_ff)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swiglu(x, self.gate_proj.weight, self.up_proj.weight, self.down_proj.weight)


class TransformerBlock(nn.Module):
    """A pre-norm transformer block: attention, then the feed-forward network, each with a residual connection."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attention_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attention = MultiHeadAttention(config.d_model, config.n_heads, config.n_kv_heads)
        self.feed_forward_norm = RMSNorm(config.d_model, config.norm_eps)
        self.feed_forward = FeedForward(config.d_model, config.d_ff)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                mask: torch.Tensor | None = None, cache=None) -> torch.Tensor:
        """x: (B, T, d_model) -> (B, T, d_model), rope, mask and cache as for the attention (mask None: causal):
        h = x + attention(attention_norm(x), rope, mask, cache), out = h + feed_forward(feed_forward_norm(h)).

        Pass rope ((T, D/2), or (B, 1, T, D/2) per sequence), mask (None, or broadcastable to (B, n_heads, T, S))
        and cache on unchanged: with a cache, mask None must stay None, since the attention's causal mask
        accounts for the cache's earlier tokens. x is not modified, and the attention runs once per call (so
        the cache is updated once).
        """
        h = x + self.attention(self.attention_norm(x), rope, mask, cache)
        return h + self.feed_forward(self.feed_forward_norm(h))


def init_weights(model: nn.Module, n_layers: int, std: float = 0.02) -> None:
    """Initialise a transformer's parameters in place, GPT-2 style.

    - 1-D parameters (the gains of the norms; the model has no biases) -> 1;
    - matrices whose name ends in "o_proj.weight" or "down_proj.weight" (the projections that write into
      the residual stream) -> normal(0, std / sqrt(2 * n_layers));
    - every other matrix (embedding table, untied output layer, other projections) -> normal(0, std).

    Every parameter of model.named_parameters() is set, frozen ones (requires_grad False) and bare
    nn.Parameter tables (LanguageModel's embedding) included. The values come from PyTorch's global
    generator: the caller seeds it (torch.manual_seed) before the call; init_weights does not seed it.
    """
    residual_std = std / math.sqrt(2 * n_layers)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.fill_(1.0)
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                parameter.normal_(0.0, residual_std)
            else:
                parameter.normal_(0.0, std)


class LanguageModel(nn.Module):
    """A decoder-only transformer: token ids (B, T) -> next-token logits (B, T, vocab_size)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Parameter(torch.empty(config.vocab_size, config.d_model))  # (V, d)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        # tied: the output layer is the embedding table itself, so there is no parameter of its own
        self.output = None if config.tie_embeddings else nn.Parameter(torch.empty(config.vocab_size, config.d_model))
        init_weights(self, config.n_layers)

    def forward(self, ids: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """ids: (B, T) -> logits (B, T, vocab_size).

        cache (chapter 09): None, or one KV cache per layer, holding cache[0].lengths (B,) earlier tokens
        of each sequence; the new tokens are at the positions after those, and are added to the cache.
        """
        if ids.dim() != 2:
            raise ValueError(f"ids must be a (batch, time) tensor of token ids, got shape {tuple(ids.shape)}")
        time = ids.shape[1]
        mask = None  # causal
        if cache is None:
            positions = torch.arange(time, device=ids.device)  # (T,)
        else:
            if len(cache) != len(self.layers):
                raise ValueError(f"the cache has {len(cache)} layers, the model {len(self.layers)}")
            lengths = cache[0].lengths.to(ids.device)  # (B,)
            positions = lengths[:, None] + torch.arange(time, device=ids.device)  # (B, T)
            if (lengths != lengths[0]).any():  # rows of different lengths: key j is visible up to position j
                mask = torch.arange(int(positions.max()) + 1, device=ids.device) <= positions[:, None, :, None]
        if int(positions.max()) >= self.config.max_seq_len:
            raise ValueError(f"{int(positions.max()) + 1} tokens are more than the model's context of "
                             f"max_seq_len = {self.config.max_seq_len}")
        angles = rope_angles(positions.flatten(), self.config.head_dim, self.config.rope_base)
        angles = angles.reshape(*positions.shape, -1)  # (T, head_dim / 2), or (B, T, head_dim / 2)
        if cache is not None:
            angles = angles[:, None]  # (B, 1, T, head_dim / 2): each sequence's positions, for every head
        rope = (angles.cos(), angles.sin())  # shared by every layer
        x = embedding_lookup(ids, self.embedding)  # (B, T, d_model)
        for index, layer in enumerate(self.layers):
            x = layer(x, rope, mask, None if cache is None else cache[index])
        x = self.norm(x)
        return F.linear(x, self.embedding if self.output is None else self.output)  # (B, T, vocab_size)


def count_parameters(config: ModelConfig) -> int:
    """The number of parameters of LanguageModel(config), by formula (see the table above), as a Python int.

    >>> count_parameters(ModelConfig())  # SmolLM2-135M
    134515008
    """
    d, head_dim = config.d_model, config.head_dim
    attention = 2 * d * config.n_heads * head_dim + 2 * d * config.n_kv_heads * head_dim
    per_layer = attention + 3 * d * config.d_ff + 2 * d
    embeddings = config.vocab_size * d * (1 if config.tie_embeddings else 2)
    return embeddings + config.n_layers * per_layer + d


# the name of each tensor of GGUF's block N (blk.N.*) -> the name of the parameter in layers.N
GGUF_BLOCK_TENSORS = {
    "attn_norm.weight": "attention_norm.weight",
    "attn_q.weight": "attention.q_proj.weight",
    "attn_k.weight": "attention.k_proj.weight",
    "attn_v.weight": "attention.v_proj.weight",
    "attn_output.weight": "attention.o_proj.weight",
    "ffn_norm.weight": "feed_forward_norm.weight",
    "ffn_gate.weight": "feed_forward.gate_proj.weight",
    "ffn_up.weight": "feed_forward.up_proj.weight",
    "ffn_down.weight": "feed_forward.down_proj.weight",
}


def model_from_gguf(path) -> LanguageModel:
    """The LanguageModel stored in a Llama-architecture GGUF file, with its weights in float32, in eval mode."""
    metadata = read_metadata(path, ("general.architecture", "llama."))
    architecture = metadata.get("general.architecture")
    if architecture != "llama":
        raise ValueError(f"{path} holds a model of architecture {architecture!r}; "
                         "LanguageModel runs Llama-architecture models ('llama') only")
    try:
        settings = {"vocab_size": "vocab_size", "d_model": "embedding_length", "n_layers": "block_count",
                    "n_heads": "attention.head_count", "n_kv_heads": "attention.head_count_kv",
                    "d_ff": "feed_forward_length", "rope_base": "rope.freq_base",
                    "norm_eps": "attention.layer_norm_rms_epsilon", "max_seq_len": "context_length"}
        values = {field: metadata[f"llama.{key}"] for field, key in settings.items()}
    except KeyError as missing:
        raise ValueError(f"{path} lacks the metadata {missing.args[0]}, which the model needs") from None
    if metadata.get("llama.rope.dimension_count", values["d_model"] // values["n_heads"]) != values["d_model"] // values["n_heads"]:
        raise ValueError(f"{path} rotates only part of each head (llama.rope.dimension_count); LanguageModel rotates all of it")

    tensors = read_tensors(path)
    config = ModelConfig(**values, tie_embeddings="output.weight" not in tensors)
    state = {"embedding": tensors.pop("token_embd.weight"), "norm.weight": tensors.pop("output_norm.weight")}
    if not config.tie_embeddings:
        state["output"] = tensors.pop("output.weight")
    for name, tensor in tensors.items():
        block, index, rest = name.split(".", 2) if name.count(".") >= 2 else (name, "", "")
        if block != "blk" or rest not in GGUF_BLOCK_TENSORS:
            raise ValueError(f"{path} has a tensor {name!r} that LanguageModel has no place for")
        state[f"layers.{index}.{GGUF_BLOCK_TENSORS[rest]}"] = tensor
    with torch.device("meta"):  # shapes only: the file's tensors become the parameters
        model = LanguageModel(config)
    model.load_state_dict(state, assign=True)
    return model.eval()


def greedy_generate(model: nn.Module, ids: list[int], max_new_tokens: int, stop_ids: Container[int] = ()) -> list[int]:
    """Greedy decoding: append the most likely next token, up to max_new_tokens times.

    model: ids (1, T) -> logits (1, T, V); ids: the prompt's token ids. Returns the new token ids only.
    Generation ends after the first token that is in stop_ids (that token is included in the result).

    At every step the model reads the whole sequence so far (prompt and new tokens), torch.tensor([sequence]),
    under torch.no_grad(); the next token is the argmax of the last position's logits, a tie going to the
    lowest id (as torch.argmax). Returns a list of Python ints; ids is not modified. stop_ids may be any
    container: only `token in stop_ids` is asked of it.
    """
    sequence, new_tokens = list(ids), []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(torch.tensor([sequence]))  # (1, T, V)
            token = int(logits[0, -1].argmax())
            new_tokens.append(token)
            sequence.append(token)
            if token in stop_ids:
                break
    return new_tokens


def load_pretrained(name: str = "smollm2-135m-instruct"):
    """A pretrained model the course knows, running on your code: (LanguageModel, BPETokenizer)."""
    from lmcourse.tokenizer import BPETokenizer  # here, so that the model runs even while chapter 01 is unfinished

    path = pretrained_path(name)
    return model_from_gguf(path), BPETokenizer.from_gguf(path)
