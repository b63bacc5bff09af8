"""Checkpoints on disk: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint is a folder holding two files:

    tensors.safetensors   every tensor of the state (weights, optimizer moments, RNG states)
    checkpoint.json       the rest of the state, with each tensor replaced by {"tensor": name},
                          and the sha256 and size of tensors.safetensors

`save(folder, state)` takes any nest of dicts, lists, tuples, tensors, numbers, strings, booleans and
None (a model's and an optimizer's `state_dict()`, a step count, a generator's state) and
`load(folder)` gives the same nest back.

Notable choices:
- never pickle: loading a checkpoint runs no code, so a checkpoint from elsewhere is safe to open;
- atomic: the folder is written under a temporary name and renamed into place, so a crash (or
  SIGKILL) leaves either the old checkpoint or the new one, never half of one;
- checked: `load` compares the tensor file with the size and sha256 recorded in the JSON
  before reading it, and refuses a truncated or corrupt checkpoint with CheckpointError;
- dicts with integer keys (an optimizer's per-parameter state) keep them, and tuples (its
  `betas`) stay tuples: JSON alone would turn them into strings and lists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT = "lmcourse-checkpoint/1"
TENSORS = "tensors.safetensors"
MANIFEST = "checkpoint.json"
INT_KEYS = "__int_keys__"  # marks a dict whose keys were integers
TUPLE = "__tuple__"  # marks a tuple (an optimizer's betas): JSON alone would turn it into a list


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or corrupt: it is never loaded."""


def _split(state, tensors: dict[str, torch.Tensor], path: str):
    """The JSON-able skeleton of `state`; its tensors go into `tensors` under their path."""
    if isinstance(state, torch.Tensor):
        # safetensors stores contiguous, unshared tensors; clone detaches them from views and ties.
        tensors[path] = state.detach().to("cpu").contiguous().clone()
        return {"tensor": path}
    if isinstance(state, dict):
        if state and all(isinstance(key, int) and not isinstance(key, bool) for key in state):
            return {INT_KEYS: {str(key): _split(value, tensors, f"{path}.{key}") for key, value in state.items()}}
        if not all(isinstance(key, str) for key in state):
            raise TypeError(f"{path or 'state'}: a checkpoint's dict keys must be all strings or all integers")
        return {key: _split(value, tensors, f"{path}.{key}" if path else key) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        items = [_split(value, tensors, f"{path}.{index}") for index, value in enumerate(state)]
        return {TUPLE: items} if isinstance(state, tuple) else items
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"{path or 'state'}: cannot store a {type(state).__name__} in a checkpoint "
                    "(tensors, numbers, strings, booleans, None, lists, tuples and dicts only)")


def _join(skeleton, tensors: dict[str, torch.Tensor]):
    if isinstance(skeleton, dict):
        if set(skeleton) == {"tensor"} and isinstance(skeleton["tensor"], str):
            return tensors[skeleton["tensor"]]
        if set(skeleton) == {INT_KEYS}:
            return {int(key): _join(value, tensors) for key, value in skeleton[INT_KEYS].items()}
        if set(skeleton) == {TUPLE}:
            return tuple(_join(value, tensors) for value in skeleton[TUPLE])
        return {key: _join(value, tensors) for key, value in skeleton.items()}
    if isinstance(skeleton, list):
        return [_join(value, tensors) for value in skeleton]
    return skeleton


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(folder: str | Path, state: dict) -> Path:
    """Write `state` as a checkpoint folder, atomically; an existing one of that name is replaced."""
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, tensors, "")
    temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    save_file(tensors, temporary / TENSORS)
    manifest = {"format": FORMAT, "tensors": {"file": TENSORS, "bytes": (temporary / TENSORS).stat().st_size,
                                              "sha256": _sha256(temporary / TENSORS)}, "state": skeleton}
    (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    for name in (TENSORS, MANIFEST):
        _fsync(temporary / name)
    if folder.exists():
        # Renaming over a folder is not atomic; move the old one aside first, delete it after.
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        folder.rename(old)
        temporary.rename(folder)
        shutil.rmtree(old)
    else:
        temporary.rename(folder)
    _fsync(folder.parent)
    return folder


def read_manifest(folder: str | Path) -> dict:
    """The checked JSON part of a checkpoint (its `state` still holds tensor references)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a checkpoint: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is truncated or corrupt ({error}); refusing to load it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an lmcourse checkpoint (its format is not {FORMAT!r})")
    return manifest


def verify(folder: str | Path) -> dict:
    """Check a checkpoint's tensor file against its recorded size and sha256; return the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    record = manifest["tensors"]
    path = folder / record["file"]
    if not path.is_file():
        raise CheckpointError(f"{folder} is incomplete: {record['file']} is missing; refusing to load it")
    size = path.stat().st_size
    if size != record["bytes"]:
        raise CheckpointError(f"{path} is truncated or damaged: {size} bytes where {record['bytes']} were "
                              "written; refusing to load it")
    if _sha256(path) != record["sha256"]:
        raise CheckpointError(f"{path} is corrupt: its sha256 differs from the one recorded when it was "
                              "written; refusing to load it")
    return manifest


def load(folder: str | Path) -> dict:
    """The state saved by `save`, after checking its integrity (CheckpointError if it fails)."""
    folder = Path(folder)
    manifest = verify(folder)
    try:
        tensors = load_file(folder / manifest["tensors"]["file"])
    except SafetensorError as error:
        raise CheckpointError(f"{folder}: the tensor file cannot be read ({error}); refusing to load it") from None
    try:
        return _join(manifest["state"], tensors)
    except KeyError as missing:
        raise CheckpointError(f"{folder}: {MANIFEST} names tensor {missing} that the tensor file lacks") from None
