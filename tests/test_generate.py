"""Chapter 09's engine core: sampling, the KV caches, batched generation and int8 weights.

The real checks run on SmolLM2-135M-Instruct (cached == uncached, paged == contiguous, batched ==
one by one, int8 close to float32); properties and errors run on small random models.
"""

from __future__ import annotations

import copy
import gc

import pytest
import torch

from lmcourse.generate import (
    Int8Weight, KVCache, PagedKVCache, check_sampling, generate_batch, new_kv_cache, quantize_int8, sample_token,
    stream_tokens, top_k_filter, top_p_filter,
)
from lmcourse.model import LanguageModel, ModelConfig, greedy_generate, load_pretrained


@pytest.fixture(scope="module")
def smollm2():
    return load_pretrained("smollm2-135m-instruct")


def tiny_model(max_seq_len: int = 64, seed: int = 0) -> LanguageModel:
    """A small random model with sharp logits (no near-ties between tokens)."""
    torch.manual_seed(seed)
    config = ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48, max_seq_len=max_seq_len)
    model = LanguageModel(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.5)
    return model


def greedy(model, prompt, n, **settings):
    return list(stream_tokens(model, prompt, max_new_tokens=n, temperature=0, **settings))


def test_cached_generation_gives_the_uncached_tokens_on_smollm2(smollm2):
    model, tokenizer = smollm2
    prompt = tokenizer.encode("The capital of France is")
    assert greedy(model, prompt, 8) == greedy_generate(model, prompt, 8)


def test_cached_logits_match_the_full_forward_on_smollm2(smollm2):
    model, tokenizer = smollm2
    ids = torch.tensor([tokenizer.encode("One, two, three, four, five, six")])
    cache = new_kv_cache(model.config, 1, ids.shape[1])
    with torch.no_grad():
        full = model(ids)
        steps = [model(ids[:, :4], cache=cache)] + [model(ids[:, t:t + 1], cache=cache) for t in range(4, ids.shape[1])]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-3)


def test_paged_cache_gives_the_contiguous_cache_logits_on_smollm2(smollm2):
    model, tokenizer = smollm2
    ids = torch.tensor([tokenizer.encode("A paged cache keeps blocks of four tokens here.")])
    contiguous, paged = new_kv_cache(model.config, 1, ids.shape[1]), PagedKVCache(model.config, num_blocks=8, block_size=4)
    sequence = paged.add_sequence()
    with torch.no_grad():
        for start, end in [(0, 6), (6, 7), (7, 8), (8, ids.shape[1])]:  # across block boundaries
            expected = model(ids[:, start:end], cache=contiguous)
            assert torch.allclose(model(ids[:, start:end], cache=paged.step([sequence], end - start)), expected, atol=1e-4)
    assert paged.blocks_in_use == -(-ids.shape[1] // 4)


def test_batched_generation_of_different_lengths_matches_one_by_one_on_smollm2(smollm2):
    model, tokenizer = smollm2
    prompts = [tokenizer.encode(text) for text in
               ["Hello", "The capital of France is", "def add(a, b):\n    return a + b\n\n\ndef"]]
    assert len({len(p) for p in prompts}) == 3
    alone = [greedy(model, p, 6) for p in prompts]
    assert generate_batch(model, prompts, 6, temperature=0, block_size=4, share_prefix=False) == alone


def test_batched_generation_shares_a_common_prefix_on_smollm2(smollm2):
    model, tokenizer = smollm2
    system = "<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\n"
    prompts = [tokenizer.encode(system + q + "<|im_end|>\n<|im_start|>assistant\n", allowed_special="all")
               for q in ["What is 2 + 2?", "Name a colour."]]
    alone = [greedy(model, p, 4) for p in prompts]
    assert generate_batch(model, prompts, 4, temperature=0, share_prefix=True, block_size=8) == alone


def test_fork_shares_full_blocks_and_copies_the_last():
    config = ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48, max_seq_len=64)
    cache = PagedKVCache(config, num_blocks=6, block_size=4)
    parent = cache.add_sequence()
    for layer in cache.step([parent], 6):
        layer.update(torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8))
    child = cache.fork(parent)
    assert cache.block_tables[child][0] == cache.block_tables[parent][0], "the full block is shared"
    assert cache.block_tables[child][1] != cache.block_tables[parent][1], "the partial block is copied"
    assert cache.blocks_in_use == 3
    cache.free(parent)
    assert cache.blocks_in_use == 2, "a shared block stays while a table holds it"
    cache.free(child)
    assert cache.blocks_in_use == 0


