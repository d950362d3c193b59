"""Tests of the Fashion-MNIST reader on tiny IDX files written here."""

import gzip
import os

import numpy as np
import pytest

from skwfm import datasets
from skwfm.datasets import load_fashion_mnist

NAMES = {
    "X_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "X_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array):
    """The IDX encoding of a uint8 array, written independently of the reader."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim])
    for d in array.shape:
        header += int(d).to_bytes(4, "big")
    return header + array.tobytes(order="C")


def write(directory, key, array, compress):
    path = os.path.join(directory, NAMES[key] + (".gz" if compress else ""))
    data = idx_bytes(array)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return path


def make_fake(directory, compress=True, n_train=20, n_test=10, seed=0, shape=(28, 28)):
    """Random images with labels 0..9 cycling; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "X_train": rng.integers(0, 256, size=(n_train, *shape), dtype=np.uint8),
        "y_train": (np.arange(n_train) * 3 % 10).astype(np.uint8),
        "X_test": rng.integers(0, 256, size=(n_test, *shape), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for i, (key, array) in enumerate(arrays.items()):
        # compress="mixed" writes alternate files plain and gzipped
        c = compress if compress != "mixed" else bool(i % 2)
        write(directory, key, array, c)
    return arrays


@pytest.fixture
def no_default_dirs(monkeypatch, tmp_path):
    """Neither the environment variable nor the Debian directory can be used."""
    monkeypatch.delenv("SKWFM_FASHION_MNIST", raising=False)
    monkeypatch.setattr(datasets, "_FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-debian"))


@pytest.mark.parametrize("compress", [True, False, "mixed"])
def test_reads_pixels_and_labels_exactly(tmp_path, no_default_dirs, compress):
    arrays = make_fake(tmp_path, compress=compress)
    data = load_fashion_mnist(data_home=tmp_path)
    for split in ("train", "test"):
        images = arrays[f"X_{split}"]
        np.testing.assert_array_equal(
            data[f"X_{split}"], images.reshape(images.shape[0], -1) / 255.0
        )
        np.testing.assert_array_equal(data[f"y_{split}"], arrays[f"y_{split}"])
        assert data[f"X_{split}"].dtype == np.float64
        assert data[f"y_{split}"].dtype == np.int64
    assert data.X_train.shape == (20, 784)
    assert data.image_shape == (28, 28)
    assert data.data_home == str(tmp_path)
    assert len(data.target_names) == 10 and data.target_names[6] == "Shirt"
    assert "Fashion-MNIST" in data.DESCR


def test_pixel_order_is_row_major(tmp_path, no_default_dirs):
    # a single bright pixel at row 2, column 5 must land in column 2 * 28 + 5
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    images[0, 2, 5] = 255
    for key, array in (("X_train", images), ("y_train", [3]),
                       ("X_test", images), ("y_test", [3])):
        write(tmp_path, key, array, compress=False)
    X = load_fashion_mnist(tmp_path).X_train
    assert np.flatnonzero(X[0]).tolist() == [2 * 28 + 5]


def test_classes_select_and_keep_labels(tmp_path, no_default_dirs):
    arrays = make_fake(tmp_path)
    data = load_fashion_mnist(tmp_path, classes=(6, 0))
    keep = np.isin(arrays["y_train"], [0, 6])
    assert keep.sum() == 4
    np.testing.assert_array_equal(data.y_train, arrays["y_train"][keep])
    np.testing.assert_array_equal(
        data.X_train, arrays["X_train"][keep].reshape(4, -1) / 255.0
    )
    assert sorted(set(data.y_test)) == [0, 6]
    assert data.target_names == ["Shirt", "T-shirt/top"]
    by_name = load_fashion_mnist(tmp_path, classes=["Shirt", "T-shirt/top"])
    np.testing.assert_array_equal(by_name.X_train, data.X_train)
    one = load_fashion_mnist(tmp_path, classes=3)
    assert set(one.y_train) == {3}


def test_binarize_threshold(tmp_path, no_default_dirs):
    images = np.array([[[0, 127, 128, 255]]], dtype=np.uint8)  # a 1×4 "image"
    for key, array in (("X_train", images), ("y_train", [1]),
                       ("X_test", images), ("y_test", [2])):
        write(tmp_path, key, array, compress=True)
    data = load_fashion_mnist(tmp_path, binarize=True)
    assert data.X_train.dtype == np.int8
    assert data.X_train.tolist() == [[-1, -1, 1, 1]]  # 127/255 < 0.5 < 128/255
    assert load_fashion_mnist(tmp_path, binarize=0.1).X_test.tolist() == [[-1, 1, 1, 1]]
    assert load_fashion_mnist(tmp_path, binarize=np.True_).X_test.tolist() == [[-1, -1, 1, 1]]
    assert data.image_shape == (1, 4)


