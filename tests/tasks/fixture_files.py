"""Small data files in the official formats (IDX, CIFAR-10 pickles, .ts), written by the tests."""

import gzip
import pickle

import numpy as np


def write_idx(path, array, gz=False):
    """Write a uint8 array in the IDX format (magic 0x00 0x00 0x08 ndim, big-endian int32 dims, bytes)."""
    data = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    (gzip.open if gz else open)(path, "wb").write(data)


def write_mnist(folder, n_train=20, n_test=10, gz=False, seed=0):
    """Four random MNIST-format IDX files; returns {"train": (images, labels), "test": ...}."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n, prefix in (("train", n_train, "train"), ("test", n_test, "t10k")):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
        out[split] = (images, labels)
    return out


def write_cifar(folder, n_per_batch=4, seed=0):
    """Six random CIFAR-10 python pickles (data_batch_1..5, test_batch) in the official layout."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [b"x.png"] * n_per_batch,
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        out[name] = (data, labels)
    return out


TS_HEADER = (
    "# a comment\n@problemName Toy\n@timeStamps false\n@missing true\n@univariate {uni}\n"
    "{dims}@equalLength {eq}\n@classLabel true a b c\n@data\n"
)


def write_ts(path, cases, labels, equal_length=True):
    """A classification .ts file: ``cases[i]`` is a list of dimensions, each a list of values (None = missing)."""
    channels = len(cases[0])
    header = TS_HEADER.format(
        uni=str(channels == 1).lower(),
        dims=f"@dimensions {channels}\n" if channels > 1 else "",
        eq=str(equal_length).lower(),
    )
    lines = [
        ":".join(",".join("?" if v is None else repr(float(v)) for v in dim) for dim in case) + f":{label}"
        for case, label in zip(cases, labels, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n".join(lines) + "\n")


def write_toy_ucr(root, n_train=12, n_test=6, length=10, seed=0):
    """A univariate three-class dataset ``Toy`` under ``root/ucr/Toy``; returns the raw arrays."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("TRAIN", n_train), ("TEST", n_test)):
        values = rng.standard_normal((n, length)).round(4)
        labels = [["a", "b", "c"][i % 3] for i in range(n)]
        write_ts(root / "ucr" / "Toy" / f"Toy_{split}.ts", [[list(v)] for v in values], labels)
        out[split] = (values, labels)
    return out


def write_listops(folder, rows_per_split=None):
    """basic_{train,val,test}.tsv with a header and (Source, Target) rows; returns the rows per split."""
    rows_per_split = rows_per_split or {
        "train": [("( ( [MAX 2 9 ] 3 ) ] )", 9), ("[MIN 4 ( [SM 1 2 ] ) ]", 3), ("[MED 1 5 7 ]", 5), ("[MAX 0 8 ]", 8)],
        "val": [("[MIN 6 7 ]", 6), ("[MAX 1 2 ]", 2)],
        "test": [("[SM 9 9 ]", 8), ("[MED 3 ( 4 ) 5 ]", 4)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in rows_per_split.items():
        lines = ["Source\tTarget"] + [f"{src}\t{tgt}" for src, tgt in rows]
        (folder / f"basic_{split}.tsv").write_text("\n".join(lines) + "\n")
    return rows_per_split


def write_imdb(folder, n_per_class=6):
    """aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt with short reviews; returns {split: [(text, label)]}."""
    words = {"pos": ["great", "good", "loved it"], "neg": ["bad", "awful", "boring"]}
    out = {}
    for split in ("train", "test"):
        out[split] = []
        for label, polarity in enumerate(("neg", "pos")):
            (folder / split / polarity).mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                text = f"{words[polarity][i % 3]} film #{i}" + (
                    "~" if (split, polarity, i) == ("train", "pos", 0) else ""
                )
                (folder / split / polarity / f"{i}_{7 if label else 2}.txt").write_text(text)
                out[split].append((text, label))
    return out


def write_aan(folder, n=6):
    """new_aan_pairs.{train,eval,test}.tsv: label, id1, id2, text1, text2 (no header); returns rows per split."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in ("train", "eval", "test"):
        rows = [(f"{i % 2}.0", f"p{i}", f"q{i}", f"paper {i} on parsing", f"citing {i}: we parse") for i in range(n)]
        (folder / f"new_aan_pairs.{split}.tsv").write_text("\n".join("\t".join(r) for r in rows) + "\n")
        out[split] = rows
    return out


def write_pathfinder(root, resolution=32, n=20, npy=False, seed=0):
    """A release-layout Pathfinder set under ``root/pathfinder/pathfinder{R}``: PNGs and metadata, text or npy."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "pathfinder" / f"pathfinder{resolution}" / "curv_contour_length_14"
    (base / "imgs" / "0").mkdir(parents=True, exist_ok=True)
    (base / "metadata").mkdir(parents=True, exist_ok=True)
    rows, images = [], []
    for i in range(n):
        image = rng.integers(0, 256, (resolution, resolution), dtype=np.uint8)
        Image.fromarray(image).save(base / "imgs" / "0" / f"sample_{i}.png")
        rows.append(["imgs/0", f"sample_{i}.png", str(i), str(i % 2), "14", "1.5", "1", "1", "2", "3", "1"])
        images.append(image)
    if npy:
        with open(base / "metadata" / "0.npy", "wb") as f:
            np.save(f, np.array(rows))
    else:
        (base / "metadata" / "0.npy").write_text("\n".join(" ".join(r) for r in rows) + "\n")
    return images, [int(r[3]) for r in rows]
