"""The zero-setup smoke task is learnable: a small B2S6 reaches > 90 % test accuracy on digits within a minute.

The setting of shared/notes/default-grid.md: 2 layers, d = 32, n = 16, h = 4, AdamW 3e-3, 12 epochs, batch 64.
"""

import time

import pytest
import torch

from ablations.tasks import build_task
from zoo.model import ModelConfig, SequenceModel, param_groups


@pytest.mark.slow
def test_small_b2s6_learns_digits_within_a_minute():
    torch.manual_seed(0)
    task = build_task("digits")
    train, _, test = task.datasets()
    model = SequenceModel(
        "b2s6", {"n_state": 16, "n_blocks": 4}, ModelConfig(d_model=32, n_layers=2), task.input, task.output
    )
    optimizer = torch.optim.AdamW(param_groups(model, lr=3e-3, weight_decay=0.01))  # the mixer's Δ hints honoured
    start = time.perf_counter()
    for _ in range(12):
        for x, y in torch.utils.data.DataLoader(train, batch_size=64, shuffle=True):
            loss = task.loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        correct, count = task.batch_metrics(model(test.tensors[0]), test.tensors[1])["accuracy"]
    assert correct / count > 0.9, f"test accuracy {correct / count:.3f}"
    assert elapsed < 60, f"training took {elapsed:.0f} s"
