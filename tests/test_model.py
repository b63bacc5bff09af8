"""Chapter 04's package module, `lmcourse.model`: the parts, the model, and SmolLM2 against `transformers`.

The SmolLM2 tests load the model twice (the course's loader and `transformers`' own GGUF conversion),
once per module: together about 20 s of the run.
"""

from __future__ import annotations

import dataclasses
import doctest
import math

import gguf
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lmcourse.model
from lmcourse.model import (LanguageModel, ModelConfig, count_parameters, greedy_generate,
                            init_weights, layer_norm, load_pretrained, model_from_gguf, rms_norm, silu, swiglu)
from lmcourse.storage.pretrained import chat_template, pretrained_path, read_tensors, render_chat, transformers_reference

SMALL = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48, max_seq_len=32)


def test_docstring_examples():
    assert doctest.testmod(lmcourse.model, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_norms_and_activations_match_torch():
    x = torch.randn(2, 5, 16, dtype=torch.float64) * 1e-2
    weight, bias = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    assert torch.allclose(rms_norm(x, weight, 1e-5), F.rms_norm(x, (16,), weight, eps=1e-5))
    assert torch.allclose(layer_norm(x, weight, bias, 1e-5), F.layer_norm(x, (16,), weight, bias, eps=1e-5))
    assert torch.allclose(silu(x * 100), F.silu(x * 100))
    w_gate, w_up, w_down = torch.randn(24, 16).double(), torch.randn(24, 16).double(), torch.randn(16, 24).double()
    assert torch.allclose(swiglu(x, w_gate, w_up, w_down), F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down))


def test_model_is_causal_and_returns_logits_for_every_position():
    model = LanguageModel(SMALL)
    ids = torch.randint(0, 64, (3, 10))
    with torch.no_grad():
        logits = model(ids)
        changed = ids.clone()
        changed[:, 6:] = (changed[:, 6:] + 1) % 64
        assert torch.allclose(model(changed)[:, :6], logits[:, :6], atol=1e-5)
    assert logits.shape == (3, 10, 64) and logits.dtype == torch.float32


def test_tied_and_untied_output():
    tied = LanguageModel(SMALL)
    assert tied.output is None
    untied = LanguageModel(ModelConfig(**{**SMALL.__dict__, "tie_embeddings": False}))
    assert untied.output.shape == (64, 32) and untied.output is not untied.embedding
    ids = torch.randint(0, 64, (1, 5))
    with torch.no_grad():
        untied.output.copy_(tied.embedding)
        for name, parameter in untied.named_parameters():
            if name != "output":
                parameter.copy_(tied.get_parameter(name))
        assert torch.equal(untied(ids), tied(ids)), "an untied copy of the table computes the same logits"
        untied.output.add_(0.1)
        assert not torch.allclose(untied(ids), tied(ids))


@pytest.mark.parametrize("config", [
    SMALL,
    ModelConfig(vocab_size=50, d_model=24, n_layers=3, n_heads=6, n_kv_heads=6, d_ff=40, tie_embeddings=False),
    ModelConfig(),  # SmolLM2-135M
])
def test_parameter_formula_matches_the_module(config):
    with torch.device("meta"):
        model = LanguageModel(config)
    assert count_parameters(config) == sum(p.numel() for p in model.parameters())


def test_twelve_d_squared_per_layer_at_gpt3_scale():
    # SwiGLU with d_ff = 8/3 d has the 8 d^2 of a 4d-wide two-matrix MLP: 12 d^2 per layer
    gpt3 = ModelConfig(vocab_size=50_257, d_model=12_288, n_layers=96, n_heads=96, n_kv_heads=96, d_ff=32_768)
    body = count_parameters(gpt3) - 50_257 * 12_288 - 12_288 * (1 + 2 * 96)
    assert body == 96 * 12 * 12_288**2
    assert round(96 * 12 * 12_288**2 / 1e9) == 174 and 50_257 * 12_288 == 617_558_016


