"""lmcourse.storage.checkpoint: atomic, pickle-free checkpoints that refuse to load when damaged."""

from __future__ import annotations

import json

import pytest
import torch

from lmcourse.storage import checkpoint
from lmcourse.storage.checkpoint import CheckpointError


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


def test_tuples_come_back_as_tuples_and_lists_as_lists(tmp_path):
    state = example_state()
    state["nest"] = ((1, [2, (3,)]), [], ())
    checkpoint.save(tmp_path / "c", state)
    loaded = checkpoint.load(tmp_path / "c")
    betas = loaded["optimizer"]["param_groups"][0]["betas"]
    assert type(betas) is tuple and betas == state["optimizer"]["param_groups"][0]["betas"]
    assert loaded["nest"] == ((1, [2, (3,)]), [], ()) and type(loaded["nest"][0][1]) is list
    assert type(loaded["flags"]) is list
    optimizer = torch.optim.AdamW(torch.nn.Linear(4, 3).parameters())
    optimizer.load_state_dict(loaded["optimizer"])
    assert optimizer.state_dict()["param_groups"][0]["betas"] == betas


class Crash(Exception):
    """A stand-in for SIGKILL at one point of `save`."""


@pytest.mark.parametrize("where", ["_fsync", "save_file"])
def test_a_crash_while_saving_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch, where):
    """Written under a temporary name and renamed: a crash at any point keeps the old checkpoint."""
    checkpoint.save(tmp_path / "c", {"step": 1, "weight": torch.zeros(64)})

    def crash(*args, **kwargs):
        if where == "save_file":  # the tensor file half written, then the process dies
            path = args[1]
            with open(path, "wb") as f:
                f.write(b"\0" * 10)
        raise Crash

    monkeypatch.setattr(checkpoint, where, crash)
    with pytest.raises(Crash):
        checkpoint.save(tmp_path / "c", {"step": 2, "weight": torch.ones(64)})
    monkeypatch.undo()
    old = checkpoint.load(tmp_path / "c")
    assert old["step"] == 1 and torch.equal(old["weight"], torch.zeros(64))


@pytest.mark.parametrize("where", ["_fsync", "save_file"])
def test_a_crash_while_saving_a_new_checkpoint_leaves_nothing_under_its_name(tmp_path, monkeypatch, where):
    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(checkpoint, where, crash)
    with pytest.raises(Crash):
        checkpoint.save(tmp_path / "new", {"step": 2, "weight": torch.ones(64)})
    assert not (tmp_path / "new").exists(), "half a checkpoint is visible under its final name"


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
