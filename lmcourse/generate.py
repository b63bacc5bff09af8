# Generated from solutions/09-kv-cache/09-kv-cache.ipynb by `lmcourse export`: edit the notebook, not this file.

"""Generation (chapter 09): sampling, the KV cache, a paged KV cache, batched generation, int8 weights.

The core of the course's inference engine (`lmcourse serve`): sampling settings become a token picker,
and a model with a cache turns a prompt into a stream of token ids.

Notable choices:
- sampling works on one row of logits (V,): repetition penalty, then temperature (0 means greedy),
  top-k, top-p, in that order (that of Hugging Face `transformers`); the filters take and return
  probability distributions;
- randomness comes only from a `torch.Generator` made from the request's seed, never from torch's
  global generator, so a seed gives the same completion whatever else runs;
- a model's cache is a list with one cache per layer, which `LanguageModel.forward(ids, cache)` hands
  to each layer's attention; keys are stored after RoPE, so a cached key is never rotated again;
- `KVCache` allocates its buffers once, for the longest sequence it will hold;
- `PagedKVCache` keeps many sequences in one pool of fixed-size blocks, each sequence's found through
  its block table (the idea of vLLM's PagedAttention): memory grows a block at a time, and sequences
  that start with the same tokens share those blocks;
- `stream_tokens` keeps no global state across its yields (no `torch.no_grad()` left open), so its
  caller may stop consuming it at any point;
- `quantize_int8`: weight-only int8 with one scale per output row; `F.linear` on an `Int8Weight` runs
  torch's int8 kernel (`_weight_int8pack_mm`) on bfloat16 activations.
"""
import math
from collections.abc import Callable, Container, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_map

from lmcourse.model import ModelConfig


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The distribution to sample from at temperature T: softmax(logits / T) along the last dimension.

    logits: (..., V) -> (..., V) probabilities in the logits' dtype, each row summing to 1; the logits
    themselves are not modified. T must be > 0 (raise a ValueError otherwise: temperature 0 means
    greedy, which takes the argmax instead).

    >>> softmax_with_temperature(torch.tensor([1.0, 2.0, 3.0]), 0.5)
    tensor([0.0159, 0.1173, 0.8668])
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature} (temperature 0 means greedy: take the argmax)")
    return torch.softmax(logits / temperature, dim=-1)


def top_k_filter(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k most probable tokens of each row, set the others to 0, and renormalise.

    probs: (..., V) probabilities -> (..., V), in probs' dtype; probs itself is not modified. Tokens
    tied with the k-th most probable are kept too (so more than k may survive). k = 0 means no limit
    (probs unchanged), as does k >= V; k < 0 raises a ValueError.

    >>> top_k_filter(torch.tensor([0.1, 0.4, 0.2, 0.3]), 2)
    tensor([0.0000, 0.5714, 0.0000, 0.4286])
    """
    if k < 0:
        raise ValueError(f"top_k must be 0 (no limit) or positive, got {k}")
    if k == 0 or k >= probs.shape[-1]:
        return probs
    kth = probs.topk(k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest of each row
    kept = probs.masked_fill(probs < kth, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)


def top_p_filter(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most probable tokens whose probabilities sum to at
    least p, set the others to 0, and renormalise; each row on its own.

    probs: (..., V) probabilities -> (..., V), in probs' dtype; probs itself is not modified. In
    decreasing order of probability, a token is kept when the tokens before it sum to less than p, so
    the most probable token is always kept, and a token is dropped when those before it reach p exactly.
    Tokens of equal probability still count one by one: the set stays the smallest (which of the tied
    tokens it keeps does not matter). p must be in (0, 1] (raise a ValueError otherwise); p = 1 keeps
    every token.

    >>> top_p_filter(torch.tensor([0.2, 0.5, 0.3]), 0.6)  # 0.5 < 0.6, so 0.3 is needed too
    tensor([0.0000, 0.6250, 0.3750])
    """
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    if p == 1:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass of the more probable tokens
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < p)
    kept = probs.masked_fill(~keep, 0.0)
    return kept / kept.sum(dim=-1, keepdim=True)


