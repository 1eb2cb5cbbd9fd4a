"""Every task trains through the same ``SequenceModel`` with S6 and B2S6: shapes, loss and metrics agree."""

import pytest
import torch

from ablations.tasks import list_tasks
from zoo.model import ModelConfig, SequenceModel

MIXERS = {"s6": {"n_state": 4}, "b2s6": {"n_state": 4, "n_blocks": 2}}


def test_every_registered_task_has_a_tiny_build(tiny_names):
    assert set(list_tasks()) <= tiny_names, f"add tiny overrides for {set(list_tasks()) - tiny_names}"


@pytest.mark.parametrize("mixer", sorted(MIXERS))
@pytest.mark.parametrize("name", sorted(list_tasks()))
def test_task_trains_a_few_steps(name, mixer, tiny_task):
    task = tiny_task(name)
    train, val, test = task.datasets()
    assert len(val) and len(test)
    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=8, shuffle=False)))
    x, y = batch[0], batch[1]
    lengths = batch[2] if len(batch) == 3 else None
    assert x.shape[1] == task.seq_len
    assert x.dtype == (torch.int64 if task.input.kind == "tokens" else torch.float32)
    model = SequenceModel(mixer, MIXERS[mixer], ModelConfig(d_model=8, n_layers=1), task.input, task.output)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(4):
        loss = task.loss(model(x, lengths), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0], f"{name}/{mixer}: loss did not fall on one batch: {losses}"
    metrics = task.batch_metrics(model(x, lengths).detach(), y)
    assert {"loss", task.metric} <= set(metrics)
    total, count = metrics["loss"]
    assert count > 0 and total / count == pytest.approx(task.loss(model(x, lengths), y).item(), rel=1e-4)
