"""Training configuration for `lmcourse train`: a TOML (or YAML) file, checked before anything runs.

A config has six tables: [model] (chapter 04's model), [data], [optimizer], [schedule],
[training] and [output]. `configs/default.toml` sets and explains every key.

Notable choices:
- every key has a default here, so a config file names only what it changes;
- an unknown key is an error that names the closest known key: a typo must not silently
  train with the default;
- `--set table.key=value` overrides a key from the command line; the value is read as TOML
  (`3e-4`, `true`, `"text"`), and a bare word that is not TOML is taken as a string;
- [model] keys are the fields of chapter 04's `ModelConfig`, checked against it, so the file
  and the model cannot drift apart;
- `check` catches what would only fail later (a vocabulary too large for uint16 token files,
  a context longer than the model's, a batch that does not split across processes) before
  any data is read or any training starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MAX_UINT16_VOCAB = 2**16  # token files store ids as uint16
TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string", "list": "a list"}


class ConfigError(ValueError):
    """A config that cannot be trained: the message says what to change."""


@dataclass
class DataConfig:
    source: str = "python"  # "python" (offline default), "text:PATH", "jsonl:PATH" or "hf:NAME[:SPLIT]"
    max_bytes: int = 0  # read at most this many bytes of text; 0: all of it
    validation_fraction: float = 0.05  # share of documents held out for validation (split by document)
    tokenizer: str = "train"  # "train": a BPE of model.vocab_size trained on the training text; "smollm2"; or a path
    tokenizer_bytes: int = 8_000_000  # bytes of training text the tokenizer learns its merges from
    context_length: int = 256  # tokens per training window; at most the model's context


@dataclass
class OptimizerConfig:
    weight_decay: float = 0.1  # decoupled (AdamW): applied to matrices, not to norms' gains
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # global gradient norm limit; 0 turns clipping off


@dataclass
class ScheduleConfig:
    max_lr: float = 3e-3  # learning rate at the end of the warm-up
    min_lr: float = 3e-4  # learning rate at the end of the cosine decay
    warmup_steps: int = 100  # linear warm-up from max_lr / warmup_steps


@dataclass
class TrainingConfig:
    seed: int = 0  # model initialisation, batches and samples all follow from it
    steps: int = 1000  # optimizer steps; tokens = steps * batch_size * context_length
    batch_size: int = 16  # windows per optimizer step, all processes together
    micro_batch_size: int = 0  # windows per forward pass (gradient accumulation); 0: the whole batch
    eval_every: int = 100  # steps between evaluations (validation loss and samples)
    eval_batches: int = 8  # validation batches per evaluation (the same windows every time)
    threads: int = 0  # torch threads per process; 0: the idle cores (LMCOURSE_THREADS, lmcourse/course/threads.py)
    device: str = "auto"  # "auto" (CUDA if present, else CPU), "cpu" or "cuda"


@dataclass
class OutputConfig:
    dir: str = "runs/default"  # checkpoints, logs, the loss curve and exports go here
    checkpoint_every: int = 200  # steps between checkpoints (one is also written at the end and on Ctrl-C)
    keep_checkpoints: int = 2  # the most recent ones kept on disk
    samples: int = 2  # samples printed at each evaluation
    sample_tokens: int = 60  # tokens per sample
    temperature: float = 0.8  # sampling temperature: the logits are divided by it
    prompt: str = "def"  # each sample continues this text (no trailing space: BPE keeps it with the next word)
    export: list[str] = field(default_factory=lambda: ["hf", "gguf"])  # formats written after training


@dataclass
class Config:
    model: dict = field(default_factory=dict)  # fields of lmcourse.model.ModelConfig
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def micro_batch(self) -> int:
        return self.training.micro_batch_size or self.training.batch_size


SECTIONS = {f.name: f for f in dataclasses.fields(Config)}


def model_fields() -> dict[str, dataclasses.Field]:
    """The fields of chapter 04's model config, which the [model] table sets."""
    from lmcourse.model import ModelConfig

    return {f.name: f for f in dataclasses.fields(ModelConfig)}


