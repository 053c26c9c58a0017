"""The estimators' parameters: what each may be (one table, checked by :mod:`._params`) and the rules
between them. Called by ``fit`` and ``partial_fit`` (scikit-learn's convention: ``__init__`` only stores).

A setting that would be silently ignored is an error: ``l1_ratio`` without
the elastic net, ``patience`` without early stopping, ``nesterov`` without
momentum, ``dropout`` or ``activation`` without hidden units; and, when
changed from their defaults, ``alpha`` without a penalty (``alpha=0`` says the
same as no penalty, so it passes), ``min_delta``, ``stopping_criterion``,
``validation_fraction`` and ``restore_best_weights`` without early stopping
(all but ``validation_fraction`` also beside an :class:`~shrinkage.EarlyStopping`
given as ``early_stopping``, which holds its own; ``validation_fraction``
beside one that monitors the training ``loss``, which holds nothing out),
``dropout_mode`` without dropout, ``momentum`` under Adam, and Adam's
``beta_1``, ``beta_2`` and ``epsilon`` under SGD.
"""

from __future__ import annotations

import numpy as np

from . import _params as P
from .early_stopping import EarlyStopping
from .layers import ACTIVATIONS

__all__ = ["TABLE", "check_estimator_params", "check_validation_fraction_unused", "from_plain_values"]

_UNIT = P.Interval(float, 0, 1, "left")  # [0, 1)
TABLE = {
    "activation": [P.Options(*ACTIVATIONS)],
    "penalty": [P.NoneOK(), P.Options("l2", "l1", "elasticnet")],
    "alpha": [P.Interval(float, 0, None, "left")],
    "l1_ratio": [P.NoneOK(), P.Interval(float, 0, 1, "both")],
    "l1_method": [P.Options("proximal", "subgradient", "cumulative")],
    "weight_decay": [P.Interval(float, 0, None, "left")],
    "dropout": [_UNIT],
    "input_dropout": [_UNIT],
    "dropout_mode": [P.Options("inverted", "classic")],
    "max_norm": [P.NoneOK(), P.Interval(float, 0, None, "neither")],
    "optimizer": [P.Options("sgd", "adam")],
    "learning_rate": [P.Interval(float, 0, None, "neither")],
    "momentum": [P.Interval(float, 0, 1, "left")],
    "nesterov": [P.Boolean()],
    "beta_1": [_UNIT],
    "beta_2": [_UNIT],
    "epsilon": [P.Interval(float, 0, None, "neither")],
    "batch_size": [P.Options("auto"), P.Interval(int, 1, None)],
    "max_epochs": [P.Interval(int, 1, None)],
    "early_stopping": [P.Boolean(), P.Instance(EarlyStopping, description="an EarlyStopping")],
    "patience": [P.NoneOK(), P.Interval(int, 0, None)],
    "min_delta": [P.Interval(float, 0, None, "left")],
    "stopping_criterion": [P.Options("patience", "gl", "pq", "up")],
    "stopping_threshold": [P.NoneOK(), P.Interval(float, 0, None, "left")],
    "validation_fraction": [P.Interval(float, 0, 1, "neither")],
    "restore_best_weights": [P.Boolean()],
    "shuffle": [P.Boolean()],
    "random_state": [P.NoneOK(), P.Interval(int, 0, 2**32 - 1),
                     P.Instance(np.random.Generator, np.random.RandomState)],
    "verbose": [P.Interval(int, 0, None), P.Boolean()],
    "dtype": [P.DType()],
    "warm_start": [P.Boolean()],
    "class_weight": [P.NoneOK(), P.Options("balanced"), P.WeightDict()],
}

# The estimators' defaults of the settings whose rules ask whether they were changed (a test checks these
# against the signatures).
DEFAULTS = {"alpha": 1e-3, "patience": None, "min_delta": 0.0, "stopping_criterion": "patience",
            "stopping_threshold": None, "validation_fraction": 0.1, "restore_best_weights": True, "momentum": 0.9,
            "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "activation": "relu", "dropout_mode": "inverted"}
ONLY_WITH_EARLY_STOPPING = ("stopping_criterion", "min_delta", "validation_fraction", "restore_best_weights")
# The estimator's own early-stopping settings, which an EarlyStopping given as early_stopping replaces.
EARLY_STOPPING_SETTINGS = ("patience", "min_delta", "stopping_criterion", "stopping_threshold", "restore_best_weights")
OPTIMIZER_OF = {"momentum": "sgd", "beta_1": "adam", "beta_2": "adam", "epsilon": "adam"}
# What the estimators log each epoch, and which way each improves.
LOGGED = {"loss": "min", "val_loss": "min", "val_score": "max"}


def from_plain_values(params):
    """``params`` as a study file or the command line spells them, as the estimators take them: an
    ``early_stopping`` table (TOML and ``--set`` have no objects), such as ``{monitor = "val_score",
    mode = "max", patience = 20}``, becomes an :class:`~shrinkage.EarlyStopping`; a ValueError names a
    table it cannot be."""
    rule = params.get("early_stopping")
    if not isinstance(rule, dict):
        return params
    try:
        return {**params, "early_stopping": EarlyStopping(**rule)}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"early_stopping = {rule}: {exc}") from None


def check_estimator_params(params, output_losses):
    """Check ``params`` (an estimator's ``get_params(deep=False)``) against :data:`TABLE`, ``loss`` against
    ``output_losses``, then the rules between parameters; raise ValueError naming the first problem."""
    table = {k: v for k, v in TABLE.items() if k in params}
    table["loss"] = [P.Options(*output_losses)]
    if "hidden_layer_sizes" in params:
        table["hidden_layer_sizes"] = [P.IntTuple()]
    P.validate_params(params, table)
    _check_rules(params)