def apply_repetition_penalty(logits: torch.Tensor, previous_ids: Sequence[int] | torch.Tensor,
                             penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty: a new logits row in which every token of previous_ids is less likely.

    logits: (V,); previous_ids: token ids (any sequence, a list, a tuple or an integer tensor, repeats
    allowed, possibly empty) -> (V,) in the logits' dtype, where each token i in previous_ids gets
    logits[i] / penalty if logits[i] > 0, else logits[i] * penalty, once however often it appears (the
    same formula for a penalty below 1). The other logits, and the input tensor itself, are unchanged.

    >>> apply_repetition_penalty(torch.tensor([2.0, -1.0, 0.5]), [0, 1, 0], 2.0)
    tensor([ 1.0000, -2.0000,  0.5000])
    """
    ids = torch.as_tensor(previous_ids, dtype=torch.long).unique()
    chosen = logits[ids]
    penalised = logits.clone()
    penalised[ids] = torch.where(chosen > 0, chosen / penalty, chosen * penalty)
    return penalised


def check_sampling(temperature: float, top_k: int, top_p: float, repetition_penalty: float = 1.0) -> None:
    """Raise a ValueError that names the culprit unless the sampling settings make sense."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be a number >= 0 (0 means greedy), got {temperature!r}")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 means no limit), got {top_k!r}")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p!r}")
    if not (isinstance(repetition_penalty, (int, float)) and math.isfinite(repetition_penalty) and repetition_penalty > 0):
        raise ValueError(f"repetition_penalty must be a positive number (1 means none), got {repetition_penalty!r}")