def test_batched_sampling_gives_each_prompt_its_seeded_stream():
    model = tiny_model()
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]
    settings = {"temperature": 1.0, "top_k": 20, "top_p": 0.95}
    alone = [list(stream_tokens(model, p, max_new_tokens=10, seed=7 + i, **settings)) for i, p in enumerate(prompts)]
    assert generate_batch(model, prompts, 10, seed=7, **settings) == alone


def test_stop_ids_end_each_batched_sequence_on_its_own():
    model = tiny_model()
    prompts = [[1, 2, 3], [4, 5], [9]]
    alone = [greedy(model, p, 12) for p in prompts]
    stop = alone[0][3]
    expected = [tokens[:tokens.index(stop) + 1] if stop in tokens else tokens for tokens in alone]
    assert generate_batch(model, prompts, 12, temperature=0, stop_ids={stop}) == expected
    assert [greedy(model, p, 12, stop_ids={stop}) for p in prompts] == expected


def test_sampling_with_a_seed_is_reproducible_on_smollm2(smollm2):
    model, tokenizer = smollm2
    prompt = tokenizer.encode("Once upon a time")
    state = torch.get_rng_state()
    first = list(stream_tokens(model, prompt, max_new_tokens=8, temperature=1.0, top_p=0.95, seed=1))
    assert list(stream_tokens(model, prompt, max_new_tokens=8, temperature=1.0, top_p=0.95, seed=1)) == first
    assert list(stream_tokens(model, prompt, max_new_tokens=8, temperature=1.0, top_p=0.95, seed=2)) != first
    assert torch.equal(torch.get_rng_state(), state), "sampling must not touch torch's global generator"


def test_top_k_and_top_p_properties():
    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(200, 100, generator=generator) * 3, dim=-1)
    for k in (1, 5, 50):
        kept = top_k_filter(probs, k)
        assert ((kept > 0).sum(dim=-1) == k).all()
        assert torch.allclose(kept.sum(dim=-1), torch.ones(200))
        assert torch.allclose(kept[kept > 0], (probs / (probs * (kept > 0)).sum(-1, keepdim=True))[kept > 0])
    for p in (0.1, 0.5, 0.9, 0.99):
        kept = top_p_filter(probs, p)
        assert torch.allclose(kept.sum(dim=-1), torch.ones(200), atol=1e-5)
        mask = kept > 0
        mass = (probs * mask).sum(dim=-1)
        smallest = probs.masked_fill(~mask, 2.0).min(dim=-1).values
        largest_dropped = probs.masked_fill(mask, -1.0).max(dim=-1).values
        assert (mass >= p - 1e-5).all(), "the nucleus reaches p"
        assert (mass - smallest < p).all(), "and is the smallest set that does"
        assert (smallest >= largest_dropped).all(), "it holds the most probable tokens"
    assert torch.equal(top_k_filter(probs, 0), probs) and torch.equal(top_p_filter(probs, 1.0), probs)
    logits = torch.randn(100, generator=generator)
    assert sample_token(logits, temperature=1.0, top_k=1, generator=generator) == int(logits.argmax())
    assert sample_token(logits, temperature=0.7, top_p=1e-6, generator=generator) == int(logits.argmax())