def test_init_scales_the_residual_projections():
    config = ModelConfig(vocab_size=500, d_model=128, n_layers=6, n_heads=4, n_kv_heads=4, d_ff=256)
    torch.manual_seed(0)
    model = LanguageModel(config)
    assert model.embedding.std().item() == pytest.approx(0.02, rel=0.03)
    assert model.layers[0].attention.q_proj.weight.std().item() == pytest.approx(0.02, rel=0.03)
    assert model.layers[3].feed_forward.down_proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(12), rel=0.03)
    assert torch.equal(model.norm.weight, torch.ones(128))
    init_weights(model, config.n_layers, std=0.1)
    assert model.layers[2].attention.o_proj.weight.std().item() == pytest.approx(0.1 / math.sqrt(12), rel=0.03)


def test_random_model_predicts_about_uniformly():
    torch.manual_seed(0)
    model = LanguageModel(SMALL)
    ids = torch.randint(0, 64, (4, 16))
    with torch.no_grad():
        loss = F.cross_entropy(model(ids)[:, :-1].reshape(-1, 64), ids[:, 1:].reshape(-1))
    assert loss.item() == pytest.approx(math.log(64), abs=0.05)


@pytest.mark.parametrize("changes,message", [
    ({"n_heads": 7}, "d_model = 576 is not divisible by n_heads = 7"),
    ({"n_kv_heads": 2}, "n_heads = 9 is not a multiple of n_kv_heads = 2"),
    ({"d_model": 27, "n_heads": 9}, "head size d_model / n_heads = 3 must be even"),
    ({"n_layers": 0}, "n_layers must be at least 1"),
])
def test_impossible_configs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**changes)


@pytest.mark.parametrize("ids,error,message", [
    (torch.zeros(5, dtype=torch.long), ValueError, r"ids must be a \(batch, time\) tensor of token ids, got shape \(5,\)"),
    (torch.zeros(1, 5), TypeError, "token ids must be an integer tensor"),
    (torch.full((1, 5), 64), IndexError, "token id 64 is outside the embedding table"),
    (torch.zeros(1, 33, dtype=torch.long), ValueError, "33 tokens are more than the model's context of max_seq_len = 32"),
])
def test_bad_input_is_a_clear_error(ids, error, message):
    with pytest.raises(error, match=message):
        LanguageModel(SMALL)(ids)


def write_llama_gguf(path, model: LanguageModel) -> None:
    """A GGUF file of a small float32 Llama model, written as llama.cpp names things."""
    config = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_vocab_size(config.vocab_size)
    writer.add_context_length(config.max_seq_len)
    writer.add_embedding_length(config.d_model)
    writer.add_block_count(config.n_layers)
    writer.add_feed_forward_length(config.d_ff)
    writer.add_head_count(config.n_heads)
    writer.add_head_count_kv(config.n_kv_heads)
    writer.add_rope_freq_base(config.rope_base)
    writer.add_layer_norm_rms_eps(config.norm_eps)
    names = {value: key for key, value in lmcourse.model.GGUF_BLOCK_TENSORS.items()}
    for name, tensor in model.state_dict().items():
        if name.startswith("layers."):
            _, index, rest = name.split(".", 2)
            name = f"blk.{index}.{names[rest]}"
        else:
            name = {"embedding": "token_embd.weight", "norm.weight": "output_norm.weight", "output": "output.weight"}[name]
        writer.add_tensor(name, tensor.numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("tied", [True, False])
def test_gguf_round_trip(tmp_path, tied):
    model = LanguageModel(ModelConfig(**{**SMALL.__dict__, "tie_embeddings": tied}))
    write_llama_gguf(tmp_path / "small.gguf", model)
    loaded = model_from_gguf(tmp_path / "small.gguf")
    assert loaded.config.norm_eps == pytest.approx(model.config.norm_eps)  # stored as a float32
    assert dataclasses.replace(loaded.config, norm_eps=model.config.norm_eps) == model.config
    ids = torch.randint(0, 64, (2, 9))
    with torch.no_grad():
        assert torch.allclose(loaded(ids), model(ids), atol=1e-6)


def test_gguf_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="holds a model of architecture 'gpt2'; LanguageModel runs Llama-architecture"):
        model_from_gguf(path)


