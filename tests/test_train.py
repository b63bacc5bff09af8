"""`lmcourse train`: config errors before training, exact resumption, Ctrl-C, several processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lmcourse.course.chapters import ROOT
from lmcourse.runs import config
from lmcourse.runs.config import ConfigError
from lmcourse.runs.trainer import build_model, checkpoints_in, read_log, train
from lmcourse.storage import checkpoint
from lmcourse.train import cross_entropy

SMOKE = ROOT / "configs" / "smoke.toml"
LONG = ["training.steps=200", "output.checkpoint_every=20", "training.eval_every=100"]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """A cache of tokenizers and token files for this module (child processes inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMCOURSE_CACHE", str(tmp_path_factory.mktemp("lmcourse-cache")))
        yield


def quiet(_message):
    pass


def smoke(folder: Path, *overrides: str) -> config.Config:
    return config.load(SMOKE, [f"output.dir={folder}", *overrides])


def lmcourse_train(folder: Path, *overrides: str, resume: bool = False, wait: bool = True):
    arguments = [sys.executable, "-m", "lmcourse.cli", "train", str(SMOKE), "--set", f"output.dir={folder}"]
    for override in overrides:
        arguments += ["--set", override]
    arguments += ["--resume"] if resume else []
    if wait:
        return subprocess.run(arguments, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def train_losses(folder: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_log(folder / "log.jsonl") if r["kind"] == "train"}


def wait_for_checkpoint(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not checkpoints_in(folder / "checkpoints"):
        assert process.poll() is None, f"the run ended early: {process.stderr.read()}"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[int, float]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = train(smoke(folder, *LONG), log=quiet, progress=False)
    assert result.steps == 200 and not result.interrupted
    return train_losses(folder)


# -- bad input: clear errors before anything trains ---------------------------------------------

@pytest.mark.parametrize("override,message", [
    ("training.setps=10", r"unknown key 'training.setps'.*did you mean 'steps'"),
    ("model.dimension=64", r"unknown key 'model.dimension'"),
    ("trainng.steps=10", r"unknown key 'trainng'"),
    ("model.vocab_size=70000", r"vocab_size = 70000 does not fit the uint16 token files"),
    ("data.context_length=64", r"data.context_length = 64 is longer than the model's context"),
    ("training.batch_size=6", r"batch_size = 6 is not a multiple of training.micro_batch_size = 4"),
    ("training.steps=abc", r"training.steps = 'abc' in --set training.steps=abc: expected an integer"),
    ("schedule.warmup_steps=50", r"leaves no steps to decay over"),
])
def test_bad_config_is_refused_with_a_clear_message(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        smoke(tmp_path, override)


def test_bad_config_on_the_command_line_exits_before_training(tmp_path):
    run = lmcourse_train(tmp_path / "run", "data.context_length=4096")
    assert run.returncode == 2 and "is longer than the model's context" in run.stderr, run.stderr
    assert not (tmp_path / "run").exists(), "nothing is written before the config is checked"


def test_yaml_config_and_override_types(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("training:\n  steps: 12\n  seed: 3\nschedule:\n  max_lr: 1\n  warmup_steps: 2\nmodel:\n  vocab_size: 512\n")
    loaded = config.load(path, ["optimizer.weight_decay=0", "output.prompt=class"])
    assert loaded.training.steps == 12 and loaded.schedule.max_lr == 1.0 and isinstance(loaded.schedule.max_lr, float)
    assert loaded.optimizer.weight_decay == 0.0 and loaded.output.prompt == "class"


def test_shipped_configs_are_valid():
    for path in sorted((ROOT / "configs").glob("*.toml")):
        config.load(path)


# -- a run and its outputs ----------------------------------------------------------------------

def test_a_short_run_writes_its_outputs_and_learns(tmp_path):
    result = train(smoke(tmp_path / "run", "training.steps=40"), log=quiet, progress=False)
    folder = tmp_path / "run"
    for name in ("log.jsonl", "loss.csv", "loss.png", "summary.json", "tokenizer.json"):
        assert (folder / name).is_file(), name
    assert [p.name for p in checkpoints_in(folder / "checkpoints")] == ["step-0000032", "step-0000040"]
    assert result.validation_loss < result.uniform_loss - 0.5, "40 steps must already beat a uniform guess"
    assert len(result.samples) == 1 and result.samples[0].startswith("def")
    header = (folder / "loss.csv").read_text().splitlines()[0]
    assert header == "step,tokens,lr,train_loss,grad_norm,validation_loss"


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    train(smoke(tmp_path, "training.steps=8"), log=quiet, progress=False)
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        train(smoke(tmp_path, "training.steps=8"), log=quiet, progress=False)


# -- interruption and exact resumption ----------------------------------------------------------

def test_resume_after_sigkill_gives_the_uninterrupted_losses(tmp_path, uninterrupted):
    folder = tmp_path / "killed"
    process = lmcourse_train(folder, *LONG, wait=False)
    wait_for_checkpoint(folder, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = int(checkpoints_in(folder / "checkpoints")[-1].name.split("-")[1])
    assert killed_at < 200, "the run was to be killed halfway"
    train(smoke(folder, *LONG), resume=True, log=quiet, progress=False)
    assert train_losses(folder) == uninterrupted, "after resuming, every loss equals the uninterrupted run's"


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_exactly(tmp_path, uninterrupted):
    folder = tmp_path / "interrupted"
    process = lmcourse_train(folder, *LONG, wait=False)
    wait_for_checkpoint(folder, process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    last = checkpoints_in(folder / "checkpoints")[-1]
    stopped_at = int(last.name.split("-")[1])
    assert stopped_at < 200 and max(train_losses(folder)) == stopped_at, "the checkpoint is of the last step"
    assert f"stopped at step {stopped_at}" in process.stdout.read()
    train(smoke(folder, *LONG), resume=True, log=quiet, progress=False)
    assert train_losses(folder) == uninterrupted


def test_a_corrupt_latest_checkpoint_is_refused_on_resume(tmp_path):
    train(smoke(tmp_path, "training.steps=16"), log=quiet, progress=False)
    latest = checkpoints_in(tmp_path / "checkpoints")[-1]
    tensors = latest / checkpoint.TENSORS
    tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])
    with pytest.raises(checkpoint.CheckpointError, match=f"truncated or damaged.*\n.*delete {latest}"):
        train(smoke(tmp_path, "training.steps=16"), resume=True, log=quiet, progress=False)


def test_resume_with_a_changed_config_is_refused(tmp_path):
    train(smoke(tmp_path, "training.steps=16"), log=quiet, progress=False)
    with pytest.raises(ConfigError, match=r"differs from the one .* \(schedule.max_lr\)"):
        train(smoke(tmp_path, "training.steps=16", "schedule.max_lr=0.5"), resume=True, log=quiet, progress=False)


# -- several processes --------------------------------------------------------------------------

def test_two_processes_match_one(tmp_path):
    single = tmp_path / "single"
    train(smoke(single), log=quiet, progress=False)
    double = tmp_path / "double"
    gradients = tmp_path / "gradients.safetensors"
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(Path(__file__).parent / "ddp_worker.py"), str(SMOKE), str(gradients),
                          f"output.dir={double}"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stdout + run.stderr

    settings = smoke(single)
    model = build_model(settings)
    from lmcourse.data import get_batch
    from lmcourse.runs import token_cache

    data = token_cache.prepare(settings.data, 512, log=quiet)
    inputs, targets = get_batch(data.train, settings.training.batch_size, settings.data.context_length,
                                torch.Generator().manual_seed(settings.training.seed))
    cross_entropy(model(inputs), targets).backward()
    two_process = load_file(gradients)
    for name, parameter in model.named_parameters():
        assert torch.allclose(two_process[name], parameter.grad, atol=1e-6, rtol=1e-4), name

    one, two = train_losses(single), train_losses(double)
    assert one.keys() == two.keys()
    assert all(abs(one[s] - two[s]) < 1e-4 for s in one), "the same batches, so (nearly) the same losses"
    final_one = checkpoint.load(checkpoints_in(single / "checkpoints")[-1])["model"]
    final_two = checkpoint.load(checkpoints_in(double / "checkpoints")[-1])["model"]
    for name in final_one:
        assert torch.allclose(final_one[name], final_two[name], atol=1e-4), name