def sample_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 generator: torch.Generator | None = None, previous_ids: Sequence[int] = (),
                 repetition_penalty: float = 1.0) -> int:
    """The next token id (a Python int), chosen from one row of logits (V,), which is not modified.

    1. check_sampling (a ValueError for bad settings) and a ValueError unless logits is 1-D;
    2. when repetition_penalty != 1: apply_repetition_penalty(logits, previous_ids, repetition_penalty);
    3. temperature 0: the argmax (greedy);
    4. otherwise softmax_with_temperature, then top_k_filter, then top_p_filter, and one draw of
       torch.multinomial with the given generator.

    >>> sample_token(torch.tensor([0.0, 5.0, 1.0]), temperature=0)
    1
    """
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if logits.dim() != 1:
        raise ValueError(f"logits must be one row (V,), got shape {tuple(logits.shape)}")
    if repetition_penalty != 1 and len(previous_ids):
        logits = apply_repetition_penalty(logits, previous_ids, repetition_penalty)
    if temperature == 0:
        return int(logits.argmax())
    probs = top_p_filter(top_k_filter(softmax_with_temperature(logits, temperature), top_k), top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def kv_cache_bytes(config: ModelConfig, num_tokens: int, batch_size: int = 1, bytes_per_value: int = 4) -> int:
    """Bytes a KV cache needs: 2 (keys and values) * n_layers * n_kv_heads * head_dim * num_tokens
    * batch_size * bytes_per_value, as an int.

    >>> kv_cache_bytes(ModelConfig(), 8192)  # SmolLM2-135M, its whole context, float32
    377487360
    """
    return 2 * config.n_layers * config.n_kv_heads * config.head_dim * num_tokens * batch_size * bytes_per_value


class KVCache:
    """One attention layer's keys and values for a batch of sequences, in buffers allocated once.

    keys, values: (B, H_kv, max_len, D) buffers, of which positions 0 .. length - 1 are filled.
    """

    def __init__(self, batch_size: int, n_kv_heads: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32):
        shape = (batch_size, n_kv_heads, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype)
        self.values = torch.zeros(shape, dtype=dtype)
        self.length = 0

    @property
    def lengths(self) -> torch.Tensor:
        """(B,): how many tokens each sequence has in the cache (here the same for all)."""
        return torch.full((self.keys.shape[0],), self.length)

    def update(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the keys and values of T new tokens after those already stored; return all of them.

        keys, values: (B, H_kv, T, D) -> (all_keys, all_values), each (B, H_kv, length + T, D), views of
        the buffers with the new tokens at positions length .. length + T - 1; length grows by T.
        Raises a ValueError when length + T > max_len, and then changes nothing (a cache may be filled
        exactly to max_len).
        """
        start, end = self.length, self.length + keys.shape[2]
        if end > self.keys.shape[2]:
            raise ValueError(f"the cache holds {self.keys.shape[2]} tokens; {end} do not fit")
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


def new_kv_cache(config: ModelConfig, batch_size: int, max_len: int, dtype: torch.dtype = torch.float32) -> list[KVCache]:
    """An empty KV cache for a model: one KVCache per layer, each for batch_size sequences of max_len tokens."""
    if max_len > config.max_seq_len:
        raise ValueError(f"a cache of {max_len} tokens is longer than the model's context of {config.max_seq_len}")
    return [KVCache(batch_size, config.n_kv_heads, max_len, config.head_dim, dtype) for _ in range(config.n_layers)]


def pick_greedy(logits: torch.Tensor, ids: list[int]) -> int:
    """A token picker for greedy decoding: the argmax of the logits (V,)."""
    return int(logits.argmax())


def generate_with_cache(model: nn.Module, prompt_ids: Sequence[int], max_new_tokens: int,
                        pick_token: Callable[[torch.Tensor, list[int]], int] = pick_greedy,
                        stop_ids: Container[int] = ()) -> Iterator[int]:
    """Generate with a KV cache, yielding each new token id as soon as it is chosen.

    model: a LanguageModel (ids (1, T), cache -> logits (1, T, V)); pick_token(logits (V,), ids so far)
    chooses each token; prompt_ids (any sequence) is not modified. The prompt goes through the model
    once (prefill); then each chosen token goes through alone (decode). Stops after max_new_tokens
    tokens, or after a token in stop_ids (which is yielded). Keeps no torch.no_grad() open across a
    yield.
    """
    ids = list(prompt_ids)
    cache = new_kv_cache(model.config, 1, len(ids) + max_new_tokens)
    step_input = torch.tensor([ids])  # (1, P): the prompt, then one token at a time
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(step_input, cache=cache)[0, -1]
        token = pick_token(logits, ids)
        yield token
        if token in stop_ids:
            return
        ids.append(token)
        step_input = torch.tensor([[token]])


def token_picker(temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                 seed: int | None = None) -> Callable[[torch.Tensor, list[int]], int]:
    """A pick_token function for generate_with_cache that samples with these settings and its own generator,
    seeded with seed (None: a fresh random seed)."""
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)

    def pick(logits: torch.Tensor, ids: list[int]) -> int:
        return sample_token(logits, temperature, top_k, top_p, generator, ids, repetition_penalty)

    return pick


def check_prompt(config: ModelConfig, prompt_ids: Sequence[int], max_new_tokens: int) -> None:
    """Raise a ValueError unless the prompt can start a generation of up to max_new_tokens tokens."""
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if len(prompt_ids) == 0:
        raise ValueError("the prompt is empty: generation needs at least one token to start from")
    if len(prompt_ids) >= config.max_seq_len:
        raise ValueError(f"the prompt has {len(prompt_ids)} tokens, but the model's context holds "
                         f"{config.max_seq_len} and the answer needs room too")
    outside = [int(i) for i in prompt_ids if not 0 <= int(i) < config.vocab_size]
    if outside:
        raise ValueError(f"token id {outside[0]} is outside the vocabulary (0 to {config.vocab_size - 1})")


def stream_tokens(model: nn.Module, prompt_ids: Sequence[int], *, max_new_tokens: int = 256,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                  seed: int | None = None, stop_ids: Container[int] = ()) -> Iterator[int]:
    """The token ids a model generates after prompt_ids, one by one, with a KV cache.

    temperature 0 is greedy; top_k 0 and top_p 1 mean no truncation; the same seed gives the same
    tokens. Generation ends after max_new_tokens tokens, after a token in stop_ids (yielded), or when
    the model's context is full. Bad settings or prompts raise a ValueError here, before any work.
    The caller may stop consuming the iterator at any point.
    """
    check_prompt(model.config, prompt_ids, max_new_tokens)
    pick = token_picker(temperature, top_k, top_p, repetition_penalty, seed)
    room = min(max_new_tokens, model.config.max_seq_len - len(prompt_ids))
    return generate_with_cache(model, prompt_ids, room, pick, stop_ids)


def slot_indices(block_table: torch.Tensor, positions: torch.Tensor, block_size: int) -> torch.Tensor:
    """The slots of the pool that hold the given positions of one sequence.

    block_table: (num_blocks,) int64, the sequence's blocks in order; positions: any shape (a 0-d
    tensor too), int64, not modified -> int64 of the same shape:
    block_table[positions // block_size] * block_size + positions % block_size.

    >>> slot_indices(torch.tensor([7, 2]), torch.arange(6), block_size=4)
    tensor([28, 29, 30, 31,  8,  9])
    """
    return block_table[positions // block_size] * block_size + positions % block_size


class PagedLayerCache:
    """One layer's view of a PagedKVCache during one forward pass: what the model's attention calls."""

    def __init__(self, pool_keys: torch.Tensor, pool_values: torch.Tensor, write_slots: torch.Tensor,
                 read_slots: torch.Tensor, lengths: torch.Tensor):
        self.pool_keys, self.pool_values = pool_keys, pool_values  # (slots, H_kv, D), this layer's pool
        self.write_slots = write_slots  # (B, T): where the new tokens go
        self.read_slots = read_slots  # (B, S): every token of each sequence, in position order
        self.lengths = lengths  # (B,): tokens each sequence had before this pass

    def update(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keys, values: (B, H_kv, T, D) -> all keys and values, (B, H_kv, S, D); past a sequence's end,
        some slot of its own (the model's mask hides it)."""
        self.pool_keys[self.write_slots] = keys.transpose(1, 2)  # (B, T, H_kv, D) into (B, T) slots
        self.pool_values[self.write_slots] = values.transpose(1, 2)
        return self.pool_keys[self.read_slots].transpose(1, 2), self.pool_values[self.read_slots].transpose(1, 2)


class PagedKVCache:
    """The keys and values of many sequences in one pool of fixed-size blocks, shared by all layers' tables.

    Each sequence (an int id) has a block table (the pool blocks that hold its tokens, in order) and a
    length. Blocks are reference-counted, so that forked sequences share the full blocks of their parent.
    """

    def __init__(self, config: ModelConfig, num_blocks: int, block_size: int = 16, dtype: torch.dtype = torch.float32):
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"num_blocks and block_size must be positive, got {num_blocks} and {block_size}")
        shape = (config.n_layers, num_blocks * block_size, config.n_kv_heads, config.head_dim)
        self.keys, self.values = torch.zeros(shape, dtype=dtype), torch.zeros(shape, dtype=dtype)
        self.block_size = block_size
        self.free_blocks = list(range(num_blocks - 1, -1, -1))  # a stack: block 0 is handed out first
        self.references = [0] * num_blocks  # how many block tables hold each block
        self.block_tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}
        self.next_sequence = 0

    @property
    def blocks_in_use(self) -> int:
        return len(self.references) - len(self.free_blocks)

    def allocate(self) -> int:
        if not self.free_blocks:
            raise RuntimeError(f"the paged KV cache is full: all {len(self.references)} blocks are in use")
        block = self.free_blocks.pop()
        self.references[block] = 1
        return block

    def add_sequence(self) -> int:
        """A new, empty sequence; returns its id."""
        sequence, self.next_sequence = self.next_sequence, self.next_sequence + 1
        self.block_tables[sequence], self.lengths[sequence] = [], 0
        return sequence

    def fork(self, parent: int) -> int:
        """A new sequence that continues `parent`: it shares the parent's full blocks and gets a copy of
        its last, partly filled block. Returns the new sequence's id."""
        child = self.add_sequence()
        length, table = self.lengths[parent], self.block_tables[parent]
        full = length // self.block_size
        for block in table[:full]:
            self.references[block] += 1
        self.block_tables[child] = table[:full]
        if length % self.block_size:
            copy = self.allocate()
            source, target = table[full] * self.block_size, copy * self.block_size
            self.keys[:, target:target + self.block_size] = self.keys[:, source:source + self.block_size]
            self.values[:, target:target + self.block_size] = self.values[:, source:source + self.block_size]
            self.block_tables[child].append(copy)
        self.lengths[child] = length
        return child

    def free(self, sequence: int) -> None:
        """Forget a sequence; its blocks go back to the pool unless another sequence still holds them."""
        for block in self.block_tables.pop(sequence):
            self.references[block] -= 1
            if self.references[block] == 0:
                self.free_blocks.append(block)
        del self.lengths[sequence]

    def step(self, sequences: Sequence[int], num_new: int) -> list[PagedLayerCache]:
        """Make room for num_new more tokens of each sequence; the per-layer caches of one forward pass
        over ids (len(sequences), num_new)."""
        lengths = torch.tensor([self.lengths[s] for s in sequences])
        total = int(lengths.max()) + num_new
        write, read = [], []
        for sequence, length in zip(sequences, lengths.tolist()):
            table = self.block_tables[sequence]
            while len(table) * self.block_size < length + num_new:
                table.append(self.allocate())
            blocks = torch.tensor(table)
            write.append(slot_indices(blocks, torch.arange(length, length + num_new), self.block_size))
            positions = torch.arange(total).clamp(max=length + num_new - 1)  # past its end: its last slot, masked
            read.append(slot_indices(blocks, positions, self.block_size))
            self.lengths[sequence] = length + num_new
        write_slots, read_slots = torch.stack(write), torch.stack(read)
        return [PagedLayerCache(self.keys[layer], self.values[layer], write_slots, read_slots, lengths)
                for layer in range(self.keys.shape[0])]


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """How many leading token ids all the sequences share."""
    shortest = min(len(s) for s in sequences)
    length = 0
    while length < shortest and all(s[length] == sequences[0][length] for s in sequences):
        length += 1
    return length


