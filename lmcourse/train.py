# Generated from solutions/05-pretraining/05-pretraining.ipynb by `lmcourse export`: edit the notebook, not this file.

"""Pretraining (chapter 05): the loss, AdamW, the learning-rate schedule, gradient clipping,
the training step, checkpoints, and sampling.

`lmcourse train` (lmcourse.runs.trainer) drives these functions: the command runs on your code.
"""
import math
from collections.abc import Iterable
from pathlib import Path

import torch

from lmcourse.storage import checkpoint


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the targets under softmax(logits), stable for large logits.

    logits: (..., V) float; targets: (...) int64 ids in 0 .. V-1 -> scalar, the mean over all
    positions of logsumexp(logits) - logits[target], computed with the largest logit subtracted,
    without F.cross_entropy, log_softmax or logsumexp. Any leading dimensions, contiguous or not; the
    loss has the logits' dtype, and the logits themselves are not modified.

    >>> cross_entropy(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))   # log 2
    tensor(0.6931)
    """
    logits = logits.reshape(-1, logits.shape[-1])  # (N, V)
    targets = targets.reshape(-1)  # (N,)
    largest = logits.max(dim=-1, keepdim=True).values.detach()
    shifted = logits - largest  # every exponent <= 0
    log_normaliser = shifted.exp().sum(dim=-1).log()  # log sum_j exp(z_j - m)
    target_logits = shifted.gather(1, targets[:, None])[:, 0]
    return (log_normaliser - target_logits).mean()


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as torch.optim.AdamW computes it.

    For each parameter p with gradient g, at step t = 1, 2, ...:
        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        p = p - lr * weight_decay * p                        (decoupled decay)
        p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    lr, betas, eps and weight_decay are those of the parameter's own param group (groups may differ,
    and the trainer changes lr between steps). Parameters whose .grad is None are skipped, their step
    count included. State per parameter, in self.state[p]: step, exp_avg, exp_avg_sq, so that
    state_dict() / load_state_dict() carry the optimizer across a checkpoint.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(p.grad, 1 - beta1)  # m + (1 - beta1) (g - m)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                p.mul_(1 - lr * decay)
                p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        return loss


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW's parameter groups: matrices decay, vectors (norm gains, biases) do not."""
    matrices = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": matrices, "weight_decay": weight_decay}, {"params": vectors, "weight_decay": 0.0}]


def cosine_schedule(step: int, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate of step `step` (counted from 0): linear warm-up, then cosine decay to min_lr.

    step < warmup_steps:              max_lr * (step + 1) / warmup_steps
    warmup_steps <= step < total:     min_lr + (max_lr - min_lr) * (1 + cos(pi * p)) / 2,
                                      p = (step - warmup_steps) / (total_steps - warmup_steps)
    step >= total_steps:              min_lr

    Returns a Python float. warmup_steps = 0 means no warm-up: step 0 is already at max_lr.

    >>> [round(cosine_schedule(s, 1.0, 0.1, 2, 6), 3) for s in range(7)]
    [0.5, 1.0, 1.0, 0.868, 0.55, 0.232, 0.1]
    """
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


def clip_grad_norm(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most max_norm; in place.

    The global norm is sqrt(sum of g^2 over every element of every gradient). When it exceeds
    max_norm, every gradient is multiplied by max_norm / (norm + 1e-6); otherwise nothing changes.
    Parameters without a gradient are skipped. parameters may be any iterable, a generator such as
    model.parameters() included. Returns the norm before clipping, as a Python float (0.0 when no
    parameter has a gradient).
    """
    gradients = [p.grad for p in parameters if p.grad is not None]
    if not gradients:
        return 0.0
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in gradients)).item()
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in gradients:
            g.mul_(scale)
    return total


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batches: list[tuple[torch.Tensor, torch.Tensor]], lr: float,
               max_grad_norm: float = math.inf) -> tuple[float, float]:
    """One optimizer step on the mean loss of `batches`, micro-batches whose gradients accumulate.

    batches: [(inputs, targets), ...], each (B, T) int64; model(inputs) -> logits (B, T, V).
    Sets every param group's learning rate to lr, clears the gradients, backpropagates
    cross_entropy / len(batches) of each micro-batch, clips the global gradient norm to
    max_grad_norm (math.inf: measure, do not clip), and steps the optimizer.
    Returns (the mean loss over the micro-batches, the gradient norm before clipping), two Python floats.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    total_loss = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets) / len(batches)
        loss.backward()
        total_loss += loss.item()
    norm = clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return total_loss, norm


def save_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    generator: torch.Generator, extra: dict | None = None) -> None:
    """Save what resuming needs with checkpoint.save(folder, state).

    state: {"model": the model's state_dict, "optimizer": the optimizer's state_dict,
    "step": step, "generator": the generator's state (generator.get_state()), "extra": extra or {}}.
    """
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "generator": generator.get_state(), "extra": extra or {}}
    checkpoint.save(folder, state)


def load_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> tuple[int, dict]:
    """Restore a checkpoint written by save_checkpoint into model, optimizer and generator.

    Reads it with checkpoint.load(folder) (which refuses a corrupt one: let its CheckpointError
    through) and returns (step, extra): the int and the dict that were saved ({} without extra).
    """
    state = checkpoint.load(folder)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    return state["step"], state["extra"]


@torch.no_grad()
def generate(model: torch.nn.Module, prompt: list[int], max_new_tokens: int, temperature: float = 1.0,
             context_length: int | None = None, generator: torch.Generator | None = None) -> list[int]:
    """max_new_tokens ids sampled one at a time after prompt (non-empty), from softmax(logits / temperature).

    Only the last context_length ids are fed to the model (all of them when None).
    """
    device = next(model.parameters()).device
    ids = torch.tensor([prompt], device=device)  # (1, T)
    for _ in range(max_new_tokens):
        window = ids if context_length is None else ids[:, -context_length:]
        logits = model(window)[0, -1].float() / temperature  # (V,)
        next_id = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        ids = torch.cat([ids, next_id[None]], dim=1)
    return ids[0, len(prompt):].tolist()
