"""Model files: one ``.npz`` that never executes code when read.

Format (version 1): a NumPy ``.npz`` archive holding

* ``header``: UTF-8 JSON as a ``uint8`` array: ``{"format": "shrinkage-model",
  "version": 1, "estimator": class name, "params": get_params(),
  "arrays": {name: [shape, dtype]}, "attributes": {...}}``;
* ``coefs_0 .. coefs_{L-1}``, ``intercepts_0 ..``: the weights;
* ``classes_`` for classifiers (numbers or fixed-width unicode strings);
* optionally ``input_mean`` and ``input_scale``: the standardization the
  command line applied to the training features, so that ``shrinkage
  predict`` can apply it to raw features (and, in the header's attributes,
  ``input_columns``: the CSV columns they came from, so that it picks them
  by name).

The header's ``attributes`` also keep what ``fit`` recorded beside the
weights: ``feature_names_in_`` (so a loaded model still checks a DataFrame's
columns), ``history_``, ``n_epochs_``, ``best_epoch_``, ``stop_reason_`` and
the early-stopping rule's final state (``early_stopping_``). Files written
before they were kept load without them.

A model file is for prediction and for training on from the weights: it does
not keep the optimizer's state (momentum, Adam's moments and step count) or
the random generator's, so ``partial_fit`` on a loaded model starts them
afresh where the saved estimator would have continued them, and takes other
steps. To stop and resume training exactly, use a checkpoint
(``fit(X, y, checkpoint=path, resume=True)``).

It is read with ``allow_pickle=False``; every array is checked against the
header's shapes and dtypes before use. Anything wrong ends in
:class:`ModelFileError`.
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.base import is_classifier

from ._estimator_params import from_plain_values
from ._params import is_number
from .checkpoint import atomic_write_npz, check_output_file, read_npz
from .estimators import LinearClassifier, MLPClassifier, MLPRegressor
from .network_estimator import FITTED, json_safe_params

__all__ = ["save", "load", "load_with_preprocessing", "ModelFileError", "FORMAT_VERSION"]

FORMAT = "shrinkage-model"
FORMAT_VERSION = 1
_ESTIMATORS = {cls.__name__: cls for cls in (MLPClassifier, MLPRegressor, LinearClassifier)}


class ModelFileError(ValueError):
    """A file that is not a shrinkage model this version can read."""


def save(estimator, path, input_mean=None, input_scale=None, input_columns=None):
    """Write a fitted estimator to ``path`` (atomically: a temporary file, then a rename).

    ``input_mean`` / ``input_scale`` (optional) record how raw features are
    standardized before they reach the estimator; ``input_columns`` (optional)
    the names of the CSV columns the features came from, in their order.
    A ``path`` that cannot be written (a missing folder, a folder in its place)
    is refused with a ValueError that names it, before anything is written.
    """
    kind = type(estimator)
    is_fitted = all(hasattr(estimator, name) for name in FITTED)  # not just weights set
    if _ESTIMATORS.get(kind.__name__) is not kind or not is_fitted:  # by class: names repeat
        fitted = "an unfitted " if kind in _ESTIMATORS.values() else f"{kind.__module__}."
        raise TypeError(f"save expects a fitted shrinkage estimator; got {fitted}{kind.__name__}")
    check_output_file(path, "path")  # a missing folder named as such, not as the temporary file's
    arrays = {f"coefs_{i}": W for i, W in enumerate(estimator.coefs_)}
    arrays.update({f"intercepts_{i}": b for i, b in enumerate(estimator.intercepts_)})
    if input_mean is not None:
        arrays["input_mean"] = np.asarray(input_mean, dtype=np.float64)
        arrays["input_scale"] = np.asarray(input_scale, dtype=np.float64)
    attributes = {"n_features_in_": int(estimator.n_features_in_), "n_outputs": int(estimator._n_outputs)}
    if hasattr(estimator, "classes_"):
        classes = estimator.classes_
        arrays["classes_"] = classes.astype(str) if classes.dtype == object else classes
        attributes["classes_was_object"] = bool(classes.dtype == object)
    else:
        attributes["y_1d"] = bool(estimator._y_1d)
    attributes.update(_training_record(estimator))
    if input_columns is not None:
        attributes["input_columns"] = [str(name) for name in input_columns]
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": json_safe_params(estimator),
        "arrays": {k: [list(v.shape), v.dtype.str] for k, v in arrays.items()},
        "attributes": attributes,
    }
    arrays["header"] = np.frombuffer(json.dumps(header, default=_plain_number).encode(), dtype=np.uint8)
    return atomic_write_npz(path, arrays)


def _plain_number(value):
    if isinstance(value, np.generic):  # a NumPy number in the history or the early-stopping state
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a model file")


_RECORD = ("history_", "n_epochs_", "best_epoch_", "stop_reason_")


def _training_record(estimator):
    """The fitted attributes beside the weights, as plain values (only those the estimator has: a user may
    have set ``coefs_`` without fitting)."""
    record = {name: getattr(estimator, name) for name in _RECORD if hasattr(estimator, name)}
    if hasattr(estimator, "feature_names_in_"):
        record["feature_names_in_"] = [str(name) for name in estimator.feature_names_in_]
    if hasattr(estimator, "early_stopping_"):
        rule = estimator.early_stopping_
        record["early_stopping_"] = None if rule is None else rule.state_dict()
    return record


def _header(path, arrays):
    raw = arrays.get("header")
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: not a shrinkage model file (no header)")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupted header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a shrinkage model file (format {header.get('format')!r})"
                             if isinstance(header, dict) else f"{path}: not a shrinkage model file")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version!r} is newer than this shrinkage reads "
            f"({FORMAT_VERSION}); upgrade shrinkage"
        )
    return header


def load(path):
    """Read an estimator written by :func:`save`; raise :class:`ModelFileError` on any problem.

    The estimator predicts as the saved one did; training it further starts the optimizer afresh
    (the file keeps no optimizer state: see the module's notes, and checkpoints for exact resumption)."""
    return load_with_preprocessing(path)[0]


def load_with_preprocessing(path):
    """``(estimator, preprocessing)``, where ``preprocessing`` is ``{"mean", "scale"}`` or None."""
    arrays = read_npz(path, ModelFileError, "shrinkage model file")
    header = _header(path, arrays)
    try:
        return _build(path, header, arrays)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{path}: inconsistent model file ({type(exc).__name__}: {exc})") from None


def _build(path, header, arrays):
    cls = _ESTIMATORS[header["estimator"]]
    expected = header["arrays"]
    for name, (shape, dtype) in expected.items():
        if name not in arrays or list(arrays[name].shape) != shape or arrays[name].dtype.str != dtype:
            raise ModelFileError(f"{path}: array {name!r} is missing or does not match the header")
    n_layers = sum(1 for k in expected if k.startswith("coefs_"))
    coefs = [arrays[f"coefs_{i}"] for i in range(n_layers)]
    intercepts = [arrays[f"intercepts_{i}"] for i in range(n_layers)]
    params = dict(header["params"])
    if "hidden_layer_sizes" in params:
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if isinstance(params.get("class_weight"), list):  # stored as [label, weight] pairs (json_safe_params)
        params["class_weight"] = {label: weight for label, weight in params["class_weight"]}
    estimator = cls(**from_plain_values(params))  # an early-stopping rule is stored as its settings
    estimator._check_params()
    attributes = header["attributes"]
    _check_layers(path, coefs, intercepts, attributes)
    dtype = np.dtype(estimator.dtype)
    if any(a.dtype != dtype for a in coefs + intercepts):
        raise ModelFileError(f"{path}: weights are not of the model's dtype {dtype}")
    estimator.coefs_, estimator.intercepts_ = coefs, intercepts
    estimator.n_features_in_ = attributes["n_features_in_"]
    estimator._n_outputs = attributes["n_outputs"]
    if is_classifier(estimator):
        classes = arrays["classes_"]
        if classes.shape != (estimator._n_outputs,):
            raise ModelFileError(f"{path}: {classes.shape} classes for {estimator._n_outputs} outputs")
        estimator.classes_ = classes.astype(object) if attributes.get("classes_was_object") else classes
    else:
        estimator._y_1d = bool(attributes["y_1d"])
    _restore_training_record(path, estimator, attributes)
    return estimator, _preprocessing(path, arrays, attributes, estimator.n_features_in_)


def _preprocessing(path, arrays, attributes, n_features):
    """``{"mean", "scale", "columns"}`` (each possibly None) as :func:`save` recorded them, or None."""
    columns = attributes.get("input_columns")
    if "input_mean" not in arrays and columns is None:
        return None
    mean, scale = arrays.get("input_mean"), arrays.get("input_scale")
    if (mean is None) != (scale is None) or mean is not None and (
            mean.shape != (n_features,) or scale.shape != (n_features,)):
        raise ModelFileError(f"{path}: the standardization does not match the number of features")
    if columns is not None and not (isinstance(columns, list) and len(columns) == n_features
                                    and all(isinstance(c, str) for c in columns) and len(set(columns)) == n_features):
        raise ModelFileError(f"{path}: input_columns is not {n_features} distinct column names")
    return {"mean": mean, "scale": scale, "columns": columns}


def _restore_training_record(path, estimator, attributes):
    """Set the attributes of :func:`_training_record` that the file holds, each checked first."""
    names = attributes.get("feature_names_in_")
    if names is not None:
        if not (isinstance(names, list) and len(names) == estimator.n_features_in_
                and all(isinstance(name, str) for name in names)):
            raise ModelFileError(f"{path}: feature_names_in_ is not {estimator.n_features_in_} column names")
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    if "history_" not in attributes:
        return
    history, n_epochs = attributes["history_"], attributes["n_epochs_"]
    best, reason = attributes["best_epoch_"], attributes["stop_reason_"]
    curves = isinstance(history, dict) and all(
        isinstance(v, list) and all(is_number(x) for x in v) for v in history.values())
    lengths = {len(v) for v in history.values()} if curves else set()
    epochs = max(lengths, default=0)  # every curve has one value per epoch
    if not (curves and len(lengths) <= 1 and is_number(n_epochs, int) and n_epochs >= 0
            and (best is None or is_number(best, int) and 0 <= best < epochs)
            and (reason is None or isinstance(reason, str))):
        raise ModelFileError(f"{path}: the training record (history_, n_epochs_, best_epoch_, stop_reason_) "
                             "is inconsistent")
    estimator.history_, estimator.n_epochs_ = history, n_epochs
    estimator.best_epoch_, estimator.stop_reason_ = best, reason
    estimator.early_stopping_ = _early_stopping_rule(path, estimator, attributes.get("early_stopping_"))


def _early_stopping_rule(path, estimator, state):
    """The estimator's early-stopping rule in the state it ended training in, or None."""
    if state is None:
        return None
    rule = estimator._early_stopping()
    if rule is None or not isinstance(state, dict) or set(state) != set(rule.state_dict()):
        raise ModelFileError(f"{path}: an early-stopping state that the model's settings do not explain")
    rule.load_state_dict(state)
    return rule



def _check_layers(path, coefs, intercepts, attributes):
    sizes_ok = bool(coefs) and all(
        W.ndim == 2 and b.shape == (W.shape[1],) for W, b in zip(coefs, intercepts)
    ) and all(a.shape[1] == b.shape[0] for a, b in zip(coefs[:-1], coefs[1:]))
    if not sizes_ok or coefs[0].shape[0] != attributes.get("n_features_in_") \
            or coefs[-1].shape[1] != attributes.get("n_outputs"):
        raise ModelFileError(f"{path}: layer shapes do not chain from the inputs to the outputs")
    if not all(np.isfinite(a).all() for a in coefs + intercepts):
        raise ModelFileError(f"{path}: weights contain NaN or infinity")
