"""The file-based real tasks on fixtures written in the official formats, and on the zero-setup installs."""

import pickle

import numpy as np
import pytest
import torch
from fixture_files import write_cifar, write_idx, write_mnist, write_toy_ucr, write_ts

from ablations.tasks import DataFormatError, DatasetMissing, build_task
from ablations.tasks.image_sequences import bitreversal_permutation
from ablations.tasks.mnist import SYSTEM_FASHION_DIR, read_idx
from ablations.tasks.ts_format import read_ts
from ablations.tasks.ucr import sktime_data_dir

needs_sktime = pytest.mark.skipif(
    sktime_data_dir() is None, reason="the sktime wheel is not installed: pip install --no-deps sktime"
)


# --- UCR / UEA .ts ---------------------------------------------------------------------------------------------


def test_ts_reader_parses_multivariate_missing_and_variable_length(tmp_path):
    path = tmp_path / "x.ts"
    write_ts(path, [[[1, 2, 3], [4, None, 6]], [[7, 8], [9, 10]]], ["c", "a"], equal_length=False)
    data = read_ts(path)
    assert data.classes == ["a", "b", "c"] and data.labels.tolist() == [2, 0] and data.channels == 2
    np.testing.assert_array_equal(data.series[0], [[1, 2, 3], [4, np.nan, 6]])
    np.testing.assert_array_equal(data.series[1], [[7, 8], [9, 10]])


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("1.0,x,3.0:a", "not a number"),
        ("1.0,2.0:d", "label 'd'"),
        ("1.0,2.0", "dimension and a label"),
    ],
)
def test_ts_reader_names_file_and_line_of_a_malformed_case(tmp_path, bad, problem):
    path = tmp_path / "bad.ts"
    write_ts(path, [[[1, 2]], [[3, 4]]], ["a", "b"])
    text = path.read_text().splitlines()
    text.insert(len(text) - 1, bad)  # the second-to-last line of the file
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataFormatError, match=problem) as err:
        read_ts(path)
    assert f"{path}:{len(text) - 1}:" in str(err.value)


def test_ucr_reads_the_data_root_standardises_and_holds_out_val(tmp_path):
    raw = write_toy_ucr(tmp_path, n_train=30, n_test=9)
    task = build_task("ucr", data_root=tmp_path, dataset="Toy", val_fraction=0.2)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test)) == (24, 6, 9) and task.seq_len == 10
    assert task.input.dim == 1 and task.output.dim == 3
    x = train.tensors[0]
    assert abs(x.mean().item()) < 1e-5 and x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    values = torch.tensor(raw["TEST"][0], dtype=torch.float32)
    recovered = test.tensors[0][..., 0]
    corr = torch.corrcoef(torch.stack([recovered.flatten(), values.flatten()]))[0, 1]
    assert corr > 0.9999  # the test split is the archive's TEST file, affinely standardised
    assert test.tensors[1].tolist() == [["a", "b", "c"].index(lab) for lab in raw["TEST"][1]]


def test_ucr_missing_dataset_names_folder_files_and_remedy(tmp_path):
    with pytest.raises(DatasetMissing) as err:
        build_task("ucr", data_root=tmp_path, dataset="NoSuchSet").datasets()
    text = str(err.value)
    assert str(tmp_path / "ucr" / "NoSuchSet") in text and "NoSuchSet_TRAIN.ts" in text and "sktime" in text


@needs_sktime
def test_ucr_zero_setup_datasets_from_the_sktime_wheel(tmp_path):
    gun = build_task("ucr", data_root=tmp_path, dataset="GunPoint")
    train, val, test = gun.datasets()
    assert (len(train) + len(val), len(test), gun.seq_len, gun.output.dim) == (50, 150, 150, 2)
    plaid = build_task("ucr", data_root=tmp_path, dataset="PLAID")
    train, _, _ = plaid.datasets()
    x, y, length = train[0]
    assert x.shape == (plaid.seq_len, 1) and 1 <= length <= plaid.seq_len and (x[length:] == 0).all()
    assert len({int(n) for n in train.lengths}) > 1  # PLAID is variable-length
    vowels = build_task("ucr", data_root=tmp_path, dataset="JapaneseVowels")
    assert vowels.input.dim == 12 and vowels.output.dim == 9


# --- MNIST / Fashion-MNIST IDX ---------------------------------------------------------------------------------


def test_bitreversal_permutation_is_s4s():
    assert bitreversal_permutation(8).tolist() == [0, 4, 2, 6, 1, 5, 3, 7]
    perm = bitreversal_permutation(784)  # 784 is not a power of two: s4 drops entries >= n of the 1024 order
    assert sorted(perm.tolist()) == list(range(784)) and perm[:4].tolist() == [0, 512, 256, 768]