def _unknown(key: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {key!r} in {where}{hint}; the keys there are: {', '.join(known)}")


def _table(where: str, section: str) -> str:
    """Where a key was found, for messages: "[data] of configs/x.toml", or the --set option itself."""
    return where if where.startswith("--set") else f"[{section}] of {where}"


def _typed(key: str, value, default, where: str):
    """value checked against the type of the default: ints are accepted where floats are meant."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = TYPE_NAMES.get(type(default).__name__, type(default).__name__)
        raise ConfigError(f"{key} = {value!r} in {where}: expected {kind}, like {default!r}")
    return value


def from_dict(raw: dict, where: str = "the config") -> Config:
    """A Config from nested tables; unknown tables and keys are errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must hold tables such as [model] and [training], not {type(raw).__name__}")
    config = Config()
    for section, table in raw.items():
        if section not in SECTIONS:
            raise _unknown(section, list(SECTIONS), where)
        if not isinstance(table, dict):
            raise ConfigError(f"{section} in {where} must be a table of keys ([{section}]), not {table!r}")
        if section == "model":
            fields = model_fields()
            for key, value in table.items():
                if key not in fields:
                    raise _unknown(f"model.{key}", list(fields), _table(where, "model"))
                default = fields[key].default
                if default is not dataclasses.MISSING and default is not None:
                    value = _typed(f"model.{key}", value, default, where)
                config.model[key] = value
            continue
        target = getattr(config, section)
        known = {f.name: getattr(target, f.name) for f in dataclasses.fields(target)}
        for key, value in table.items():
            if key not in known:
                raise _unknown(f"{section}.{key}", list(known), _table(where, section))
            setattr(target, key, _typed(f"{section}.{key}", value, known[key], where))
    return config


def parse_override(assignment: str) -> tuple[list[str], object]:
    """`optimizer.max_lr=1e-3` -> (["optimizer", "max_lr"], 0.001)."""
    key, sep, text = assignment.partition("=")
    path = key.strip().split(".")
    if not sep or len(path) != 2 or not all(path):
        raise ConfigError(f"--set {assignment!r}: write TABLE.KEY=VALUE, e.g. --set training.steps=200")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word such as a path: a string
    return path, value


def read_file(path: str | Path) -> dict:
    """The raw tables of a TOML (.toml) or YAML (.yaml, .yml) file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file {path}; start from configs/default.toml")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path} is not valid {path.suffix[1:].upper()}: {error}") from None
    raise ConfigError(f"{path}: a config is a .toml or .yaml file")


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a config file, apply `--set` overrides, and check the result."""
    raw = read_file(path)
    from_dict(raw, str(path))  # the file's own mistakes are reported as the file's
    for assignment in overrides:
        (section, key), value = parse_override(assignment)
        from_dict({section: {key: value}}, f"--set {assignment}")
        raw.setdefault(section, {})[key] = value
    config = from_dict(raw, str(path))
    check(config)
    return config


def check(config: Config) -> None:
    """Raise ConfigError for a config that would fail (or mislead) once training started."""
    from lmcourse.model import ModelConfig

    try:
        model = ModelConfig(**config.model)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[model] is not a valid model config: {error}") from None
    if model.vocab_size > MAX_UINT16_VOCAB:
        raise ConfigError(f"model.vocab_size = {model.vocab_size} does not fit the uint16 token files "
                          f"(at most {MAX_UINT16_VOCAB} ids); choose a smaller vocabulary")
    if config.data.context_length > model.max_seq_len:
        raise ConfigError(f"data.context_length = {config.data.context_length} is longer than the model's context "
                          f"(model.max_seq_len = {model.max_seq_len}); shorten the windows or lengthen the model's")
    training, data = config.training, config.data
    positive = {"training.steps": training.steps, "training.batch_size": training.batch_size,
                "training.eval_every": training.eval_every, "training.eval_batches": training.eval_batches,
                "data.context_length": data.context_length, "output.checkpoint_every": config.output.checkpoint_every,
                "output.keep_checkpoints": config.output.keep_checkpoints}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} = {value}: it must be at least 1")
    if training.batch_size % config.micro_batch():
        raise ConfigError(f"training.batch_size = {training.batch_size} is not a multiple of "
                          f"training.micro_batch_size = {training.micro_batch_size}")
    if not 0 < data.validation_fraction < 1:
        raise ConfigError(f"data.validation_fraction = {data.validation_fraction}: choose a share between 0 and 1")
    if config.schedule.warmup_steps >= training.steps:
        raise ConfigError(f"schedule.warmup_steps = {config.schedule.warmup_steps} leaves no steps to decay over "
                          f"(training.steps = {training.steps})")
    if config.output.temperature <= 0:
        raise ConfigError(f"output.temperature = {config.output.temperature}: it must be positive")
    unknown_formats = set(config.output.export) - {"hf", "gguf"}
    if unknown_formats:
        raise ConfigError(f"output.export = {config.output.export}: the formats are \"hf\" and \"gguf\"")
    if training.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"training.device = {training.device!r}: choose \"auto\", \"cpu\" or \"cuda\"")

