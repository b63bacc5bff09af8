"""Run under torchrun by test_train.py: on N processes, the gradient of one global batch, then a run.

usage: torchrun --nproc_per_node N tests/ddp_worker.py CONFIG GRADIENTS_FILE [TABLE.KEY=VALUE ...]
"""

import sys

import torch
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel

from lmcourse.data import get_batch
from lmcourse.runs import config, token_cache, trainer
from lmcourse.train import cross_entropy

settings = config.load(sys.argv[1], sys.argv[3:])
world = trainer.setup_world("cpu")
data = token_cache.prepare(settings.data, settings.model["vocab_size"], log=lambda _: None)
model = DistributedDataParallel(trainer.build_model(settings))
inputs, targets = get_batch(data.train, settings.training.batch_size, settings.data.context_length,
                            torch.Generator().manual_seed(settings.training.seed))
batches = trainer.local_batches(inputs, targets, world, settings.micro_batch(), world.device)
for x, y in batches:
    (cross_entropy(model(x), y) / len(batches)).backward()
if world.main:
    save_file({name: p.grad for name, p in model.module.named_parameters()}, sys.argv[2])
trainer.train(settings, log=lambda _: None, progress=False)