@pytest.mark.parametrize("settings, culprit", [
    ({"temperature": -0.5}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_k": -1}, "top_k"), ({"top_k": 2.5}, "top_k"),
    ({"repetition_penalty": 0.0}, "repetition_penalty"),
])
def test_bad_sampling_settings_are_refused_before_any_work(settings, culprit):
    with pytest.raises(ValueError, match=culprit):
        check_sampling(**{"temperature": 1.0, "top_k": 0, "top_p": 1.0, **settings})
    with pytest.raises(ValueError, match=culprit):
        stream_tokens(tiny_model(), [1, 2], max_new_tokens=4, **settings)  # at the call, not at the first token
    with pytest.raises(ValueError, match=culprit):
        sample_token(torch.zeros(5), **settings)


def test_bad_prompts_and_full_caches_give_clear_errors():
    model = tiny_model(max_seq_len=16)
    with pytest.raises(ValueError, match="context"):
        stream_tokens(model, list(range(16)), max_new_tokens=4)
    with pytest.raises(ValueError, match="empty"):
        stream_tokens(model, [], max_new_tokens=4)
    with pytest.raises(ValueError, match="vocabulary"):
        stream_tokens(model, [1, 50], max_new_tokens=4)
    with pytest.raises(ValueError, match="max_new_tokens"):
        stream_tokens(model, [1], max_new_tokens=-1)
    with pytest.raises(ValueError, match="holds 4 tokens"):
        KVCache(1, 2, 4, 8).update(torch.zeros(1, 2, 5, 8), torch.zeros(1, 2, 5, 8))
    with pytest.raises(ValueError, match="longer than the model's context"):
        new_kv_cache(model.config, 1, 17)
    paged = PagedKVCache(model.config, num_blocks=2, block_size=4)
    with pytest.raises(RuntimeError, match="full"):
        paged.step([paged.add_sequence()], 9)


def test_generation_ends_when_the_context_is_full():
    model = tiny_model(max_seq_len=16)
    assert len(greedy(model, list(range(10)), 100)) == 6


def test_an_abandoned_generator_leaves_nothing_broken():
    model = tiny_model()
    expected = greedy(model, [1, 2, 3], 10)
    threads, state = torch.get_num_threads(), torch.get_rng_state()
    stream = stream_tokens(model, [1, 2, 3], max_new_tokens=10, temperature=0)
    assert [next(stream), next(stream)] == expected[:2]
    assert torch.is_grad_enabled(), "a suspended generator must not switch gradients off for its caller"
    del stream
    gc.collect()
    closed = stream_tokens(model, [1, 2, 3], max_new_tokens=10, temperature=0)
    next(closed)
    closed.close()
    assert torch.is_grad_enabled() and torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), state)
    assert greedy(model, [1, 2, 3], 10) == expected


def test_interleaved_streams_do_not_disturb_each_other():
    """The server advances every request one token per round: each stream keeps its own cache and seed."""
    model = tiny_model()
    requests = [([1, 2, 3], 3), ([9, 8], 4), ([5], 5)]
    alone = [list(stream_tokens(model, p, max_new_tokens=12, temperature=0.9, seed=s)) for p, s in requests]
    streams = [stream_tokens(model, p, max_new_tokens=12, temperature=0.9, seed=s) for p, s in requests]
    together = [[] for _ in requests]
    for _ in range(12):
        for tokens, stream in zip(together, streams):
            tokens.append(next(stream))
    assert together == alone


def test_int8_weights_stay_close_to_float32_on_smollm2(smollm2):
    model, tokenizer = smollm2
    quantised = quantize_int8(copy.deepcopy(model))
    assert isinstance(quantised.embedding, Int8Weight)
    assert isinstance(quantised.layers[0].feed_forward.down_proj.weight, Int8Weight)
    assert sum(p.numel() for p in quantised.parameters()) < 100_000, "only the norms' gains stay float parameters"
    ids = torch.tensor([tokenizer.encode("The capital of France is Paris, and the capital of Germany is Berlin.")])
    with torch.no_grad():
        reference, ours = model(ids)[0], quantised(ids)[0]
    assert (reference - ours).abs().max() < 2.5
    assert (reference.argmax(-1) == ours.argmax(-1)).float().mean() >= 0.9
    prompt = tokenizer.encode("The capital of France is")
    assert greedy(quantised, prompt, 4) == greedy(model, prompt, 4)


def test_int8_weight_behaves_like_its_float_matrix():
    int8 = quantize_int8(torch.nn.Sequential(torch.nn.Linear(16, 24, bias=False)))[0].weight
    quantised = Int8Weight(int8.quantized, int8.scales)
    assert quantised.shape == (24, 16) and quantised.dtype == torch.float32 and quantised.dim() == 2
    x = torch.randn(3, 5, 16)
    exact = torch.nn.functional.linear(x, quantised.dequantize())
    assert torch.allclose(torch.nn.functional.linear(x, quantised), exact, rtol=0.02, atol=0.02), "bfloat16 activations"
    ids = torch.tensor([[3, 0], [23, 7]])
    assert torch.equal(quantised[ids], quantised.dequantize()[ids]), "an embedding lookup dequantises its rows"
    assert torch.equal(quantised + 0, quantised.dequantize()), "anything else sees the float matrix"
