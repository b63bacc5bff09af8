"""The loop behind `lmcourse train`: data, model, optimizer, schedule, evaluation, checkpoints.

It drives the functions of chapter 05 (`get_batch`, `cross_entropy`, `AdamW`, `cosine_schedule`,
`clip_grad_norm`, `train_step`, `save_checkpoint`, `load_checkpoint`, `generate`) on chapter 04's
model, so the command runs on the student's own code.

Notable choices:
- every process draws the same global batch from the same generator and takes its share of the
  rows, so a run's batches, and (up to float rounding) its losses, do not depend on the number of
  processes; gradient accumulation splits each process's share into micro-batches;
- several processes run under PyTorch's own engine: `torchrun --nproc_per_node N -m lmcourse.cli
  train CONFIG` (DistributedDataParallel; gloo on CPUs, NCCL on GPUs), on one machine or many;
- a checkpoint holds the weights, AdamW's state, the step and the batch generator's state, so
  `--resume` continues exactly: the losses after it are those the uninterrupted run would have
  had. Ctrl-C (or SIGTERM) finishes the current step and writes a checkpoint before stopping;
- evaluation uses the same validation windows every time, so its curve is not noisier than
  the model; samples use their own generator, so printing them does not change training;
- rank 0 alone writes: `log.jsonl` (a record per step and per evaluation), `loss.csv`,
  `loss.png`, `checkpoints/step-NNNNNNN/`, `summary.json`, and at the end the exports
  (`hf/`, `model.gguf`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from lmcourse.runs import config as configuration
from lmcourse.runs.config import Config, ConfigError
from lmcourse.storage.checkpoint import CheckpointError

CHECKPOINT_PREFIX = "step-"
# Keys that may change between a run and its resumption: they do not change what is computed.
RESUMABLE_CHANGES = {"training.eval_every", "training.eval_batches", "training.threads",
                     "output.dir", "output.checkpoint_every", "output.keep_checkpoints", "output.samples",
                     "output.sample_tokens", "output.temperature", "output.prompt", "output.export"}


@dataclass
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def mean(self, values: list[float]) -> list[float]:
        """The mean of each value over all processes."""
        if self.size == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return (tensor / self.size).tolist()


def setup_world(device: str = "auto") -> World:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); pick the device."""
    cuda = torch.cuda.is_available() and device != "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device = \"cuda\" but PyTorch sees no CUDA device; use \"auto\" or \"cpu\"")
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(device=torch.device("cuda" if cuda else "cpu"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    return World(rank=dist.get_rank(), size=dist.get_world_size(),
                 device=torch.device("cuda", local_rank) if cuda else torch.device("cpu"))


def build_model(config: Config, device: torch.device = torch.device("cpu")) -> torch.nn.Module:
    """Chapter 04's model with the [model] settings, initialised from training.seed."""
    from lmcourse.model import LanguageModel, ModelConfig

    torch.manual_seed(config.training.seed)
    return LanguageModel(ModelConfig(**config.model)).to(device)


def local_batches(inputs: torch.Tensor, targets: torch.Tensor, world: World, micro_batch: int,
                  device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This process's share of a global batch, cut into micro-batches: rows rank*B/W .. (rank+1)*B/W."""
    share = inputs.shape[0] // world.size
    mine = slice(world.rank * share, (world.rank + 1) * share)
    return [(inputs[mine][i : i + micro_batch].to(device), targets[mine][i : i + micro_batch].to(device))
            for i in range(0, share, micro_batch)]


def checkpoints_in(folder: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first (temporary ones start with a dot and are skipped)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX))


def load_trained(path: str | Path):
    """(model, tokenizer) of a training run, for inference (`lmcourse serve --model PATH`).

    path: the run's folder (output.dir: its latest checkpoint) or one of its checkpoint folders. The
    checkpoint is verified first: a corrupt or truncated one raises CheckpointError, never loads.
    """
    from lmcourse.model import LanguageModel, ModelConfig
    from lmcourse.storage import checkpoint
    from lmcourse.tokenizer import BPETokenizer

    path = Path(path)
    if (path / "checkpoints").is_dir():
        found = checkpoints_in(path / "checkpoints")
        if not found:
            raise CheckpointError(f"{path / 'checkpoints'} holds no complete checkpoint")
        path = found[-1]
    state = checkpoint.load(path)
    try:
        model = LanguageModel(ModelConfig(**state["extra"]["config"]["model"]))
    except (KeyError, TypeError):
        raise CheckpointError(f"{path} was not written by `lmcourse train`: it names no model config") from None
    model.load_state_dict(state["model"])
    tokenizer_file = path.parent.parent / "tokenizer.json"  # RUN/checkpoints/step-N -> RUN/tokenizer.json
    if not tokenizer_file.is_file():
        raise CheckpointError(f"{tokenizer_file} is missing: the run's tokenizer is needed to read and write text")
    return model.eval(), BPETokenizer.load(tokenizer_file)


def _differences(old: dict, new: dict) -> list[str]:
    keys = []
    for section in old.keys() | new.keys():
        for key in old.get(section, {}).keys() | new.get(section, {}).keys():
            if old.get(section, {}).get(key) != new.get(section, {}).get(key):
                keys.append(f"{section}.{key}")
    return sorted(k for k in keys if k not in RESUMABLE_CHANGES)


def read_log(path: Path) -> list[dict]:
    """The records of a log.jsonl; a line torn by a crash (the last one) is skipped."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class StopRequest:
    """Ctrl-C or SIGTERM asks the loop to stop after the current step; a second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:
            pass  # not the main thread: signals stay as they are
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class RunResult:
    """What a training run did; also written to summary.json."""

    folder: str
    steps: int
    parameters: int
    tokens: int
    tokens_per_parameter: float
    train_seconds: float
    tokens_per_second: float
    validation_loss: float
    unigram_loss: float
    uniform_loss: float
    samples: list[str]
    interrupted: bool = False


class Trainer:
    """One training run of a checked Config; `run()` trains it to the end (or to Ctrl-C)."""

    def __init__(self, config: Config, resume: bool = False, log: Callable[[str], None] = print,
                 progress: bool | None = None):
        from lmcourse.runs import token_cache
        from lmcourse.train import AdamW, parameter_groups

        configuration.check(config)
        self.config, self.log, self.progress = config, log, progress
        self.world = world = setup_world(config.training.device)
        if config.training.threads:
            torch.set_num_threads(config.training.threads)
        training, data = config.training, config.data
        if training.batch_size % (world.size * config.micro_batch()):
            raise ConfigError(f"training.batch_size = {training.batch_size} does not split into {world.size} "
                              f"process(es) x micro-batches of {config.micro_batch()}")
        self.folder = Path(config.output.dir)
        self.checkpoint_folder = self.folder / "checkpoints"
        existing = checkpoints_in(self.checkpoint_folder)
        if resume and not existing:
            raise ConfigError(f"nothing to resume: {self.checkpoint_folder} holds no checkpoint")
        if existing and not resume:
            raise ConfigError(f"{self.folder} already holds a run (checkpoint {existing[-1].name}): pass --resume to "
                              "continue it, or choose another folder with --set output.dir=PATH")

        vocab_size = self.model_vocab_size()
        # One process tokenizes; the others wait and then open the same cache.
        if world.main:
            self.data = token_cache.prepare(data, vocab_size, log=self.log)
        world.barrier()
        if not world.main:
            self.data = token_cache.prepare(data, vocab_size, log=lambda _: None)
        for split in ("train", "validation"):
            count = len(getattr(self.data, split))
            if count <= data.context_length + 1:
                raise ConfigError(f"the {split} split has {count} tokens, too few for windows of "
                                  f"data.context_length + 1 = {data.context_length + 1}: use more text, a shorter "
                                  "context or a larger data.validation_fraction")

        self.model = build_model(config, world.device)
        self.optimizer = AdamW(parameter_groups(self.model, config.optimizer.weight_decay),
                               lr=config.schedule.max_lr, betas=(config.optimizer.beta1, config.optimizer.beta2),
                               eps=config.optimizer.eps, weight_decay=config.optimizer.weight_decay)
        self.generator = torch.Generator().manual_seed(training.seed)
        self.step, self.tokens_seen, self.train_seconds = 0, 0, 0.0
        if resume:
            self._resume(existing)
        elif world.main:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "log.jsonl").write_text("", encoding="utf-8")
        if world.main:
            self.data.tokenizer.save(self.folder / "tokenizer.json")
        self.ddp = self.model
        if world.size > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp = DistributedDataParallel(self.model)

    def model_vocab_size(self) -> int:
        from lmcourse.model import ModelConfig

        return ModelConfig(**self.config.model).vocab_size

    def _resume(self, existing: list[Path]) -> None:
        from lmcourse.train import load_checkpoint

        latest = existing[-1]
        try:
            self.step, extra = load_checkpoint(latest, self.model, self.optimizer, self.generator)
        except CheckpointError as error:
            raise CheckpointError(f"{error}\n(delete {latest} to resume from the checkpoint before it)") from None
        changed = _differences(extra.get("config", {}), self.config.to_dict())
        if changed:
            raise ConfigError(f"the config differs from the one {latest} was trained with ({', '.join(changed)}); "
                              "a resumed run must use the same settings to continue exactly")
        if extra.get("data") != self.data.identity:
            raise ConfigError(f"the tokenized corpus differs from the one {latest} was trained on "
                              f"({extra.get('data', {}).get('corpus_sha256', '?')[:16]} before, "
                              f"{self.data.identity['corpus_sha256'][:16]} now): it cannot be resumed exactly")
        self.tokens_seen, self.train_seconds = extra["tokens_seen"], extra["train_seconds"]
        if self.world.main:
            log_path = self.folder / "log.jsonl"
            kept = [r for r in read_log(log_path) if r["step"] <= self.step]
            log_path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        self.log(f"resumed from {latest} (step {self.step:,}, {self.tokens_seen:,} tokens seen)")

    # -- the pieces of the loop ------------------------------------------------------------------

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean validation loss over the same windows at every evaluation."""
        from lmcourse.data import get_batch
        from lmcourse.train import cross_entropy

        generator = torch.Generator().manual_seed(self.config.training.seed + 1)
        losses = []
        for _ in range(self.config.training.eval_batches):
            inputs, targets = get_batch(self.data.validation, self.config.micro_batch(),
                                        self.config.data.context_length, generator)
            logits = self.model(inputs.to(self.world.device))
            losses.append(cross_entropy(logits.float(), targets.to(self.world.device)).item())
        return sum(losses) / len(losses)

    @torch.no_grad()
    def samples(self) -> list[str]:
        from lmcourse.train import generate

        output = self.config.output
        generator = torch.Generator(device=self.world.device).manual_seed(self.config.training.seed + self.step)
        prompt = self.data.tokenizer.encode(output.prompt)
        return [output.prompt + self.data.tokenizer.decode(
            generate(self.model, prompt, output.sample_tokens, output.temperature,
                     self.config.data.context_length, generator)) for _ in range(output.samples)]

    def save(self) -> Path:
        from lmcourse.train import save_checkpoint

        folder = self.checkpoint_folder / f"{CHECKPOINT_PREFIX}{self.step:07d}"
        extra = {"config": self.config.to_dict(), "data": self.data.identity, "tokens_seen": self.tokens_seen,
                 "train_seconds": self.train_seconds}
        self.checkpoint_folder.mkdir(parents=True, exist_ok=True)
        save_checkpoint(folder, self.model, self.optimizer, self.step, self.generator, extra)
        for old in checkpoints_in(self.checkpoint_folder)[: -self.config.output.keep_checkpoints]:
            shutil.rmtree(old)
        return folder

    def append_log(self, record: dict) -> None:
        with open(self.folder / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def write_curves(self, unigram: float) -> None:
        """loss.csv (one row per step) and loss.png from log.jsonl."""
        records = read_log(self.folder / "log.jsonl")
        train = {r["step"]: r for r in records if r["kind"] == "train"}
        validation = {r["step"]: r["validation_loss"] for r in records if r["kind"] == "eval"}
        with open(self.folder / "loss.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "tokens", "lr", "train_loss", "grad_norm", "validation_loss"])
            for step, r in sorted(train.items()):
                writer.writerow([step, r["tokens"], f"{r['lr']:.6g}", f"{r['loss']:.5f}", f"{r['grad_norm']:.4f}",
                                 f"{validation[step]:.5f}" if step in validation else ""])
        plot_curves(self.folder / "loss.png", train, validation, unigram, math.log(self.model_vocab_size()))

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> RunResult:
        from lmcourse.data import get_batch, unigram_cross_entropy
        from lmcourse.train import cosine_schedule, train_step

        config, world = self.config, self.world
        training, schedule = config.training, config.schedule
        context = config.data.context_length
        tokens_per_step = training.batch_size * context
        parameters = self.parameters()
        unigram = unigram_cross_entropy(self.data.train, self.data.validation, self.model_vocab_size())
        planned = training.steps * tokens_per_step
        self.log(f"model: {parameters:,} parameters; data: {len(self.data.train):,} training tokens "
                 f"({planned / len(self.data.train):.2f} epochs)")
        self.log(f"plan: {training.steps:,} steps x {tokens_per_step:,} tokens = {planned:,} tokens, "
                 f"{planned / parameters:.1f} per parameter (Chinchilla: about 20), "
                 f"about 6ND = {6 * parameters * planned / 1e12:.1f} TFLOP; {world.size} process(es) on "
                 f"{world.device.type}")
        self.log(f"baselines: uniform loss {math.log(self.model_vocab_size()):.3f}, unigram loss {unigram:.3f}")
        bar = None
        if world.main and self.progress is not False:
            from tqdm.auto import tqdm

            bar = tqdm(total=training.steps, initial=self.step, unit="step", dynamic_ncols=True,
                       disable=None if self.progress is None else False)
        recent: list[float] = []
        validation_loss, samples = float("nan"), []
        interrupted = False
        with StopRequest() as stop:
            while self.step < training.steps:
                started = time.perf_counter()
                lr = cosine_schedule(self.step, schedule.max_lr, schedule.min_lr, schedule.warmup_steps,
                                     training.steps)
                inputs, targets = get_batch(self.data.train, training.batch_size, context, self.generator)
                batches = local_batches(inputs, targets, world, config.micro_batch(), world.device)
                loss, norm = train_step(self.ddp, self.optimizer, batches, lr,
                                        config.optimizer.grad_clip or math.inf)
                loss, stopping = world.mean([loss, float(stop.requested)])
                self.step += 1
                self.tokens_seen += tokens_per_step
                elapsed = time.perf_counter() - started
                self.train_seconds += elapsed
                recent.append(loss)
                if world.main:
                    self.append_log({"kind": "train", "step": self.step, "tokens": self.tokens_seen, "lr": lr,
                                     "loss": loss, "grad_norm": norm, "seconds": round(self.train_seconds, 3)})
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_step / elapsed:,.0f}", refresh=False)
                    bar.update()
                last = self.step == training.steps
                if world.main and (self.step % training.eval_every == 0 or last):
                    validation_loss, samples = self.evaluate(), self.samples()
                    self.append_log({"kind": "eval", "step": self.step, "tokens": self.tokens_seen,
                                     "validation_loss": validation_loss, "train_loss": sum(recent) / len(recent),
                                     "samples": samples})
                    self.write_curves(unigram)
                    rate = self.tokens_seen / max(self.train_seconds, 1e-9)
                    eta = (training.steps - self.step) * tokens_per_step / rate
                    message = (f"step {self.step:,}/{training.steps:,}  train {sum(recent) / len(recent):.3f}  "
                               f"validation {validation_loss:.3f} (unigram {unigram:.3f})  lr {lr:.2e}  "
                               f"{rate:,.0f} tok/s  "
                               f"elapsed {_format_seconds(self.train_seconds)}  eta {_format_seconds(eta)}")
                    message += "".join(f"\n  sample: {s!r}" for s in samples)
                    (bar.write if bar is not None and not bar.disable else self.log)(message)
                    recent = []
                if stopping and not last:
                    interrupted = True
                    break
                if world.main and (self.step % config.output.checkpoint_every == 0 or last):
                    self.save()
        if bar is not None:
            bar.close()
        if world.main and math.isnan(validation_loss) and not interrupted:  # resumed a finished run
            self.log(f"the run in {self.folder} had already finished its {training.steps:,} steps")
            validation_loss, samples = self.evaluate(), self.samples()
        result = RunResult(folder=str(self.folder), steps=self.step, parameters=parameters, tokens=self.tokens_seen,
                           tokens_per_parameter=self.tokens_seen / parameters, train_seconds=self.train_seconds,
                           tokens_per_second=self.tokens_seen / max(self.train_seconds, 1e-9),
                           validation_loss=validation_loss, unigram_loss=unigram,
                           uniform_loss=math.log(self.model_vocab_size()), samples=samples, interrupted=interrupted)
        if world.main:
            if interrupted:
                saved = self.save()
                self.log(f"stopped at step {self.step:,}; checkpoint {saved}. Continue with --resume.")
            else:
                self.export()
            (self.folder / "summary.json").write_text(json.dumps(result.__dict__, indent=1) + "\n", encoding="utf-8")
        world.barrier()
        return result

    def export(self) -> None:
        from lmcourse.runs import model_export

        formats = self.config.output.export
        if "hf" in formats:
            model_export.to_hugging_face(self.model, self.data.tokenizer, self.folder / "hf")
            self.log(f"Hugging Face model: {self.folder / 'hf'} (transformers.AutoModelForCausalLM.from_pretrained)")
        if "gguf" in formats:
            model_export.to_gguf(self.model, self.data.tokenizer, self.folder / "model.gguf")
            self.log(f"GGUF model: {self.folder / 'model.gguf'} (llama.cpp)")


def plot_curves(path: Path, train: dict[int, dict], validation: dict[int, float], unigram: float,
                uniform: float) -> None:
    """The loss curve: training loss per step (and its running mean), validation loss, the baseline."""
    from matplotlib.figure import Figure  # no pyplot: drawing a file must not touch a notebook's backend

    steps = sorted(train)
    losses = [train[s]["loss"] for s in steps]
    half = max(1, len(steps) // 100)  # a centred mean over about 2% of the run: no lag behind the curve
    smooth = [sum(losses[max(0, i - half) : i + half + 1]) / len(losses[max(0, i - half) : i + half + 1])
              for i in range(len(losses))]
    figure = Figure(figsize=(7, 4))
    axis = figure.subplots()
    axis.plot(steps, losses, color="C0", alpha=0.25, lw=0.8, label="training loss (each step)")
    axis.plot(steps, smooth, color="C0", lw=1.5, label=f"training loss (mean of {2 * half + 1} steps)")
    if validation:
        axis.plot(sorted(validation), [validation[s] for s in sorted(validation)], "o-", color="C1", ms=4,
                  label="validation loss")
    axis.axhline(unigram, color="gray", ls="--", lw=1, label=f"unigram baseline {unigram:.2f}")
    title = f"step {steps[-1]:,}" if steps else ""
    if validation:
        title += f": validation loss {validation[max(validation)]:.3f}"
    axis.set(xlabel="step", ylabel="cross-entropy (nats per token)", ylim=(0, uniform * 1.05), title=title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def train(config: Config, resume: bool = False, log: Callable[[str], None] = print,
          progress: bool | None = None) -> RunResult:
    """Train `config` to the end, or continue its latest checkpoint with resume=True."""
    threads = torch.get_num_threads()
    try:
        return Trainer(config, resume=resume, log=log, progress=progress).run()
    finally:
        torch.set_num_threads(threads)  # training.threads applies to the run, not to the caller
        if dist.is_initialized():
            dist.destroy_process_group()
