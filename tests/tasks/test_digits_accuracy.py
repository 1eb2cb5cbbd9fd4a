"""The zero-setup smoke task is learnable: a small B2S6 reaches > 90 % test accuracy on digits within a minute.

The model of shared/notes/default-grid.md (2 layers, d = 32, n = 16, h = 4); AdamW at a peak lr of 1e-2 with the
trainer's warm-up and cosine schedule, 8 epochs of batch 32 (320 steps), in a process set up as a grid's CPU
cells are. On the project's 2-core CPU: 19 s of training (load average ~0.8), 28 s beside a 2-thread
training job; test accuracy 0.942 to 0.950 over seeds 0 to 4 (this test runs seed 0: 0.942).
"""

import time

import pytest
import torch

from ablations.config import TrainConfig
from ablations.tasks import build_task
from ablations.train import lr_factor, retain_freed_memory
from zoo.model import ModelConfig, SequenceModel, param_groups

EPOCHS, BATCH_SIZE = 8, 32


@pytest.fixture
def cpu_worker():
    """This process set up as a CPU cell of a grid is: freed memory kept for reuse (the trainer's
    ``retain_freed_memory``) and one intra-op thread (the local launcher's default, one worker per core). One
    thread also because on a shared 2-core CPU a second one mostly waits for a core another process holds."""
    retain_freed_memory()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_small_b2s6_learns_digits_within_a_minute(cpu_worker):
    torch.manual_seed(0)
    task = build_task("digits")
    train, _, test = task.datasets()
    model = SequenceModel(
        "b2s6", {"n_state": 16, "n_blocks": 4}, ModelConfig(d_model=32, n_layers=2), task.input, task.output
    )
    optimizer = torch.optim.AdamW(param_groups(model, lr=1e-2, weight_decay=0.01))  # the mixer's Δ hints honoured
    total = EPOCHS * -(-len(train) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, TrainConfig()))
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for x, y in torch.utils.data.DataLoader(train, batch_size=BATCH_SIZE, shuffle=True):
            loss = task.loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        correct, count = task.batch_metrics(model(test.tensors[0]), test.tensors[1])["accuracy"]
    assert correct / count > 0.9, f"test accuracy {correct / count:.3f}"
    assert elapsed < 60, f"training took {elapsed:.0f} s"