@pytest.mark.parametrize("gz", [False, True])
def test_smnist_reads_idx_pixel_by_pixel(tmp_path, gz):
    raw = write_mnist(tmp_path / "mnist" / "MNIST" / "raw", n_train=20, n_test=10, gz=gz)
    task = build_task("smnist", data_root=tmp_path)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test), task.seq_len) == (18, 2, 10, 784)
    x, y = test[3]
    images, labels = raw["test"]
    assert x.shape == (784, 1) and y == labels[3]
    torch.testing.assert_close(x[:, 0], torch.tensor(images[3].reshape(-1) / 255.0, dtype=torch.float32))
    seen = sorted(train.indices + val.indices)
    assert seen == list(range(20))


def test_psmnist_permutes_and_pooling_averages(tmp_path):
    raw = write_mnist(tmp_path / "mnist", n_train=4, n_test=2)
    plain = build_task("smnist", data_root=tmp_path).datasets()[2]
    permuted = build_task("psmnist", data_root=tmp_path).datasets()[2]
    assert torch.equal(permuted[0][0], plain[0][0][torch.as_tensor(bitreversal_permutation(784))])
    pooled = build_task("smnist", data_root=tmp_path, pool=2).datasets()[2]
    image = raw["test"][0][0].astype(np.float64) / 255.0
    expected = image.reshape(14, 2, 14, 2).mean(axis=(1, 3)).reshape(-1)
    np.testing.assert_allclose(pooled[0][0][:, 0].numpy(), expected, rtol=1e-6)


def test_truncated_idx_file_is_named(tmp_path):
    folder = tmp_path / "mnist"
    write_mnist(folder)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataFormatError, match="t10k-images-idx3-ubyte.*bytes of data"):
        build_task("smnist", data_root=tmp_path).datasets()
    write_idx(path, np.zeros((2, 28, 28), dtype=np.uint8))
    path.write_bytes(b"\x08\x03" + path.read_bytes()[2:])
    with pytest.raises(DataFormatError, match="not an IDX file"):
        read_idx(path)


def test_smnist_missing_names_the_files(tmp_path):
    with pytest.raises(DatasetMissing, match="train-labels-idx1-ubyte") as err:
        build_task("psmnist", data_root=tmp_path).datasets()
    assert str(tmp_path / "mnist") in str(err.value)


@pytest.mark.skipif(
    not SYSTEM_FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed (apt-get install it)"
)
def test_sfashion_zero_setup_from_the_system_package(tmp_path):
    task = build_task("sfashion", data_root=tmp_path, pool=2)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test), task.seq_len) == (54000, 6000, 10000, 196)
    labels = torch.bincount(test.labels, minlength=10)
    assert (labels == 1000).all()  # Fashion-MNIST's test set is balanced


# --- CIFAR-10 pickles ------------------------------------------------------------------------------------------


def test_scifar_rgb_and_grayscale_follow_s4(tmp_path):
    from PIL import Image

    raw = write_cifar(tmp_path / "cifar" / "cifar-10-batches-py", n_per_batch=4)
    rgb = build_task("scifar", data_root=tmp_path)
    train, val, test = rgb.datasets()
    assert (len(train), len(val), len(test), rgb.seq_len, rgb.input.dim) == (18, 2, 4, 1024, 3)
    data, labels = raw["test_batch"]
    image = data[1].reshape(3, 32, 32).transpose(1, 2, 0)  # (H, W, C)
    x, y = test[1]
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.247, 0.243, 0.261])
    np.testing.assert_allclose(x.numpy(), ((image / 255.0 - mean) / std).reshape(1024, 3), rtol=1e-5, atol=1e-5)
    assert y == labels[1]
    gray = build_task("scifar", data_root=tmp_path, grayscale=True, tokenize=True)
    tokens, _ = gray.datasets()[2][1]
    pil = np.asarray(Image.fromarray(image).convert("L")).reshape(-1)
    assert gray.input.kind == "tokens" and gray.input.dim == 256
    np.testing.assert_array_equal(tokens.numpy(), pil)
    with pytest.raises(ValueError, match="tokenize needs grayscale"):
        build_task("scifar", data_root=tmp_path, tokenize=True)


def test_scifar_refuses_a_pickle_that_would_run_code(tmp_path):
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    write_cifar(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataFormatError, match="test_batch.*refusing to load builtins.print"):
        build_task("scifar", data_root=tmp_path).datasets()