def generate_batch(model: nn.Module, prompts: Sequence[Sequence[int]], max_new_tokens: int, *, temperature: float = 1.0,
                   top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0, seed: int | None = None,
                   stop_ids: Container[int] = (), block_size: int = 16, share_prefix: bool = True) -> list[list[int]]:
    """The tokens generated after each prompt, decoding all of them together with a paged KV cache.

    Each prompt gets the tokens that stream_tokens would give it alone with seed + its index (seed None:
    random). share_prefix: the prompts' common prefix is computed and stored once.
    """
    for prompt in prompts:
        check_prompt(model.config, prompt, max_new_tokens)
    if not prompts or max_new_tokens == 0:
        return [[] for _ in prompts]
    pickers = [token_picker(temperature, top_k, top_p, repetition_penalty, None if seed is None else seed + i)
               for i in range(len(prompts))]
    room = [min(max_new_tokens, model.config.max_seq_len - len(p)) for p in prompts]
    # every prompt keeps at least one token of its own, whose logits start its answer
    shared = min(common_prefix_length(prompts), min(map(len, prompts)) - 1) if share_prefix and len(prompts) > 1 else 0
    blocks = sum(math.ceil((len(p) + r) / block_size) for p, r in zip(prompts, room)) + math.ceil(shared / block_size)
    cache = PagedKVCache(model.config, blocks, block_size)
    histories = [list(p) for p in prompts]
    outputs: list[list[int]] = [[] for _ in prompts]
    sequences, rows = [], []
    with torch.no_grad():
        if shared:
            root = cache.add_sequence()
            model(torch.tensor([list(prompts[0][:shared])]), cache=cache.step([root], shared))
        for prompt in prompts:  # prefill each prompt on its own: no padding
            sequence = cache.fork(root) if shared else cache.add_sequence()
            rest = list(prompt[shared:])
            rows.append(model(torch.tensor([rest]), cache=cache.step([sequence], len(rest)))[0, -1])
            sequences.append(sequence)
        if shared:
            cache.free(root)
    active = list(range(len(prompts)))  # the prompts still generating; rows[i] holds the logits of active[i]
    while active:
        still = []
        for index, logits in zip(active, rows):
            token = pickers[index](logits, histories[index])
            outputs[index].append(token)
            histories[index].append(token)
            if token in stop_ids or len(outputs[index]) == room[index]:
                cache.free(sequences[index])
            else:
                still.append(index)
        active = still
        if active:  # one decoding step for all of them: ids (B, 1)
            ids = torch.tensor([[histories[i][-1]] for i in active])
            with torch.no_grad():
                rows = list(model(ids, cache=cache.step([sequences[i] for i in active], 1))[:, -1])
    return outputs


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation with one scale per row (output feature).

    weight: (out, in) float of any float dtype, not modified -> (quantized (out, in) int8, scales (out,)
    float32, whatever weight's dtype) with
    scales[r] = max_j |weight[r, j]| / 127 and quantized = round(weight / scales[:, None]), so that
    weight ~ quantized * scales[:, None]. A row of zeros gets scale 1 (its integers are 0).

    >>> quantize_rows(torch.tensor([[0.5, -1.0, 0.25], [127.0, 0.0, -63.4]]))
    (tensor([[  64, -127,   32],
            [ 127,    0,  -63]], dtype=torch.int8), tensor([0.0079, 1.0000]))
    """
    scales = weight.abs().amax(dim=1).float() / 127
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.round(weight / scales[:, None]).to(torch.int8), scales


# Tensor attributes an Int8Weight answers from its own shape and type, without dequantising
METADATA = {torch.Tensor.shape.__get__, torch.Tensor.dtype.__get__, torch.Tensor.device.__get__,
            torch.Tensor.ndim.__get__, torch.Tensor.requires_grad.__get__, torch.Tensor.dim, torch.Tensor.size,
            torch.Tensor.numel, torch.Tensor.is_floating_point, torch.Tensor.__len__}


class Int8Weight(torch.Tensor):
    """A float32 weight matrix (out, in) stored as int8 rows and one scale per row (quantize_rows).

    F.linear(x, weight) runs the int8 kernel on bfloat16 activations and returns x's dtype;
    weight[ids] dequantises only those rows; any other operation sees the dequantised matrix.
    """

    @staticmethod
    def __new__(cls, quantized: torch.Tensor, scales: torch.Tensor):
        return torch.Tensor._make_wrapper_subclass(cls, quantized.shape, dtype=torch.float32, device=quantized.device)

    def __init__(self, quantized: torch.Tensor, scales: torch.Tensor):
        self.quantized, self.scales = quantized, scales
        self.kernel_scales = scales.to(torch.bfloat16)

    def dequantize(self) -> torch.Tensor:
        return self.quantized.float() * self.scales[:, None]

    def linear(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        out = torch.ops.aten._weight_int8pack_mm(rows, self.quantized, self.kernel_scales)
        return out.to(x.dtype).reshape(*x.shape[:-1], out.shape[-1])

    def __repr__(self) -> str:
        return f"Int8Weight(shape={tuple(self.quantized.shape)})"

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear and isinstance(args[1], Int8Weight) and not isinstance(args[0], Int8Weight) \
                and (args[2] if len(args) > 2 else kwargs.get("bias")) is None:
            return args[1].linear(args[0])
        if func is torch.Tensor.__getitem__ and isinstance(args[1], (int, torch.Tensor)):
            weight, rows = args
            return weight.quantized[rows].float() * weight.scales[rows][..., None]
        if func in METADATA:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs)
        return func(*tree_map(dequantized, args), **tree_map(dequantized, kwargs))

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        # reached only by what __torch_function__ passed on inside other operations: the float matrix
        return func(*tree_map(dequantized, args), **tree_map(dequantized, kwargs or {}))


def dequantized(value):
    """value itself, or the float32 matrix when value is an Int8Weight."""
    return value.dequantize() if isinstance(value, Int8Weight) else value


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace, in place, the weight of every bias-free nn.Linear and the model's `embedding` and `output`
    matrices (when it has them) by Int8Weights; returns the model, for inference only."""

    def replace(module: nn.Module, name: str) -> None:
        weight = getattr(module, name)
        if not isinstance(weight, Int8Weight):
            quantized = Int8Weight(*quantize_rows(weight.detach().float()))
            delattr(module, name)  # a parameter until now: an Int8Weight is a plain attribute
            setattr(module, name, quantized)

    for module in list(model.modules()):
        if isinstance(module, nn.Linear) and module.bias is None:
            replace(module, "weight")
    for name in ("embedding", "output"):
        if isinstance(getattr(model, name, None), torch.Tensor):
            replace(model, name)
    return model
