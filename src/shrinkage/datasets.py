"""Bundled and local data sets, each with a fixed, documented split.

Every loader returns a :class:`Dataset` of float32 features, standardized with
the mean and standard deviation of the **training split only** (a feature
that is constant in training is centred and left unscaled), and integer or
string labels.

========================  ==========================================================
name                      split
========================  ==========================================================
``mnist1d``               MNIST-1D generated locally (5,000 x 40, 10 classes) with
                          the ``mnist1d`` package's ``make_dataset`` and its default
                          arguments (seed 42): its own 4,000 / 1,000 split
``digits``                scikit-learn's 1,797 x 64 digits, stratified 50/50, seed 0
``wine``                  178 x 13, 3 classes, stratified 50/50, seed 0
``breast_cancer``         569 x 30, 2 classes, stratified 50/50, seed 0
``PATH.csv``              a header row; the label column is ``target`` (default: the
                          last); stratified 80/20, seed 0
``PATH.npz``              arrays ``X`` and ``y`` (stratified 80/20, seed 0), or also
                          ``X_test`` and ``y_test`` (used as given)
a folder                  CIFAR-10 in its binary format: ``data_batch_*.bin`` for
                          training and ``test_batch.bin`` for test, each record a
                          label byte and 3,072 pixel bytes; read without pickle
========================  ==========================================================
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

__all__ = ["Dataset", "DataError", "load_dataset", "BUILTIN", "describe_builtin"]


class DataError(ValueError):
    """A data file or data set that cannot be used; the message names the source and the problem."""


@dataclass
class Dataset:
    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    description: str = ""

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def classes(self):
        return np.unique(self.y_train)


def _standardize(X_train, X_test):
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return ((X_train - mean) / std).astype(np.float32), ((X_test - mean) / std).astype(np.float32)


def _finish(name, X_train, y_train, X_test, y_test, description):
    X_train, X_test = _standardize(np.asarray(X_train, np.float64), np.asarray(X_test, np.float64))
    return Dataset(name, X_train, np.asarray(y_train), X_test, np.asarray(y_test), description)


def _split(name, X, y, test_size, description):
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y, random_state=0)
    except ValueError as exc:
        raise DataError(f"{name}: cannot make a stratified split ({exc})") from None
    return _finish(name, X_tr, y_tr, X_te, y_te, description)


# ------------------------------------------------------------------ built in


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays():
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()  # make_dataset reseeds NumPy's global generator
    try:
        data = make_dataset(get_dataset_args())  # generated here; get_dataset() would download
    finally:
        np.random.set_state(state)
    return data["x"], data["y"], data["x_test"], data["y_test"]


def _mnist1d():
    X_tr, y_tr, X_te, y_te = _mnist1d_arrays()
    return _finish("mnist1d", X_tr, y_tr, X_te, y_te, "MNIST-1D (Greydanus 2020), generated locally")


def _sklearn(loader, name, description):
    def load():
        X, y = loader(return_X_y=True)
        return _split(name, X, y, 0.5, description)

    return load


def _sklearn_loaders():
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    return {
        "digits": _sklearn(load_digits, "digits", "8x8 handwritten digits (scikit-learn)"),
        "wine": _sklearn(load_wine, "wine", "wine cultivars (scikit-learn)"),
        "breast_cancer": _sklearn(load_breast_cancer, "breast_cancer", "Wisconsin breast cancer (scikit-learn)"),
    }


BUILTIN = ("mnist1d", "digits", "wine", "breast_cancer")
_SIZES = {  # (train, test, features, classes), checked by the tests
    "mnist1d": (4000, 1000, 40, 10),
    "digits": (898, 899, 64, 10),
    "wine": (89, 89, 13, 3),
    "breast_cancer": (284, 285, 30, 2),
}


def describe_builtin():
    """Rows ``(name, n_train, n_test, n_features, n_classes)`` of the built-in data sets."""
    return [(name, *_SIZES[name]) for name in BUILTIN]


# --------------------------------------------------------------------- files


def _check_arrays(source, X, y):
    if X.ndim != 2 or len(X) == 0:
        raise DataError(f"{source}: expected a non-empty 2-D feature table; got shape {X.shape}")
    if len(X) != len(y):
        raise DataError(f"{source}: {len(X)} rows of features but {len(y)} labels")
    if not np.isfinite(X).all():
        raise DataError(f"{source}: features contain NaN or infinity")
    if len(np.unique(y)) < 2:
        raise DataError(f"{source}: the labels hold only one class ({np.unique(y)[0]!r}); need at least 2")


def _load_csv(path, target):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise DataError(f"{path}: expected a header row and at least one data row")
    header, body = rows[0], rows[1:]
    column = len(header) - 1 if target is None else None
    if target is not None:
        if target not in header:
            raise DataError(f"{path}: no target column {target!r}; columns are {header}")
        column = header.index(target)
    if any(len(r) != len(header) for r in body):
        bad = next(i for i, r in enumerate(body, start=2) if len(r) != len(header))
        raise DataError(f"{path}: line {bad} has a different number of fields than the header")
    labels = np.array([r[column].strip() for r in body])
    try:
        X = np.array([[float(v) for j, v in enumerate(r) if j != column] for r in body], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"{path}: non-numeric feature value ({exc})") from None
    try:  # integer labels stay integers; anything else stays a string label
        y = labels.astype(np.int64)
    except ValueError:
        y = labels
    _check_arrays(path, X, y)
    return _split(str(path), X, y, 0.2, f"CSV file, label column {header[column]!r}")


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz without pickle ({exc})") from None
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r}; found {sorted(arrays)}")
    try:
        X = np.asarray(arrays["X"], dtype=np.float64)
    except ValueError:
        raise DataError(f"{path}: array 'X' is not numeric (dtype {arrays['X'].dtype})") from None
    y = arrays["y"]
    _check_arrays(path, X, y)
    if "X_test" in arrays and "y_test" in arrays:
        X_te = np.asarray(arrays["X_test"], dtype=np.float64)
        _check_arrays(f"{path} (test)", X_te, arrays["y_test"])
        return _finish(str(path), X, y, X_te, arrays["y_test"], ".npz with its own test split")
    return _split(str(path), X, y, 0.2, ".npz file")


CIFAR_RECORD = 1 + 32 * 32 * 3


def _read_cifar_batch(path):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise DataError(f"{path}: size {raw.size} bytes is not a multiple of a CIFAR-10 record ({CIFAR_RECORD})")
    records = raw.reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path}: label byte {labels.max()} is outside 0-9")
    return records[:, 1:], labels


def _load_cifar10(folder):
    train_files = sorted(folder.glob("data_batch_*.bin"))
    test_file = folder / "test_batch.bin"
    if not train_files or not test_file.exists():
        raise DataError(f"{folder}: expected CIFAR-10 binary files data_batch_*.bin and test_batch.bin")
    parts = [_read_cifar_batch(f) for f in train_files]
    X_tr = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255
    y_tr = np.concatenate([p[1] for p in parts])
    X_te, y_te = _read_cifar_batch(test_file)
    return _finish("cifar10", X_tr, y_tr, X_te.astype(np.float32) / 255, y_te, f"CIFAR-10 from {folder}")


def load_dataset(name, target=None):
    """Load a built-in data set by name, or a CSV, ``.npz`` or CIFAR-10 folder by path."""
    if name in BUILTIN:
        return _mnist1d() if name == "mnist1d" else _sklearn_loaders()[name]()
    path = Path(name)
    if path.is_dir():
        return _load_cifar10(path)
    if not path.exists():
        raise DataError(f"{name}: not a built-in data set ({', '.join(BUILTIN)}) and no such file")
    if path.suffix.lower() == ".csv":
        return _load_csv(path, target)
    if path.suffix.lower() == ".npz":
        return _load_npz(path)
    raise DataError(f"{name}: unknown file type {path.suffix!r}; expected .csv or .npz")
