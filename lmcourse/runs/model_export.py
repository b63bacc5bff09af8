"""Export a model trained with `lmcourse train`: to Hugging Face's format and to GGUF.

- `to_hugging_face(model, tokenizer, folder)`: `config.json` (LlamaConfig), `model.safetensors`
  and a `tokenizer.json`: `transformers.AutoModelForCausalLM.from_pretrained(folder)` and
  `AutoTokenizer.from_pretrained(folder)` load it, and give the same logits and token ids.
- `to_gguf(model, tokenizer, path)`: one GGUF file (architecture "llama", float32 tensors, the
  BPE vocabulary and merges) of the kind llama.cpp runs, and `transformers` reads with `gguf_file=`.

Notable choices:
- the course's model rotates interleaved pairs of query/key features (x[2i], x[2i+1]), as
  GGUF does, so GGUF gets the weights as they are; Hugging Face's Llama rotates the two halves
  of each head (x[i], x[i + d/2]), so its query and key rows are reordered once, here;
- tied input and output embeddings stay tied (no separate `lm_head` / `output` tensor);
- the tokenizer's pre-tokenizer regexes become Hugging Face `Split` steps, applied in order
  before the byte-level mapping, so the exported tokenizer cuts text exactly as chapter 01's does.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from lmcourse.tokenizer import SMOLLM2_PATTERNS, bytes_to_unicode

ENDOFTEXT = "<|endoftext|>"


def architecture(model: torch.nn.Module) -> dict:
    """The model's shape in Llama's terms (from chapter 04's ModelConfig)."""
    c = model.config
    return {"vocab_size": c.vocab_size, "dim": c.d_model, "n_layers": c.n_layers, "n_heads": c.n_heads,
            "n_kv_heads": c.n_kv_heads, "hidden_dim": c.d_ff, "context": c.max_seq_len,
            "rope_theta": float(c.rope_base), "norm_eps": float(c.norm_eps), "tied": bool(c.tie_embeddings)}


def llama_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights under short Llama names (GGUF's layout: interleaved rotary pairs)."""
    shape = architecture(model)
    weights = {"embed": model.embedding, "norm": model.norm.weight}
    if not shape["tied"]:
        weights["output"] = model.output
    for i, layer in enumerate(model.layers):
        attention, feed_forward = layer.attention, layer.feed_forward
        weights |= {f"{i}.attn_norm": layer.attention_norm.weight, f"{i}.q": attention.q_proj.weight,
                    f"{i}.k": attention.k_proj.weight, f"{i}.v": attention.v_proj.weight,
                    f"{i}.o": attention.o_proj.weight, f"{i}.mlp_norm": layer.feed_forward_norm.weight,
                    f"{i}.gate": feed_forward.gate_proj.weight, f"{i}.up": feed_forward.up_proj.weight,
                    f"{i}.down": feed_forward.down_proj.weight}
    return {name: w.detach().to("cpu", torch.float32).contiguous() for name, w in weights.items()}


def interleaved_to_halves(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Reorder the rows of a query/key projection from rotary pairs (2i, 2i+1) to (i, i + d/2).

    weight: (n_heads * head_dim, dim). Within each head, rows 0, 2, 4, ... come first, then 1, 3, 5, ...
    """
    rows, dim = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, head_dim // 2, 2, dim).transpose(1, 2).reshape(rows, dim).contiguous()


def _byte_level(tokenizer) -> tuple[dict[int, str], list[tuple[str, str]]]:
    """Each token's text in GPT-2's byte-to-character mapping, and the merges in the order learned."""
    table = bytes_to_unicode()
    tokens = {token_id: "".join(table[b] for b in token) for token_id, token in tokenizer.vocab.items()}
    tokens |= {token_id: text for text, token_id in tokenizer.special_tokens.items()}
    merges = [(tokens[left], tokens[right]) for (left, right), _ in sorted(tokenizer.merges.items(), key=lambda m: m[1])]
    return tokens, merges


def _endoftext(tokenizer) -> int | None:
    return tokenizer.special_tokens.get(ENDOFTEXT)


def hugging_face_tokenizer(tokenizer):
    """A `tokenizers.Tokenizer` that encodes like the chapter 01 tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from tokenizers import AddedToken

    tokens, merges = _byte_level(tokenizer)
    hf = Tokenizer(models.BPE(vocab={text: token_id for token_id, text in tokens.items()}, merges=merges))
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(pattern), behavior="isolated") for pattern in tokenizer.patterns]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens([AddedToken(text, special=True, normalized=False)
                           for text, _ in sorted(tokenizer.special_tokens.items(), key=lambda item: item[1])])
    return hf


def to_hugging_face(model: torch.nn.Module, tokenizer, folder: str | Path) -> Path:
    """Write config.json, model.safetensors, tokenizer.json and tokenizer_config.json to folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shape, weights = architecture(model), llama_weights(model)
    eot = _endoftext(tokenizer)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": shape["vocab_size"], "hidden_size": shape["dim"], "intermediate_size": shape["hidden_dim"],
        "num_hidden_layers": shape["n_layers"], "num_attention_heads": shape["n_heads"],
        "num_key_value_heads": shape["n_kv_heads"], "head_dim": shape["dim"] // shape["n_heads"],
        "max_position_embeddings": shape["context"], "rms_norm_eps": shape["norm_eps"],
        "rope_theta": shape["rope_theta"], "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "tie_word_embeddings": shape["tied"], "bos_token_id": eot, "eos_token_id": eot, "torch_dtype": "float32",
    }
    tensors = {"model.embed_tokens.weight": weights["embed"], "model.norm.weight": weights["norm"]}
    if not shape["tied"]:
        tensors["lm_head.weight"] = weights["output"]
    for i in range(shape["n_layers"]):
        prefix = f"model.layers.{i}"
        tensors |= {
            f"{prefix}.input_layernorm.weight": weights[f"{i}.attn_norm"],
            f"{prefix}.self_attn.q_proj.weight": interleaved_to_halves(weights[f"{i}.q"], shape["n_heads"]),
            f"{prefix}.self_attn.k_proj.weight": interleaved_to_halves(weights[f"{i}.k"], shape["n_kv_heads"]),
            f"{prefix}.self_attn.v_proj.weight": weights[f"{i}.v"],
            f"{prefix}.self_attn.o_proj.weight": weights[f"{i}.o"],
            f"{prefix}.post_attention_layernorm.weight": weights[f"{i}.mlp_norm"],
            f"{prefix}.mlp.gate_proj.weight": weights[f"{i}.gate"],
            f"{prefix}.mlp.up_proj.weight": weights[f"{i}.up"],
            f"{prefix}.mlp.down_proj.weight": weights[f"{i}.down"],
        }
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    hugging_face_tokenizer(tokenizer).save(str(folder / "tokenizer.json"))
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": shape["context"],
                        "clean_up_tokenization_spaces": False}
    if eot is not None:
        tokenizer_config |= {"bos_token": ENDOFTEXT, "eos_token": ENDOFTEXT}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=1) + "\n", encoding="utf-8")
    return folder


def to_gguf(model: torch.nn.Module, tokenizer, path: str | Path) -> Path:
    """Write the model and its tokenizer to one GGUF file (float32), llama.cpp's format."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape, weights = architecture(model), llama_weights(model)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("lmcourse model")
    writer.add_context_length(shape["context"])
    writer.add_embedding_length(shape["dim"])
    writer.add_block_count(shape["n_layers"])
    writer.add_feed_forward_length(shape["hidden_dim"])
    writer.add_head_count(shape["n_heads"])
    writer.add_head_count_kv(shape["n_kv_heads"])
    writer.add_rope_dimension_count(shape["dim"] // shape["n_heads"])
    writer.add_rope_freq_base(shape["rope_theta"])
    writer.add_layer_norm_rms_eps(shape["norm_eps"])
    writer.add_vocab_size(shape["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    tokens, merges = _byte_level(tokenizer)
    # GGUF lists a text for every id up to the model's vocabulary; ids the tokenizer lacks are unused.
    token_list = [tokens.get(i, f"<unused{i}>") for i in range(shape["vocab_size"])]
    special_ids = set(tokenizer.special_tokens.values())
    token_types = [gguf.TokenType.CONTROL if i in special_ids else
                   gguf.TokenType.NORMAL if i in tokens else gguf.TokenType.UNUSED for i in range(shape["vocab_size"])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm" if tuple(tokenizer.patterns) == SMOLLM2_PATTERNS else "gpt-2")
    writer.add_token_list(token_list)
    writer.add_token_types(token_types)
    writer.add_token_merges([f"{left} {right}" for left, right in merges])
    eot = _endoftext(tokenizer)
    if eot is not None:
        writer.add_bos_token_id(eot)
        writer.add_eos_token_id(eot)
    writer.add_add_bos_token(False)

    writer.add_tensor("token_embd.weight", weights["embed"].numpy())
    for i in range(shape["n_layers"]):
        for ours, theirs in (("attn_norm", "attn_norm"), ("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"),
                             ("o", "attn_output"), ("mlp_norm", "ffn_norm"), ("gate", "ffn_gate"),
                             ("up", "ffn_up"), ("down", "ffn_down")):
            writer.add_tensor(f"blk.{i}.{theirs}.weight", weights[f"{i}.{ours}"].numpy())
    writer.add_tensor("output_norm.weight", weights["norm"].numpy())
    if not shape["tied"]:
        writer.add_tensor("output.weight", weights["output"].numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
