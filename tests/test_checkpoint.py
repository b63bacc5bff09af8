"""lmcourse.checkpoint: atomic, pickle-free checkpoints that refuse to load when damaged."""

from __future__ import annotations

import json

import pytest
import torch

from lmcourse import checkpoint
from lmcourse.checkpoint import CheckpointError


def example_state() -> dict:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": 7, "note": "hello",
            "nothing": None, "flags": [True, 1.5, "x"], "generator": torch.Generator().manual_seed(3).get_state()}


def test_round_trip_keeps_tensors_numbers_and_integer_keys(tmp_path):
    state = example_state()
    checkpoint.save(tmp_path / "step-1", state)
    loaded = checkpoint.load(tmp_path / "step-1")
    assert loaded["step"] == 7 and loaded["note"] == "hello" and loaded["nothing"] is None
    assert loaded["flags"] == [True, 1.5, "x"]
    assert sorted(loaded["optimizer"]["state"]) == [0, 1], "integer keys stay integers"
    for key, value in state["model"].items():
        assert torch.equal(loaded["model"][key], value)
    assert torch.equal(loaded["generator"], state["generator"])
    assert loaded["optimizer"]["param_groups"][0]["lr"] == state["optimizer"]["param_groups"][0]["lr"]


def test_no_pickle_anywhere(tmp_path):
    checkpoint.save(tmp_path / "c", example_state())
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [checkpoint.MANIFEST, checkpoint.TENSORS]
    manifest = json.loads((tmp_path / "c" / checkpoint.MANIFEST).read_text())
    assert manifest["format"] == checkpoint.FORMAT and len(manifest["tensors"]["sha256"]) == 64


def test_saving_again_replaces_and_leaves_no_temporary_folders(tmp_path):
    checkpoint.save(tmp_path / "c", {"step": 1})
    checkpoint.save(tmp_path / "c", {"step": 2})
    assert checkpoint.load(tmp_path / "c")["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_truncated_tensor_file_is_refused(tmp_path):
    checkpoint.save(tmp_path / "c", example_state())
    tensors = tmp_path / "c" / checkpoint.TENSORS
    tensors.write_bytes(tensors.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated or damaged.*refusing to load"):
        checkpoint.load(tmp_path / "c")


def test_corrupt_tensor_file_is_refused(tmp_path):
    checkpoint.save(tmp_path / "c", example_state())
    tensors = tmp_path / "c" / checkpoint.TENSORS
    data = bytearray(tensors.read_bytes())
    data[len(data) // 2] ^= 0x01
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt: its sha256 differs"):
        checkpoint.load(tmp_path / "c")


def test_truncated_or_missing_manifest_is_refused(tmp_path):
    checkpoint.save(tmp_path / "c", example_state())
    manifest = tmp_path / "c" / checkpoint.MANIFEST
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        checkpoint.load(tmp_path / "c")
    manifest.unlink()
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        checkpoint.load(tmp_path / "c")


def test_unstorable_values_are_named(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        checkpoint.save(tmp_path / "c", {"bad": {1, 2}})