def check_validation_fraction_unused(validation_fraction, validation_data):
    """``fit``'s rule of the same kind: ``validation_data`` replaces the held-out split, so a
    ``validation_fraction`` changed from its default would be ignored."""
    if validation_data is not None and validation_fraction != DEFAULTS["validation_fraction"]:
        raise ValueError(f"validation_fraction={validation_fraction!r} is not used when validation_data is given; "
                         f"leave it at its default ({DEFAULTS['validation_fraction']!r})")


def _check_rules(p):
    """Rules between parameters: a setting that would be silently ignored is an error."""
    if p["penalty"] is None and p["alpha"] and _changed(p, "alpha"):
        raise ValueError(f"alpha={p['alpha']!r} is only used with penalty='l2', 'l1' or 'elasticnet'; got penalty=None")
    if p["l1_ratio"] is not None and p["penalty"] != "elasticnet":
        raise ValueError(f"l1_ratio is only used with penalty='elasticnet'; got penalty={p['penalty']!r}")
    if p["l1_method"] != "proximal" and p["penalty"] not in ("l1", "elasticnet"):
        raise ValueError(f"l1_method={p['l1_method']!r} is only used with penalty='l1' or 'elasticnet'; "
                         f"got penalty={p['penalty']!r}")
    early, criterion = p["early_stopping"], p["stopping_criterion"]
    if isinstance(early, EarlyStopping):
        _check_given_early_stopping(early, p)
    if p["patience"] is not None and not (early and criterion == "patience"):
        raise ValueError("patience is only used with early_stopping=True and stopping_criterion='patience'; "
                         f"got early_stopping={early}, stopping_criterion={criterion!r}")
    if p["stopping_threshold"] is not None and not (early and criterion != "patience"):
        raise ValueError("stopping_threshold is only used with early_stopping=True and stopping_criterion "
                         f"'gl', 'pq' or 'up'; got early_stopping={early}, stopping_criterion={criterion!r}")
    for name in ONLY_WITH_EARLY_STOPPING:
        if _changed(p, name) and not early:
            raise ValueError(f"{name}={p[name]!r} is only used with early_stopping=True; got early_stopping=False")
    for name, optimizer in OPTIMIZER_OF.items():
        if _changed(p, name) and p["optimizer"] != optimizer:
            raise ValueError(f"{name}={p[name]!r} is only used with optimizer={optimizer!r}; "
                             f"got optimizer={p['optimizer']!r}")
    if p["nesterov"] and not (p["optimizer"] == "sgd" and p["momentum"] > 0):
        raise ValueError("nesterov=True needs optimizer='sgd' with momentum > 0; "
                         f"got optimizer={p['optimizer']!r}, momentum={p['momentum']}")
    sizes = p.get("hidden_layer_sizes", ())
    hidden = (sizes,) if np.isscalar(sizes) else tuple(sizes)
    if p.get("dropout", 0.0) and not hidden:
        raise ValueError(f"dropout={p['dropout']} acts on hidden units, and hidden_layer_sizes=() has none; "
                         "use input_dropout to drop input features")
    if _changed(p, "activation") and not hidden:
        raise ValueError(f"activation={p['activation']!r} acts on hidden units, and hidden_layer_sizes=() has none")
    rates = {name: p[name] for name in ("dropout", "input_dropout") if name in p}
    if _changed(p, "dropout_mode") and not any(rates.values()):
        got = ", ".join(f"{name}={rate!r}" for name, rate in rates.items())
        raise ValueError(f"dropout_mode={p['dropout_mode']!r} is only used with {' or '.join(rates)} > 0; got {got}")
    threshold = p["stopping_threshold"]
    if criterion == "up" and threshold is not None and (float(threshold) != int(threshold) or threshold < 1):
        raise ValueError(f"stopping_threshold must be an int >= 1 with stopping_criterion='up'; got {threshold!r}")


def _changed(p, name):
    """Whether the setting ``name`` (a parameter of this estimator) is not at its default."""
    return name in p and p[name] != DEFAULTS[name]


def _check_given_early_stopping(es, p):
    """``early_stopping=EarlyStopping(...)``: it holds every early-stopping setting, and must watch a value
    the estimators log, in the direction that value improves."""
    for name in EARLY_STOPPING_SETTINGS:
        if _changed(p, name):
            raise ValueError(f"{name}={p[name]!r} would be ignored: early_stopping is an EarlyStopping, which holds "
                             f"its own settings; leave {name} at its default ({DEFAULTS[name]!r})")
    if es.monitor not in LOGGED:
        raise ValueError(f"early_stopping monitors {es.monitor!r}, which the estimators do not log; "
                         f"they log {', '.join(map(repr, LOGGED))}")
    if es.monitor == "loss" and _changed(p, "validation_fraction"):
        raise ValueError(f"validation_fraction={p['validation_fraction']!r} would be ignored: early_stopping monitors "
                         f"the training 'loss', so fit holds nothing out; leave validation_fraction at its default "
                         f"({DEFAULTS['validation_fraction']!r}), or pass validation_data=(X_val, y_val) for "
                         "validation values in history_")
    right = LOGGED[es.monitor]
    if es.mode != right:
        raise ValueError(f"early_stopping monitors {es.monitor!r} with mode={es.mode!r}; {es.monitor} is better "
                         f"when {'lower' if right == 'min' else 'higher'}: use mode={right!r}")