def test_not_a_gguf_file(tmp_path):
    (tmp_path / "notes.gguf").write_text("hello")
    with pytest.raises(ValueError, match="is not a readable GGUF file"):
        model_from_gguf(tmp_path / "notes.gguf")
    with pytest.raises(ValueError, match="no pretrained model 'gpt-5'"):
        load_pretrained("gpt-5")


def test_greedy_generate_stops_at_a_stop_token():
    class Countdown(torch.nn.Module):
        def forward(self, ids):
            return F.one_hot((ids - 1) % 10, 10).float()

    assert greedy_generate(Countdown(), [5], 10, stop_ids={2}) == [4, 3, 2]


# SmolLM2-135M-Instruct on the course's code against transformers' own conversion of the same file

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "Gravity is the force by which a planet or other body draws objects toward its center. " * 6,
    "12 + 30 = 42, and 7 * 8 =",
]


@pytest.fixture(scope="module")
def smollm2():
    return load_pretrained("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def reference():
    return transformers_reference(pretrained_path("smollm2-135m-instruct"))


def test_smollm2_config(smollm2):
    model, tokenizer = smollm2
    assert model.config == ModelConfig(norm_eps=model.config.norm_eps)  # the defaults are SmolLM2's
    assert model.config.norm_eps == pytest.approx(1e-5) and model.output is None
    assert count_parameters(model.config) == sum(p.numel() for p in model.parameters()) == 134_515_008


@pytest.mark.parametrize("prompt", PROMPTS + ["chat"])
def test_smollm2_logits_match_transformers(smollm2, reference, prompt):
    model, tokenizer = smollm2
    if prompt == "chat":
        prompt = render_chat(chat_template(pretrained_path("smollm2-135m-instruct")),
                             [{"role": "user", "content": "What is the capital of France?"}])
    ids = torch.tensor([tokenizer.encode(prompt, allowed_special="all")])
    with torch.no_grad():
        difference = (model(ids) - reference(ids).logits).abs().max().item()
    assert difference < 1e-3, f"max abs logit difference {difference:.2e} over {ids.shape[1]} positions"


def test_smollm2_batch_matches_transformers(smollm2, reference):
    model, tokenizer = smollm2
    first, second = tokenizer.encode("I like to read books about"), tokenizer.encode("Python is a programming language")
    ids = torch.tensor([first[:5], second[:5]])
    with torch.no_grad():
        assert (model(ids) - reference(ids).logits).abs().max().item() < 1e-3


def test_smollm2_greedy_64_tokens_match_transformers(smollm2, reference):
    model, tokenizer = smollm2
    prompt = tokenizer.encode("Once upon a time, in a small village by the sea,")
    ours = greedy_generate(model, prompt, 64)
    with torch.no_grad():
        theirs = reference.generate(torch.tensor([prompt]), max_new_tokens=64, do_sample=False)[0, len(prompt):].tolist()
    assert len(ours) == 64 and ours == theirs, (tokenizer.decode(ours), tokenizer.decode(theirs))


def test_smollm2_answers_a_question(smollm2):
    model, tokenizer = smollm2
    path = pretrained_path("smollm2-135m-instruct")
    prompt = render_chat(chat_template(path), [{"role": "user", "content": "What is the capital of France?"}])
    assert prompt == ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
                      "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    answer = greedy_generate(model, tokenizer.encode(prompt, allowed_special="all"), 20, stop_ids={2})
    assert tokenizer.decode(answer) == "The capital of France is Paris.<|im_end|>"


def test_pretrained_files_and_templates_refuse_bad_input():
    path = pretrained_path("smollm2-135m-instruct")
    with pytest.raises(KeyError, match="has no tensor 'blk.99.attn_q.weight'"):
        read_tensors(path, ["blk.99.attn_q.weight"])
    with pytest.raises(ValueError, match="keys 'role' and 'content'"):
        render_chat(chat_template(path), [{"role": "user", "text": "Hi"}])
