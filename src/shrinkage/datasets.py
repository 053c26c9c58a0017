"""Bundled and local data sets, each with a fixed, documented split.

Every loader returns a :class:`Dataset` of float32 features, standardized with
the mean and standard deviation of the **training split only** (a feature
that is constant in training is centred and left unscaled), and integer or
string labels (a CSV's labels are integers when all are whole numbers, written
``1`` or ``1.0``).

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
import itertools
import math
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from ._params import list_some

__all__ = ["Dataset", "DataError", "load_dataset", "read_features", "standardize", "BUILTIN", "describe_builtin"]


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
    mean: np.ndarray | None = None  # training-split statistics used to standardize
    scale: np.ndarray | None = None
    feature_names: list | None = None  # a CSV file's feature columns, in the order of X's columns

    @property
    def n_features(self):
        return self.X_train.shape[1]

    @property
    def classes(self):
        return np.unique(self.y_train)


STANDARDIZE_BLOCK = 1 << 18  # values standardized at a time (2 MiB in float64): no float64 copy of a data set


def standardize(X, mean, scale):
    """``(X - mean) / scale`` as float32, computed in float64 a block of rows at a time."""
    X = np.asarray(X)
    out = np.empty(X.shape, np.float32)
    step = max(1, STANDARDIZE_BLOCK // max(1, X.shape[-1]))
    for start in range(0, len(X), step):
        block = X[start:start + step].astype(np.float64)
        block -= mean
        block /= scale
        out[start:start + step] = block
    return out


def _finish(name, X_train, y_train, X_test, y_test, description):
    X_train = np.asarray(X_train)
    mean = X_train.mean(axis=0, dtype=np.float64)  # the same numbers as on a float64 copy, without the copy
    scale = X_train.std(axis=0, dtype=np.float64)
    scale[scale == 0] = 1.0
    return Dataset(name, standardize(X_train, mean, scale), np.asarray(y_train),
                   standardize(X_test, mean, scale), np.asarray(y_test), description, mean, scale)


def _check_classes_split(name, y, test_size):
    """A stratified split needs two rows of each class: name the classes with one, and say when the labels
    look like a continuous target (numbers, most rows a class of their own) rather than classes. Then each
    part needs a row of every class (:func:`_check_split_sizes`)."""
    labels, counts = np.unique(y, return_counts=True)
    single = labels[counts < 2]
    if not len(single):
        return _check_split_sizes(name, len(y), len(labels), test_size)
    # in a small file, a few classes of one row each are more likely than a continuous target
    if len(y) >= 20 and len(labels) > len(y) / 2 and all(_parses_as(float, str(label)) for label in labels):
        raise DataError(f"{name}: {len(labels)} different labels in {len(y)} rows ({list_some(labels)}): they "
                        "look like a continuous target, and shrinkage trains classifiers")
    raise DataError(f"{name}: cannot make a stratified split: {len(single)} of the {len(labels)} classes "
                    f"{'has' if len(single) == 1 else 'have'} a single row ({list_some(single)}); each needs 2, "
                    "one to train on and one to test on")


def _check_split_sizes(name, n_rows, n_classes, test_size):
    """Each part of a stratified split needs a row of every class: say how many rows that takes."""

    def fits(n):
        n_test = math.ceil(test_size * n)  # as scikit-learn rounds
        return min(n_test, n - n_test) >= n_classes

    if not fits(n_rows):
        needed = next(n for n in itertools.count(n_rows) if fits(n))
        raise DataError(f"{name}: {n_rows} rows are too few for a stratified split of {n_classes} classes "
                        f"({1 - test_size:.0%} to train on, {test_size:.0%} to test on): each part needs a row "
                        f"of every class; give at least {needed} rows")


def _split(name, X, y, test_size, description):
    _check_classes_split(name, y, test_size)
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


def missing_labels(y):
    """Where ``y`` has no label: NaN in float labels, an empty or blank string in text labels."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind in "US":
        return np.char.strip(y.astype(str)) == ""
    return np.zeros(y.shape, dtype=bool)


def _check_arrays(source, X, y, min_classes=2):
    if X.ndim != 2 or len(X) == 0:
        raise DataError(f"{source}: expected a non-empty 2-D feature table; got shape {X.shape}")
    if len(X) != len(y):
        raise DataError(f"{source}: {len(X)} rows of features but {len(y)} labels")
    if not np.isfinite(X).all():
        raise DataError(f"{source}: features contain NaN or infinity")
    missing = missing_labels(y)
    if missing.any():  # else an empty label or NaN would train as a class of its own
        rows = np.flatnonzero(missing) + 1
        raise DataError(f"{source}: the label is missing in {len(rows)} of {len(y)} rows (data "
                        f"row{'s' if len(rows) > 1 else ''} {list_some(rows)}, counted from 1 after any header): "
                        "fill them in or drop those rows")
    if len(np.unique(y)) < min_classes:
        raise DataError(f"{source}: the labels hold only one class ({np.unique(y)[0]}); need at least 2")


