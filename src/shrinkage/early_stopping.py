"""Early stopping: Keras 3 semantics by default, and Prechelt's (1998) criteria.

:class:`EarlyStopping` needs no model: feed it one dict of logs per epoch with
``update(epoch, logs)`` and it says whether to stop. The training loop keeps
the weights of ``best_epoch`` and restores them at the end.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

from . import _params as P

__all__ = ["EarlyStopping"]

_CRITERIA = ("patience", "gl", "pq", "up")
_DEFAULT_THRESHOLD = {"gl": 5.0, "pq": 0.5, "up": 3}


class EarlyStopping:
    """Stop training when a monitored quantity stops improving.

    Parameters
    ----------
    monitor : str, default="val_loss"
        Key of ``logs`` to watch.
    mode : {"min", "max"}, default="min"
        Whether smaller or larger values are better.
    patience : int, default=5
        Number of monitored epochs without improvement after which training stops.
    min_delta : float, default=0.0
        An epoch improves when ``value < best - min_delta`` (mode ``"min"``)
        or ``value > best + min_delta`` (mode ``"max"``).
    baseline : float or None
        When given, an improving epoch resets ``wait`` only if it also beats
        ``baseline`` by ``min_delta``; so training stops after ``patience``
        epochs unless the baseline is beaten.
    start_from_epoch : int, default=0
        Epochs before this one are ignored entirely (warm-up).
    restore_best_weights : bool, default=True
        Tells the training loop to restore the weights of ``best_epoch`` at the
        end of training, whether it stopped early or ran out of epochs.
    criterion : {"patience", "gl", "pq", "up"}, default="patience"
        ``"patience"``: the Keras rule above. Prechelt's criteria (mode
        ``"min"`` only), with ``t = epoch + 1``, ``E_va`` the monitored value,
        ``E_opt(t)`` the lowest ``E_va`` so far and ``E_tr`` ``logs["loss"]``:

        * ``"gl"``: stop when the generalization loss
          ``GL(t) = 100 * (E_va(t) / E_opt(t) - 1)`` exceeds ``threshold``
          (at ``E_opt = 0``, infinite as soon as ``E_va`` rises above it).
        * ``"pq"``: at the end of each strip of ``strip`` epochs, stop when
          ``GL(t) / P_k(t)`` exceeds ``threshold``, with training progress
          ``P_k(t) = 1000 * (sum(E_tr over the strip) / (k * min(E_tr over the
          strip)) - 1)``. A strip without progress (``P_k = 0``, as when the
          training loss stays at 0) stops as soon as ``GL > 0``; one that came
          down to a training loss of 0 has unbounded progress and does not stop.
          Every monitored epoch's ``logs`` must hold ``"loss"``.
        * ``"up"``: at the end of each strip, stop when ``E_va`` has risen
          (``E_va(t) > E_va(t - k)``) at the ends of ``threshold`` successive
          strips; the first test is at ``t = 2k``.
    threshold : float or None
        Prechelt's alpha for GL and PQ, his s for UP. Defaults: GL 5, PQ 0.5, UP 3.
    strip : int, default=5
        Prechelt's strip length k.

    Attributes
    ----------
    best, best_epoch : the best monitored value and the (last) epoch it was reached.
    wait : monitored epochs since ``wait`` was last reset.
    stopped_epoch : the epoch at which training was told to stop, or ``None``.
    stop_reason : ``None`` while training goes on; then ``"patience"``,
        ``"gl"``, ``"pq"``, ``"up"`` or ``"non-finite"``.
    improved : whether the last ``update`` made a new best.

    Examples
    --------
    >>> es = EarlyStopping(patience=2)
    >>> [es.update(epoch, {"val_loss": v}) for epoch, v in enumerate([3, 2, 2.5, 2.4])]
    [False, False, False, True]
    >>> es.best_epoch, es.stopped_epoch, es.stop_reason
    (1, 3, 'patience')

    References
    ----------
    Prechelt, "Early Stopping - But When?", in Neural Networks: Tricks of the
    Trade, 1998. Keras 3, ``keras.callbacks.EarlyStopping``.
    """

    def __init__(
        self,
        monitor="val_loss",
        mode="min",
        patience=5,
        min_delta=0.0,
        baseline=None,
        start_from_epoch=0,
        restore_best_weights=True,
        criterion="patience",
        threshold=None,
        strip=5,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'; got {mode!r}")
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion must be one of {_CRITERIA}; got {criterion!r}")
        if criterion != "patience" and mode != "min":
            raise ValueError(f"criterion {criterion!r} needs mode='min'; got mode={mode!r}")
        if not isinstance(monitor, str):
            raise ValueError(f"monitor must be the name of a logged value (a str); got {monitor!r}")
        if threshold is None:
            threshold = _DEFAULT_THRESHOLD.get(criterion)
        elif criterion == "up" and isinstance(threshold, float) and threshold.is_integer():
            threshold = int(threshold)  # UP counts strips: a whole number, also when written 3.0
        values = {"patience": patience, "min_delta": min_delta, "start_from_epoch": start_from_epoch,
                  "strip": strip, "baseline": baseline, "threshold": threshold,
                  "restore_best_weights": restore_best_weights}
        table = {"patience": [P.AtLeast(int, 0)], "min_delta": [P.AtLeast(float, 0)],
                 "start_from_epoch": [P.AtLeast(int, 0)], "strip": [P.AtLeast(int, 1)],
                 "restore_best_weights": [P.Boolean()]}
        if baseline is not None:
            table["baseline"] = [P.AtLeast(float)]
        if threshold is not None:
            table["threshold"] = [P.AtLeast(int, 1) if criterion == "up" else P.AtLeast(float, 0)]
        P.validate_params(values, table)
        self.monitor = monitor
        self.mode = mode
        self.patience, self.start_from_epoch, self.strip = int(patience), int(start_from_epoch), int(strip)
        self.min_delta = float(min_delta)
        self.baseline = baseline if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.criterion = criterion
        self.threshold = threshold if threshold is None else (int if criterion == "up" else float)(threshold)
        self.reset()

    def get_config(self):
        """The settings as plain values, without the state: ``EarlyStopping(**es.get_config())`` stops by
        the same rule (model files and checkpoints store an estimator's ``early_stopping`` so)."""
        names = list(inspect.signature(EarlyStopping).parameters)  # each argument is kept under its name
        return {name: getattr(self, name) for name in names}

    def __repr__(self):
        # The settings that differ from the defaults (the threshold's default is the criterion's own).
        defaults = {**EarlyStopping(criterion=self.criterion).get_config(), "criterion": "patience"}
        changed = [f"{k}={v!r}" for k, v in self.get_config().items() if v != defaults[k]]
        return f"EarlyStopping({', '.join(changed)})"

    # ------------------------------------------------------------------ state

    def reset(self):
        """Forget everything; the training loop calls this at the start of each fit."""
        self.best = None
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None
        self.stop_reason = None
        self.improved = False
        self._values = []  # monitored values, for UP
        self._train_losses = []  # logs["loss"], for PQ
        self._up_count = 0

    _STATE = ("best", "best_epoch", "wait", "stopped_epoch", "stop_reason", "improved",
              "_values", "_train_losses", "_up_count")

    def state_dict(self):
        """Everything needed to continue after a checkpoint (plain Python values)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in
                ((k, getattr(self, k)) for k in self._STATE)}

    def load_state_dict(self, state):
        for k in self._STATE:
            setattr(self, k, list(state[k]) if isinstance(state[k], list) else state[k])

    # --------------------------------------------------------------- decision

    def _better(self, value, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def update(self, epoch, logs):
        """Take one epoch's ``logs``; return ``True`` when training should stop."""
        self.improved = False
        if not isinstance(logs, Mapping):
            raise TypeError(f"logs must be a dict of the epoch's values, such as {{'val_loss': 0.31}}; "
                            f"got {type(logs).__name__}")
        if not P.is_number(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0 (epochs are counted from 0); got {epoch!r}")
        if epoch < self.start_from_epoch:
            return False
        if self.monitor not in logs:
            raise KeyError(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the logs "
                f"(available: {sorted(logs)}); pass validation data or change monitor"
            )
        if self.criterion == "pq" and "loss" not in logs:
            raise KeyError(
                f"criterion 'pq' weighs the training loss logs['loss'], which is not in the logs "
                f"(available: {sorted(logs)})"
            )
        value = _number(logs, self.monitor)
        if not math.isfinite(value):
            return self._stop(epoch, "non-finite")
        self.wait += 1
        self._values.append(value)
        if "loss" in logs:
            self._train_losses.append(_number(logs, "loss"))
        if self._better(value, self.best):
            self.best, self.best_epoch, self.improved = value, epoch, True
            if self.baseline is None or self._better(value, self.baseline):
                self.wait = 0
            if self.criterion == "patience":
                return False
        if self.criterion == "patience":
            if self.wait >= self.patience and epoch > 0:
                return self._stop(epoch, "patience")
            return False
        return self._prechelt(epoch, value)

    def _stop(self, epoch, reason):
        self.stopped_epoch, self.stop_reason = epoch, reason
        return True

    def _generalization_loss(self, value):
        e_opt = min(self._values)
        if e_opt <= 0:
            return math.inf if value > e_opt else 0.0
        return 100.0 * (value / e_opt - 1.0)

    def _prechelt(self, epoch, value):
        t = epoch + 1
        k = self.strip
        end_of_strip = t % k == 0
        if self.criterion == "gl":
            if self._generalization_loss(value) > self.threshold:
                return self._stop(epoch, "gl")
        elif self.criterion == "pq" and end_of_strip and len(self._train_losses) >= k:
            progress = _training_progress(self._train_losses[-k:])
            gl = self._generalization_loss(value)
            if progress == 0:
                quotient = math.inf if gl > 0 else 0.0
            else:
                quotient = 0.0 if math.isinf(progress) else gl / progress
            if quotient > self.threshold:
                return self._stop(epoch, "pq")
        elif self.criterion == "up" and end_of_strip and len(self._values) > k:
            rose = value > self._values[-1 - k]
            self._up_count = self._up_count + 1 if rose else 0
            if self._up_count >= self.threshold:
                return self._stop(epoch, "up")
        return False


def _training_progress(strip):
    """Prechelt's ``P_k``: ``1000 * (mean / min - 1)`` of the strip's training losses. At a lowest loss of 0
    or less (a hinge loss can reach 0) the ratio is undefined: a strip that is flat there made no progress,
    one that came down to it made unbounded progress."""
    lowest = min(strip)
    if lowest <= 0:
        return math.inf if max(strip) > lowest else 0.0
    return 1000.0 * (sum(strip) / (len(strip) * lowest) - 1.0)


def _number(logs, key):
    """``logs[key]`` as a float, or a TypeError naming the entry."""
    value = logs[key]
    if not P.is_number(value):
        raise TypeError(f"logs[{key!r}] must be a number; got {value!r}")
    return float(value)