def test_return_X_y_order(tmp_path, no_default_dirs):
    make_fake(tmp_path)
    X_train, X_test, y_train, y_test = load_fashion_mnist(tmp_path, return_X_y=True)
    bunch = load_fashion_mnist(tmp_path)
    for a, b in ((X_train, bunch.X_train), (X_test, bunch.X_test),
                 (y_train, bunch.y_train), (y_test, bunch.y_test)):
        np.testing.assert_array_equal(a, b)
    assert X_train.shape[0] == 20 and X_test.shape[0] == 10


def test_search_order(tmp_path, monkeypatch):
    home, env, debian = tmp_path / "home", tmp_path / "env", tmp_path / "debian"
    for i, d in enumerate((home, env, debian)):
        d.mkdir()
        make_fake(d, n_train=5 + i)
    monkeypatch.setattr(datasets, "_FASHION_MNIST_DEBIAN_DIR", str(debian))
    monkeypatch.setenv("SKWFM_FASHION_MNIST", str(env))
    assert load_fashion_mnist(home).X_train.shape[0] == 5
    assert load_fashion_mnist().X_train.shape[0] == 6
    # a data_home without the files falls through to the next place
    assert load_fashion_mnist(tmp_path / "empty").X_train.shape[0] == 6
    monkeypatch.delenv("SKWFM_FASHION_MNIST")
    assert load_fashion_mnist().X_train.shape[0] == 7
    # an incomplete directory (a file missing) is skipped, not half-read
    os.remove(env / (NAMES["y_test"] + ".gz"))
    monkeypatch.setenv("SKWFM_FASHION_MNIST", str(env))
    assert load_fashion_mnist().X_train.shape[0] == 7


def test_missing_files_error_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("SKWFM_FASHION_MNIST", str(tmp_path / "from-env"))
    monkeypatch.setattr(datasets, "_FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "debian"))
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(tmp_path / "mine")
    message = str(info.value)
    for text in (str(tmp_path / "mine"), str(tmp_path / "from-env"), str(tmp_path / "debian"),
                 "apt-get install dataset-fashion-mnist", "SKWFM_FASHION_MNIST",
                 "data_home", "train-images-idx3-ubyte"):
        assert text in message


@pytest.mark.parametrize("classes, match", [
    ((0, 10), "labels in 0..9"),
    ((0, 0), "must not repeat"),
    (("Sock",), "Unknown Fashion-MNIST class name"),
    ((), "at least one class"),
])
def test_bad_classes(tmp_path, no_default_dirs, classes, match):
    make_fake(tmp_path)
    with pytest.raises(ValueError, match=match):
        load_fashion_mnist(tmp_path, classes=classes)


def test_bad_binarize(tmp_path):
    with pytest.raises(ValueError, match="binarize"):
        load_fashion_mnist(tmp_path, binarize=1.5)


def test_corrupt_files_give_clear_errors(tmp_path, no_default_dirs):
    arrays = make_fake(tmp_path, compress=False)
    path = os.path.join(tmp_path, NAMES["y_test"])
    with open(path, "wb") as f:
        f.write(b"\x01\x02\x08\x01garbage")
    with pytest.raises(ValueError, match="bad magic number"):
        load_fashion_mnist(tmp_path)
    with open(path, "wb") as f:
        f.write(idx_bytes(arrays["y_test"])[:-2])  # truncated
    with pytest.raises(ValueError, match="header announces shape"):
        load_fashion_mnist(tmp_path)
    write(tmp_path, "y_test", arrays["y_test"][:5], compress=False)
    with pytest.raises(ValueError, match="10 images but .* 5 labels"):
        load_fashion_mnist(tmp_path)
    write(tmp_path, "y_test", arrays["X_test"], compress=False)  # images as labels
    with pytest.raises(ValueError, match="expected 1 dimension"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(
    not os.path.isfile(os.path.join(datasets._FASHION_MNIST_DEBIAN_DIR,
                                    "t10k-labels-idx1-ubyte.gz")),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_real_files_if_installed(monkeypatch):
    monkeypatch.delenv("SKWFM_FASHION_MNIST", raising=False)
    data = load_fashion_mnist(classes=(0, 6), binarize=True)
    assert data.X_train.shape == (12000, 784) and data.X_test.shape == (2000, 784)
    assert np.bincount(data.y_test).tolist()[0::6] == [1000, 1000]
