"""A trained model leaves the course: Hugging Face format and GGUF, loaded back by other software."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmcourse.model import LanguageModel, ModelConfig
from lmcourse.runs import model_export
from lmcourse.tokenizer import BPETokenizer

TEXT = "def area(r):\n    return 3.14159 * r ** 2  # ½ πr² héllo\n\n\nclass Circle:<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer():
    from lmcourse.storage import corpus

    return BPETokenizer.train(corpus.texts(max_bytes=200_000), 400, special_tokens=["<|endoftext|>"])


def small_model(tie: bool) -> LanguageModel:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=400, d_model=48, n_layers=2, n_heads=6, n_kv_heads=2, d_ff=96, rope_base=10000.0,
                         max_seq_len=64, tie_embeddings=tie)
    model = LanguageModel(config)
    with torch.no_grad():  # non-trivial gains, so that a mix-up of the norms would show
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.uniform_(0.5, 1.5)
    return model.eval()


def test_interleaved_to_halves_undoes_chapter_02s_conversion():
    from lmcourse.embeddings import half_split_to_interleaved

    weight = torch.randn(3 * 8, 5)
    assert torch.equal(half_split_to_interleaved(model_export.interleaved_to_halves(weight, 3), 3), weight)
    assert torch.equal(model_export.interleaved_to_halves(half_split_to_interleaved(weight, 3), 3), weight)


@pytest.mark.parametrize("tie", [True, False])
def test_hugging_face_export_gives_the_same_logits_and_token_ids(tmp_path, tokenizer, tie):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = small_model(tie)
    model_export.to_hugging_face(model, tokenizer, tmp_path / "hf")
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(theirs).__name__ == "LlamaForCausalLM"
    ids = torch.tensor([tokenizer.encode(TEXT, allowed_special="all")[:64]])
    with torch.no_grad():
        assert torch.allclose(model(ids), theirs(ids).logits, atol=1e-4)
    hf_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf_tokenizer.encode(TEXT) == tokenizer.encode(TEXT, allowed_special="all")
    assert hf_tokenizer.eos_token == "<|endoftext|>"


def test_gguf_export_reads_back_and_loads_in_transformers(tmp_path, tokenizer):
    import gguf
    from transformers import AutoModelForCausalLM

    model = small_model(tie=True)
    path = model_export.to_gguf(model, tokenizer, tmp_path / "model.gguf")
    reader = gguf.GGUFReader(path)
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    assert np.array_equal(tensors["token_embd.weight"], model.embedding.detach().numpy())
    assert np.array_equal(tensors["blk.1.attn_q.weight"], model.layers[1].attention.q_proj.weight.detach().numpy())
    assert "output.weight" not in tensors, "tied embeddings stay tied"
    assert reader.fields["llama.block_count"].contents() == 2
    assert reader.fields["tokenizer.ggml.tokens"].contents()[300] == model_export._byte_level(tokenizer)[0][300]

    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="model.gguf").eval()
    ids = torch.tensor([tokenizer.encode(TEXT, allowed_special="all")[:64]])
    with torch.no_grad():
        assert torch.allclose(model(ids), theirs(ids).logits, atol=1e-4)


def test_gguf_export_loads_back_into_the_course_model(tmp_path, tokenizer):
    from lmcourse.model import model_from_gguf

    model = small_model(tie=False)
    model_export.to_gguf(model, tokenizer, tmp_path / "model.gguf")
    loaded = model_from_gguf(tmp_path / "model.gguf")
    ids = torch.tensor([[1, 2, 3, 250, 399]])
    with torch.no_grad():
        assert torch.allclose(model(ids), loaded(ids), atol=1e-5)