CSV_CHUNK_ROWS = 4096  # rows parsed at a time: a file's text never lives as Python strings all at once


def _read_csv(path, target, n_features=None, columns=None):
    """``(X, y, label column name, feature column names)`` of a CSV file.

    For prediction, ``n_features`` lets the label column be absent, and ``columns`` (the feature columns a
    model was trained on) picks the features by name, in the model's order, wherever they stand in the file;
    the label is then the ``target`` column, or else the one column left over, if any.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # with or without a BOM (Excel)
            reader = csv.reader(handle)
            records = _records(reader)
            _, header = next(records, (None, None))
            if header is not None:
                header = [name.strip() for name in header]
                _check_header(path, header)
                if columns is not None:
                    features, column = _columns_by_name(path, header, columns, target)
                else:
                    features, column = _columns_by_position(path, header, target, n_features)
                X, labels = _parse_records(path, records, header, features, column)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
                        "save it as UTF-8 CSV") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc})") from None
    except csv.Error as exc:  # a field over the csv module's size limit, say
        raise DataError(f"{path}: line {reader.line_num} cannot be read as CSV ({exc})") from None
    if header is None or not len(X):
        raise DataError(f"{path}: expected a header row and at least one data row")
    names = [header[j] for j in features]
    if column is None:
        return X, None, None, names
    return X, _label_array(labels), header[column], names


def _label_array(labels):
    """CSV label strings as integers when every one is a whole number, written ``1`` or ``1.0`` (so the
    two spellings are one class), else as the strings themselves."""
    labels = np.array(labels)
    try:
        return labels.astype(np.int64)
    except ValueError:
        pass
    try:
        values = labels.astype(np.float64)
    except ValueError:
        return labels
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) <= 2.0**53)
    return values.astype(np.int64) if whole.all() else labels


def _records(reader):
    """``(line, fields)`` of each CSV record. Blank lines (a file's last newline twice, say) are skipped, as
    pandas does; a row of empty fields is not."""
    for line, row in enumerate(reader, start=1):
        if len(row) > 1 or "".join(row).strip():
            yield line, row


def _parse_records(path, records, header, features, column):
    """The features (float64, one row per record) and the label strings (or None) of the data ``records``,
    read ``CSV_CHUNK_ROWS`` at a time into arrays: a 95 MB file once took 1.4 GB and 14 s read whole."""
    blocks, labels = [], ([] if column is not None else None)
    while chunk := list(itertools.islice(records, CSV_CHUNK_ROWS)):
        bad = next((line for line, row in chunk if len(row) != len(header)), None)
        if bad is not None:
            raise DataError(f"{path}: line {bad} has a different number of fields than the header")
        try:
            values = [float(row[j]) for _, row in chunk for j in features]
        except ValueError:
            raise DataError(_first_non_number(path, chunk, features, header)) from None
        blocks.append(np.array(values, dtype=np.float64).reshape(len(chunk), len(features)))
        if column is not None:
            labels.extend(row[column].strip() for _, row in chunk)
            _check_one_line_labels(path, chunk, labels[-len(chunk):])
    X = np.concatenate(blocks) if blocks else np.empty((0, len(features)))
    return X, labels


def _check_one_line_labels(path, numbered, labels):
    """A label that runs over several lines comes from a quote that is never closed: the csv module then
    reads the rest of the file into that one field. Say so, rather than train on the rows before it."""
    line = next((line for (line, _), label in zip(numbered, labels) if "\n" in label or "\r" in label), None)
    if line is not None:
        raise DataError(f"{path}: line {line}: the label opens a quote (\") that is not closed on that line, so the "
                        "rest of the file reads as one label; close or remove the quote")


def _shown(field, limit=40):
    """``repr`` of ``field``, cut to ``limit`` characters."""
    return repr(field) if len(field) <= limit else repr(field[:limit]) + f"... ({len(field):,} characters)"


def _first_non_number(path, numbered, features, header):
    """Where the first feature field that is no number is, and what it holds."""
    line, row, j = next((line, row, j) for line, row in numbered for j in features if not _parses_as(float, row[j]))
    field = row[j].strip()
    what = f"holds {_shown(field)}, not a number" if field else "is empty (a missing value: fill it in or drop the row)"
    return f"{path}: line {line}, column {header[j]!r} {what}; every feature must be a number"


def _columns_by_position(path, header, target, n_features):
    """The feature positions, and the label's or None: the ``target`` column, else none when the file has
    just ``n_features`` columns (prediction), else the last."""
    if target is not None and target not in header:
        if n_features is None or len(header) != n_features:
            raise DataError(f"{path}: no target column {target!r}; columns are {header}")
    if target is not None and target in header:
        column = header.index(target)
    elif n_features is not None and len(header) == n_features:
        column = None  # features only
    else:
        column = len(header) - 1
    return [j for j in range(len(header)) if j != column], column


def _columns_by_name(path, header, columns, target):
    """The positions of the model's feature ``columns`` in ``header``, and of the label column or None."""
    missing = [name for name in columns if name not in header]
    if missing:
        raise DataError(f"{path}: lacks {missing}, of the {len(columns)} columns the model was trained on (read by "
                        "name from a CSV file; an .npz file's X is read by position)")
    if target in columns:
        raise DataError(f"{path}: the label column {target!r} is one of the columns the model reads as features")
    features = [header.index(name) for name in columns]
    rest = [j for j in range(len(header)) if j not in features]
    if target is not None:
        column = header.index(target) if target in header else None
    else:
        column = rest[0] if len(rest) == 1 else None
    return features, column


def _check_header(path, header):
    """Refuse a first row that is data rather than column names: it would silently become the header and
    its sample would be lost. Names must be distinct; a row of numbers with a non-integer among them is data
    (pandas writes integer column names 0, 1, ... as a header, so whole numbers alone are allowed). A header
    of one column holding a ';', tab or '|' is a file with another separator."""
    separator = next((sep for sep in ";\t|" if len(header) == 1 and sep in header[0]), None)
    if separator is not None:
        raise DataError(f"{path}: the header {header[0]!r} is one column: the file seems separated by "
                        f"{separator!r}; save it with commas")
    if all(_parses_as(float, name) for name in header) and not all(_parses_as(int, name) for name in header):
        raise DataError(f"{path}: the first row is numbers ({', '.join(header[:3])}, ...), not column names; "
                        "add a header row")
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        raise DataError(f"{path}: the first row must name the columns, but names repeat ({', '.join(repeated[:5])}); "
                        "if it is a data row, add a header row")


def _parses_as(kind, text):
    """Whether ``kind(text)`` (``float`` or ``int``) reads ``text``."""
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _load_csv(path, target):
    X, y, name, features = _read_csv(path, target)
    _check_arrays(path, X, y)
    ds = _split(str(path), X, y, 0.2, f"CSV file, label column {name!r}")
    ds.feature_names = features
    return ds


def read_features(source, n_features, target=None, columns=None):
    """Raw (unstandardized) features, and labels when present, of a CSV or .npz file for prediction.

    ``columns``: the feature columns the model was trained on (from a CSV file), picked by name from a
    CSV file; an .npz file's ``X`` is taken as it is.
    """
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{source}: no such file")
    if path.suffix.lower() == ".csv":
        X, y, _, _ = _read_csv(path, target, n_features, columns)
    elif path.suffix.lower() == ".npz":
        arrays = _npz_arrays(path)
        if "X" not in arrays:
            raise DataError(f"{path}: missing array 'X'; found {sorted(arrays)}")
        X, y = _numeric(path, arrays["X"]), arrays.get("y")
    else:
        raise DataError(f"{source}: unknown file type {path.suffix!r}; expected .csv or .npz")
    if X.ndim != 2 or X.shape[1] != n_features:
        raise DataError(f"{source}: the model expects {n_features} features; the file has shape {X.shape}")
    if not np.isfinite(X).all():
        raise DataError(f"{source}: features contain NaN or infinity")
    return X, y


def _npz_arrays(path):
    try:
        if not zipfile.is_zipfile(path):  # else NumPy reads it as an .npy, or calls it a pickle
            raise DataError(f"{path}: not an .npz archive (a zip of arrays, as numpy.savez writes); "
                            "expected arrays X and y")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except DataError:
        raise
    except Exception as exc:  # zipfile, format and pickle refusals alike
        raise DataError(f"{path}: not a readable .npz without pickle ({exc})") from None


def _numeric(path, array, name="X"):
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{path}: array {name!r} is not numeric (dtype {array.dtype})")
    # Floats keep their precision (standardizing computes in float64 block by block): no float64 copy of X.
    return array if np.issubdtype(array.dtype, np.floating) else np.asarray(array, dtype=np.float64)


def _load_npz(path):
    arrays = _npz_arrays(path)
    for key in ("X", "y"):
        if key not in arrays:
            raise DataError(f"{path}: missing array {key!r}; found {sorted(arrays)}")
    X = _numeric(path, arrays["X"])
    y = arrays["y"]
    _check_arrays(path, X, y)
    if ("X_test" in arrays) != ("y_test" in arrays):  # one alone would be ignored: say so
        given, missing = ("X_test", "y_test") if "X_test" in arrays else ("y_test", "X_test")
        raise DataError(f"{path}: has {given!r} but no {missing!r}; give both for a test split of your own, "
                        "or neither")
    if "X_test" in arrays:
        X_te = _numeric(path, arrays["X_test"], "X_test")
        _check_arrays(f"{path} (test)", X_te, arrays["y_test"], min_classes=1)
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
    X_tr = np.concatenate([p[0] for p in parts]).astype(np.float32)
    X_tr /= 255
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
