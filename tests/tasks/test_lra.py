"""The LRA loaders on fixtures written in the release layout: tokenisation as s4's, splits, and bad files."""

import numpy as np
import pytest
import torch
from fixture_files import write_aan, write_cifar, write_imdb, write_listops, write_pathfinder

from ablations.tasks import DataFormatError, DatasetMissing, build_task
from ablations.tasks.lra_text import listops_tokens
from ablations.tasks.vocab import Vocab


def test_vocab_orders_specials_then_frequency_then_token():
    vocab = Vocab([list("abcab"), list("b")], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "<eos>", "b", "a"]  # c is seen once: below min_freq
    np.testing.assert_array_equal(vocab.encode(list("abcz"), l_max=4), [4, 3, 1, 2])  # truncated to fit <eos>


def test_listops_tokens_follow_the_lra_tokenizer():
    assert listops_tokens("( ( [MAX 2 9 ] 3 ) ] )") == ["[MAX", "2", "9", "X", "3", "X"]


def test_lra_listops_encodes_pads_and_labels(tmp_path):
    rows = write_listops(tmp_path / "listops")
    task = build_task("lra_listops", data_root=tmp_path, l_max=16)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test)) == (4, 2, 2) and task.output.dim == 10
    _, vocab = task._load()
    x, y, length = train[0]
    tokens = listops_tokens(rows["train"][0][0])
    assert length == len(tokens) + 1 and y == rows["train"][0][1]
    assert [vocab.itos[i] for i in x[:length].tolist()] == tokens + ["<eos>"]
    assert (x[length:] == vocab.pad).all() and x.shape == (16,)
    assert task.input.dim == len(vocab)


@pytest.mark.parametrize(
    "line, problem",
    [("[MAX 1 2 ]\t2\textra", "3 tab-separated fields"), ("[MAX 1 2 ]\tten", "label 'ten' is not a number")],
)
def test_lra_listops_names_file_and_line_of_a_bad_row(tmp_path, line, problem):
    write_listops(tmp_path / "listops")
    path = tmp_path / "listops" / "basic_val.tsv"
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(DataFormatError, match=problem) as err:
        build_task("lra_listops", data_root=tmp_path).datasets()
    assert "basic_val.tsv:4:" in str(err.value)


def test_lra_listops_missing_points_at_the_generator(tmp_path):
    with pytest.raises(DatasetMissing, match="basic_train.tsv") as err:
        build_task("lra_listops", data_root=tmp_path).datasets()
    assert "python -m ablations.data listops" in str(err.value) and str(tmp_path / "listops") in str(err.value)


def test_lra_text_reads_aclimdb_characters_with_min_freq(tmp_path):
    raw = write_imdb(tmp_path / "imdb" / "aclImdb", n_per_class=10)
    task = build_task("lra_text", data_root=tmp_path, l_max=64, min_freq=2, val_fraction=0.2)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test)) == (16, 4, 20)
    _, vocab = task._load()
    assert "~" not in vocab.stoi  # seen once in training: below min_freq, so <unk>
    texts = {"".join(vocab.itos[i] for i in x[: n - 1].tolist()) for x, _, n in test}
    assert texts == {"".join(c if c in vocab.stoi else "<unk>" for c in text) for text, _ in raw["test"]}
    assert {"f", "i", "l", "m"} <= set(vocab.stoi)
    held_out = sorted(int(y) for _, y, _ in train) + sorted(int(y) for _, y, _ in val)
    assert sorted(held_out) == sorted(label for _, label in raw["train"])  # val comes from train, never test


def test_lra_retrieval_concatenates_the_two_documents(tmp_path):
    rows = write_aan(tmp_path / "aan")
    task = build_task("lra_retrieval", data_root=tmp_path, l_max=24)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test)) == (6, 6, 6)
    _, vocab = task._load()
    x, y, length = test[1]
    label, _, _, text1, text2 = rows["test"][1]
    expected = list(text1[:11]) + ["<eos>"] + list(text2[:11]) + ["<eos>"]  # each document gets l_max / 2
    assert [vocab.itos[i] for i in x[:length].tolist()] == expected and y == int(float(label))


def test_lra_image_is_grayscale_cifar(tmp_path):
    write_cifar(tmp_path / "cifar" / "cifar-10-batches-py")
    task = build_task("lra_image", data_root=tmp_path)
    x, _ = task.datasets()[2][0]
    assert task.input.kind == "real" and task.input.dim == 1 and x.shape == (1024, 1)


@pytest.mark.parametrize("npy", [False, True], ids=["text-metadata", "npy-metadata"])
def test_lra_pathfinder_reads_release_layout(tmp_path, npy):
    images, labels = write_pathfinder(tmp_path, n=20, npy=npy)
    task = build_task("lra_pathfinder", data_root=tmp_path)
    train, val, test = task.datasets()
    assert (len(train), len(val), len(test), task.seq_len) == (16, 2, 2, 1024)
    index = test.indices[0]
    x, y = test[0]
    assert y == labels[index]
    torch.testing.assert_close(x[:, 0], torch.tensor((images[index].reshape(-1) / 255.0 - 0.5) / 0.5).float())
    tokens = build_task("lra_pathfinder", data_root=tmp_path, tokenize=True).datasets()[2][0][0]
    np.testing.assert_array_equal(tokens.numpy(), images[index].reshape(-1))


def test_lra_pathfinder_bad_metadata_and_missing_set(tmp_path):
    write_pathfinder(tmp_path, n=4)
    meta = tmp_path / "pathfinder" / "pathfinder32" / "curv_contour_length_14" / "metadata" / "0.npy"
    meta.write_text(meta.read_text() + "imgs/0 sample_9.png 9 2 14\n")
    with pytest.raises(DataFormatError, match="label '2' must be 0 or 1") as err:
        build_task("lra_pathfinder", data_root=tmp_path).datasets()
    assert "0.npy:5:" in str(err.value)
    with pytest.raises(DatasetMissing, match="ablations.data pathfinder --resolution 128"):
        build_task("lra_pathx", data_root=tmp_path).datasets()
