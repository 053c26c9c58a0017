"""The one training loop that every estimator uses.

Per batch: forward (dropout masks drawn from the loop's Generator), loss,
backward, then :class:`~shrinkage.optim.Updater` (coupled penalties, the
optimizer, decoupled decay, proximal/cumulative L1, max-norm). Per epoch:
validation, history, :class:`~shrinkage.early_stopping.EarlyStopping`,
callbacks. Batches are gathered from one permutation of indices per epoch
into a reused buffer; the data set is never copied.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["train", "predict_in_batches", "TrainingOutcome", "Callback"]

PREDICT_BATCH = 4096


class Callback:
    """Hook into the loop. ``on_epoch_end`` may return ``True`` to stop training."""

    def on_train_begin(self, n_epochs):
        pass

    def on_batch_end(self, batch, loss):
        pass

    def on_epoch_end(self, epoch, logs):
        return False

    def on_train_end(self, outcome):
        pass


@dataclass
class TrainingOutcome:
    n_epochs: int  # epochs run in this call
    stop_reason: str  # "max_epochs", "callback", "non-finite loss" or EarlyStopping's reason
    best_epoch: int | None  # in the numbering of the history (see ``epoch_offset``)
    restored: bool  # whether best weights were copied back


def predict_in_batches(network, X, batch_size=PREDICT_BATCH, rng=None, sample=False):
    """Network output on ``X`` in inference mode, ``batch_size`` rows at a time."""
    if len(X) <= batch_size:
        return network.forward(X, training=False, rng=rng, sample=sample)
    parts = [
        network.forward(X[start:start + batch_size], training=False, rng=rng, sample=sample)
        for start in range(0, len(X), batch_size)
    ]
    return np.concatenate(parts)


class _BatchGatherer:
    """Copies the rows of one batch into a buffer that is reused across batches."""

    def __init__(self, array, batch_size):
        self.array = array
        self.buffer = np.empty((batch_size,) + array.shape[1:], dtype=array.dtype)

    def __call__(self, idx):
        if len(idx) == len(self.buffer):
            return np.take(self.array, idx, axis=0, out=self.buffer)
        return self.array[idx]


def _epoch(network, loss_fn, updater, X, y, batch_size, rng, shuffle, callbacks):
    """One pass over the data; returns the mean data loss (``nan`` if it diverged)."""
    n = len(X)
    order = rng.permutation(n) if shuffle else np.arange(n)
    gather_x, gather_y = _BatchGatherer(X, batch_size), _BatchGatherer(y, batch_size)
    params, grads = network.params, network.grads
    total = 0.0
    for batch, start in enumerate(range(0, n, batch_size)):
        idx = order[start:start + batch_size]
        out = network.forward(gather_x(idx), training=True, rng=rng)
        value, grad_out = loss_fn(out, gather_y(idx))
        if not math.isfinite(value):
            return math.nan
        network.backward(grad_out)
        updater.step(params, grads)
        total += value * len(idx)
        for cb in callbacks:
            cb.on_batch_end(batch, value)
    return total / n


def train(
    network,
    loss_fn,
    updater,
    X,
    y,
    *,
    max_epochs,
    batch_size,
    rng,
    shuffle=True,
    validation=None,
    score=None,
    penalty_value=None,
    early_stopping=None,
    callbacks=(),
    history=None,
    epoch_offset=0,
):
    """Train ``network`` in place and return a :class:`TrainingOutcome`.

    Parameters
    ----------
    network : Sequential
    loss_fn : a loss from :mod:`shrinkage.losses`
    updater : :class:`~shrinkage.optim.Updater`, already ``init``-ed on ``network.params``
    X, y : training arrays (``X`` in the network's dtype)
    validation : ``(X_val, y_val)`` or None
    score : ``score(output, y) -> float`` for ``val_score``, or None
    penalty_value : ``() -> float``, the penalty added to the reported training loss
    early_stopping : :class:`~shrinkage.early_stopping.EarlyStopping` or None;
        reset here, so one object can serve many fits
    history : dict of lists to append to (created when None)
    epoch_offset : the number of the first epoch, for ``partial_fit``'s running count

    The reported ``loss`` is the mean data loss over the epoch's batches
    (with dropout active), plus the penalty value at the end of the epoch.
    ``val_loss`` is the data loss alone on the validation set, at inference.
    """
    history = {} if history is None else history
    params = network.params
    best_weights = None
    if early_stopping is not None:
        early_stopping.reset()
    for cb in callbacks:
        cb.on_train_begin(max_epochs)
    stop_reason, epochs_run = "max_epochs", 0
    for local_epoch in range(max_epochs):
        epoch = epoch_offset + local_epoch
        started = time.perf_counter()
        data_loss = _epoch(network, loss_fn, updater, X, y, batch_size, rng, shuffle, callbacks)
        epochs_run += 1
        if math.isnan(data_loss):
            stop_reason = "non-finite loss"
            break
        logs = {"loss": data_loss + (penalty_value() if penalty_value else 0.0)}
        if validation is not None:
            out = predict_in_batches(network, validation[0])
            logs["val_loss"] = loss_fn.value(out, validation[1])
            if score is not None:
                logs["val_score"] = score(out, validation[1])
        logs["time"] = time.perf_counter() - started
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        stop = False
        if early_stopping is not None:
            stop = early_stopping.update(epoch, logs)
            if early_stopping.improved and early_stopping.restore_best_weights:
                best_weights = _snapshot(params, best_weights)
            if stop:
                stop_reason = early_stopping.stop_reason
        for cb in callbacks:
            if cb.on_epoch_end(epoch, logs) and not stop:
                stop, stop_reason = True, "callback"
        if stop:
            break
    restored = best_weights is not None
    if restored:
        for p, best in zip(params, best_weights):
            np.copyto(p, best)
    best_epoch = early_stopping.best_epoch if early_stopping is not None else None
    outcome = TrainingOutcome(epochs_run, stop_reason, best_epoch, restored)
    for cb in callbacks:
        cb.on_train_end(outcome)
    return outcome


def _snapshot(params, into):
    if into is None:
        return [p.copy() for p in params]
    for dst, src in zip(into, params):
        np.copyto(dst, src)
    return into
