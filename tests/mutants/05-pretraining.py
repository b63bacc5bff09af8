"""Plausible wrong answers to chapter 05's exercises; each must lose points to the hidden tests."""

MUTANTS = {
    "get_batch": {
        "targets not shifted": '''
def get_batch(tokens, batch_size, context_length, generator):
    starts = torch.randint(0, len(tokens) - context_length, (batch_size,), generator=generator)
    windows = torch.from_numpy(np.stack([tokens[s : s + context_length] for s in starts.tolist()]).astype(np.int64))
    return windows, windows
''',
        "the last window is never drawn": '''
def get_batch(tokens, batch_size, context_length, generator):
    starts = torch.randint(0, len(tokens) - context_length - 1, (batch_size,), generator=generator)
    windows = torch.from_numpy(np.stack([tokens[s : s + context_length + 1] for s in starts.tolist()]).astype(np.int64))
    return windows[:, :-1], windows[:, 1:]
''',
        "the global random generator instead of the one passed": '''
def get_batch(tokens, batch_size, context_length, generator):
    starts = torch.randint(0, len(tokens) - context_length, (batch_size,))
    windows = torch.from_numpy(np.stack([tokens[s : s + context_length + 1] for s in starts.tolist()]).astype(np.int64))
    return windows[:, :-1], windows[:, 1:]
''',
        "ids through int16 (negative above 32,767)": '''
def get_batch(tokens, batch_size, context_length, generator):
    starts = torch.randint(0, len(tokens) - context_length, (batch_size,), generator=generator)
    windows = np.stack([tokens[s : s + context_length + 1] for s in starts.tolist()]).astype(np.int16)
    windows = torch.from_numpy(windows).long()
    return windows[:, :-1], windows[:, 1:]
''',
        "starts drawn without replacement (torch.randperm)": '''
def get_batch(tokens, batch_size, context_length, generator):
    starts = torch.randperm(len(tokens) - context_length, generator=generator)[:batch_size]
    windows = torch.from_numpy(np.stack([tokens[s : s + context_length + 1] for s in starts.tolist()]).astype(np.int64))
    return windows[:, :-1], windows[:, 1:]
''',
        "numpy's global random generator instead of the one passed": '''
def get_batch(tokens, batch_size, context_length, generator):
    starts = np.random.randint(0, len(tokens) - context_length, size=batch_size)
    windows = torch.from_numpy(np.stack([tokens[s : s + context_length + 1] for s in starts]).astype(np.int64))
    return windows[:, :-1], windows[:, 1:]
''',
    },
    "cross_entropy": {
        "largest logit not subtracted": '''
def cross_entropy(logits, targets):
    logits = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    return (logits.exp().sum(-1).log() - logits.gather(1, targets[:, None])[:, 0]).mean()
''',
        "log of softmax": '''
def cross_entropy(logits, targets):
    logits = logits.reshape(-1, logits.shape[-1])
    probabilities = torch.softmax(logits, dim=-1)
    return -probabilities.gather(1, targets.reshape(-1, 1)).log().mean()
''',
        "sum instead of mean": '''
def cross_entropy(logits, targets):
    logits = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return (shifted.exp().sum(-1).log() - shifted.gather(1, targets[:, None])[:, 0]).sum()
''',
        "view instead of reshape (fails on a non-contiguous batch)": '''
def cross_entropy(logits, targets):
    logits = logits.view(-1, logits.shape[-1])
    targets = targets.view(-1)
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return (shifted.exp().sum(-1).log() - shifted.gather(1, targets[:, None])[:, 0]).mean()
''',
        "the largest logit subtracted in place (the caller's logits change)": '''
def cross_entropy(logits, targets):
    flat = logits.reshape(-1, logits.shape[-1])
    flat -= flat.max(dim=-1, keepdim=True).values.detach()
    return (flat.exp().sum(-1).log() - flat.gather(1, targets.reshape(-1, 1))[:, 0]).mean()
''',
        "torch.logsumexp, which the exercise rebuilds": '''
def cross_entropy(logits, targets):
    logits = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    return (torch.logsumexp(logits, dim=-1) - logits.gather(1, targets[:, None])[:, 0]).mean()
''',
        "one maximum for the whole batch, not each row's": '''
def cross_entropy(logits, targets):
    logits = logits.reshape(-1, logits.shape[-1])
    targets = targets.reshape(-1)
    shifted = logits - logits.max()
    return (shifted.exp().sum(-1).log() - shifted.gather(1, targets[:, None])[:, 0]).mean()
''',
    },
    "AdamW": {
        "Adam with L2 instead of decoupled weight decay": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                g = p.grad + decay * p
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
''',
        "bias correction missing": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.mul_(1 - lr * decay)
                p.sub_(lr * m / (v.sqrt() + eps))
''',
        "weight decay not scaled by the learning rate": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.mul_(1 - decay)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
''',
        "epsilon inside the square root": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.mul_(1 - lr * decay)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t) + eps).sqrt()))
''',
        "betas and eps from the optimizer's defaults, not from each group": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        beta1, beta2 = self.defaults["betas"]
        eps = self.defaults["eps"]
        for group in self.param_groups:
            lr, decay = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.mul_(1 - lr * decay)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
''',
        "weight decay applied after the Adam update": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
                p.mul_(1 - lr * decay)
''',
        "one step counter for the whole optimizer, not per parameter": '''
class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        self.steps_taken = getattr(self, "steps_taken", 0) + 1
        t = self.steps_taken
        for group in self.param_groups:
            lr, (beta1, beta2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] = t
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.mul_(1 - lr * decay)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
''',
    },
    "cosine_schedule": {
        "warm-up off by one (step 0 has rate 0)": '''
def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
''',
        "decay off by one (progress from step + 1)": '''
def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step + 1 - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
''',
        "decays to zero, not to min_lr": '''
def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return 0.5 * max_lr * (1 + math.cos(math.pi * progress))
''',
        "a torch tensor (torch.cos) instead of a Python float": '''
def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = torch.tensor((step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + torch.cos(torch.pi * progress))
''',
        "warm-up factor computed first (warmup_steps = 0 divides by zero)": '''
def cosine_schedule(step, max_lr, min_lr, warmup_steps, total_steps):
    warm = max_lr * (step + 1) / warmup_steps
    if step < warmup_steps:
        return warm
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
''',
    },
    "clip_grad_norm": {
        "each tensor clipped on its own": '''
def clip_grad_norm(parameters, max_norm):
    total = 0.0
    for p in parameters:
        if p.grad is None:
            continue
        norm = p.grad.norm().item()
        total += norm**2
        if norm > max_norm:
            p.grad.mul_(max_norm / (norm + 1e-6))
    return total**0.5
''',
        "small gradients scaled up too": '''
def clip_grad_norm(parameters, max_norm):
    gradients = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in gradients)).item()
    for g in gradients:
        g.mul_(max_norm / (total + 1e-6))
    return total
''',
        "returns the norm after clipping": '''
def clip_grad_norm(parameters, max_norm):
    gradients = [p.grad for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in gradients)).item()
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in gradients:
            g.mul_(scale)
        return max_norm
    return total
''',
        "the parameters iterated twice (a generator is empty the second time)": '''
def clip_grad_norm(parameters, max_norm):
    total = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in parameters if p.grad is not None))
    if total > max_norm:
        for p in parameters:
            if p.grad is not None:
                p.grad.mul_(max_norm / (total + 1e-6))
    return total
''',
        "returns the norm as a tensor, like torch.nn.utils.clip_grad_norm_": '''
def clip_grad_norm(parameters, max_norm):
    gradients = [p.grad for p in parameters if p.grad is not None]
    if not gradients:
        return torch.tensor(0.0)
    total = torch.sqrt(sum((g.double() ** 2).sum() for g in gradients))
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in gradients:
            g.mul_(scale)
    return total
''',
        "no gradient at all: stacking an empty list fails": '''
def clip_grad_norm(parameters, max_norm):
    gradients = [p.grad for p in parameters if p.grad is not None]
    total = torch.stack([g.double().norm() for g in gradients]).norm().item()
    scale = max_norm / (total + 1e-6)
    if scale < 1:
        for g in gradients:
            g.mul_(scale)
    return total
''',
    },
    "train_step": {
        "micro-batch losses not divided by their number": '''
def train_step(model, optimizer, batches, lr, max_grad_norm=math.inf):
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad()
    total = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets)
        loss.backward()
        total += loss.item()
    norm = clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return total / len(batches), norm
''',
        "gradients not cleared between steps": '''
def train_step(model, optimizer, batches, lr, max_grad_norm=math.inf):
    for group in optimizer.param_groups:
        group["lr"] = lr
    total = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets) / len(batches)
        loss.backward()
        total += loss.item()
    norm = clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return total, norm
''',
        "clipping after the update": '''
def train_step(model, optimizer, batches, lr, max_grad_norm=math.inf):
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad()
    total = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets) / len(batches)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total, clip_grad_norm(model.parameters(), max_grad_norm)
''',
        "learning rate not set": '''
def train_step(model, optimizer, batches, lr, max_grad_norm=math.inf):
    optimizer.zero_grad()
    total = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets) / len(batches)
        loss.backward()
        total += loss.item()
    norm = clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return total, norm
''',
        "the learning rate set on the first param group only": '''
def train_step(model, optimizer, batches, lr, max_grad_norm=math.inf):
    optimizer.param_groups[0]["lr"] = lr
    optimizer.zero_grad()
    total = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets) / len(batches)
        loss.backward()
        total += loss.item()
    norm = clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return total, norm
''',
        "returns the loss as a tensor": '''
def train_step(model, optimizer, batches, lr, max_grad_norm=math.inf):
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad()
    total = 0.0
    for inputs, targets in batches:
        loss = cross_entropy(model(inputs), targets) / len(batches)
        loss.backward()
        total = total + loss.detach()
    norm = clip_grad_norm(model.parameters(), max_grad_norm)
    optimizer.step()
    return total, norm
''',
    },
    "save_checkpoint": {
        "optimizer state not saved": '''
def save_checkpoint(folder, model, optimizer, step, generator, extra=None):
    checkpoint.save(folder, {"model": model.state_dict(), "step": step, "generator": generator.get_state(),
                             "extra": extra or {}})
''',
        "generator state not saved": '''
def save_checkpoint(folder, model, optimizer, step, generator, extra=None):
    checkpoint.save(folder, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                             "extra": extra or {}})
''',
        "extra saved as given (None when there is none)": '''
def save_checkpoint(folder, model, optimizer, step, generator, extra=None):
    checkpoint.save(folder, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                             "generator": generator.get_state(), "extra": extra})
''',
        "the step saved as a tensor": '''
def save_checkpoint(folder, model, optimizer, step, generator, extra=None):
    checkpoint.save(folder, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "step": torch.tensor(step), "generator": generator.get_state(), "extra": extra or {}})
''',
    },
    "load_checkpoint": {
        "generator not restored": '''
def load_checkpoint(folder, model, optimizer, generator):
    state = checkpoint.load(folder)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], state["extra"]
''',
        "optimizer state not restored": '''
def load_checkpoint(folder, model, optimizer, generator):
    state = checkpoint.load(folder)
    model.load_state_dict(state["model"])
    generator.set_state(state["generator"])
    return state["step"], state["extra"]
''',
        "a corrupt checkpoint swallowed: starts over at step 0": '''
def load_checkpoint(folder, model, optimizer, generator):
    try:
        state = checkpoint.load(folder)
    except checkpoint.CheckpointError:
        return 0, {}
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    return state["step"], state["extra"]
''',
        "the state restored into a new generator, not the caller's": '''
def load_checkpoint(folder, model, optimizer, generator):
    state = checkpoint.load(folder)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator = torch.Generator()
    generator.set_state(state["generator"])
    return state["step"], state["extra"]
''',
    },
}
