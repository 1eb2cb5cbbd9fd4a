"""The two CPU-sized default tasks: scikit-learn's digits and the B2S6 paper's forgetting task."""

import math

import pytest
import torch

from ablations.tasks import build_task


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, val, test = build_task("digits").datasets()
    assert (len(train), len(val), len(test)) == (1257, 180, 360)
    x, y = train[0]
    assert x.shape == (64, 1) and x.dtype == torch.float32 and y.dtype == torch.int64
    for split in (train, val, test):
        counts = torch.bincount(split.tensors[1], minlength=10).float()
        assert counts.min() >= 0.9 * counts.mean() - 1, "split is not stratified"
        assert 0 <= split.tensors[0].min() and split.tensors[0].max() <= 1
    rows = {tuple(r.tolist()) for r in test.tensors[0].flatten(1)}
    overlap = sum(tuple(r.tolist()) in rows for r in train.tensors[0].flatten(1))
    assert overlap < 5, "train and test share images"  # the raw data holds a couple of exact duplicates
    again = build_task("digits").datasets()[2]
    assert torch.equal(again.tensors[0], test.tensors[0])


def test_digits_rows_layout_reads_eight_channels():
    task = build_task("digits", layout="rows")
    x, _ = task.datasets()[0][0]
    assert task.seq_len == 8 and x.shape == (8, 8)
    with pytest.raises(ValueError, match="layout"):
        build_task("digits", layout="columns")


def test_forgetting_inputs_have_the_stated_scales_and_target():
    task = build_task("forgetting", seq_len=16, sigma1=0.5, sigma2=20.0, n_train=20000)
    u, g = task.datasets()[0].tensors
    assert u.shape == (20000, 16, 1) and g.shape == (20000, 1)
    assert u[:, 0].std().item() == pytest.approx(0.5, rel=0.03)
    assert u[:, -1].std().item() == pytest.approx(20.0, rel=0.03)
    assert u[:, 1:-1].std().item() == pytest.approx(1.0, rel=0.03)
    assert torch.equal(g, u[:, 0].abs())


def test_forgetting_metric_is_error_relative_to_sigma1():
    task = build_task("forgetting", sigma1=0.5, n_test=20000)
    _, g = task.datasets()[2].tensors
    assert task.batch_metrics(g, g)["rel_error"][0] == 0.0
    total, count = task.batch_metrics(torch.zeros_like(g), g)["rel_error"]
    assert count == len(g)
    assert total / count == pytest.approx(math.sqrt(2 / math.pi), rel=0.03)  # E|N(0, σ1²)| / σ1
    loss_sum, _ = task.batch_metrics(torch.zeros_like(g), g)["loss"]
    assert loss_sum / count == pytest.approx(float(task.loss(torch.zeros_like(g), g)), rel=1e-5)
    assert task.metric == "rel_error" and not task.higher_is_better
