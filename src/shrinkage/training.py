"""The one training loop that every estimator uses.

Per batch: forward (dropout masks drawn from the loop's Generator), loss,
backward, then :class:`~shrinkage.optim.Updater` (coupled penalties, the
optimizer, decoupled decay, proximal/cumulative L1, max-norm). Per epoch:
validation, history, :class:`~shrinkage.early_stopping.EarlyStopping`,
callbacks, checkpoint. Batches are gathered from one permutation of indices
per epoch into a reused buffer; the data set is never copied.

The loop keeps one copy of the weights to fall back on: the best epoch's when
early stopping monitors training, otherwise the last finished epoch's (the
initial weights before that). It restores them at the end when early stopping
asks for the best weights, and always when training diverges, so a model never
keeps NaN or infinite weights. A stop request (Ctrl-C through
:func:`stop_on_sigint`) ends training after the current batch.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["Trainer", "train", "predict_in_batches", "loss_in_batches", "TrainingOutcome", "Callback",
           "stop_on_sigint"]

# Rows per prediction chunk x widest layer: about 4 MiB of float32 activations, which stay in the caches
# (16 MiB chunks made the digits-sized network's prediction 25% slower; benchmarks/run.py).
PREDICT_ELEMENTS = 1 << 20


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
    n_epochs: int  # epochs finished by this call
    stop_reason: str  # "max_epochs", "callback", "interrupted", "diverged" or EarlyStopping's reason
    best_epoch: int | None  # in the numbering of the history (see ``epoch_offset``)
    restored: bool  # whether the fallback weights were copied back
    message: str = ""  # why training diverged, for the warning


def _outputs_in_batches(network, X, batch_size, rng=None, sample=False, check=None, rows=None):
    """``(part, output)`` of ``network`` in inference mode, ``batch_size`` rows of ``X`` (or of
    ``X[rows]``) at a time, ``part`` the slice of them; ``check(chunk)``, when given, runs on each chunk
    of ``X`` before the network does."""
    for start in range(0, X.shape[0] if rows is None else len(rows), batch_size):
        part = slice(start, start + batch_size)
        chunk = X[part] if rows is None else X[rows[part]]
        if check is not None:
            check(chunk)
        yield part, network.forward(chunk, training=False, rng=rng, sample=sample)


def predict_in_batches(network, X, batch_size=None, rng=None, sample=False, check=None):
    """Network output on ``X`` in inference mode, ``batch_size`` rows at a time (by default as many
    rows as keep the widest layer's activations near 4 MiB). ``check(chunk)``, when given, runs on each
    chunk of rows first, while the chunk is in cache (the input check for NaN and infinity)."""
    if batch_size is None:
        widest = max([X.shape[1]] + [layer.W.shape[1] for layer in network.dense_layers])
        batch_size = max(256, PREDICT_ELEMENTS // widest)
    if X.shape[0] <= batch_size:
        if check is not None:
            check(X)
        return network.forward(X, training=False, rng=rng, sample=sample)
    return np.concatenate([out for _, out in _outputs_in_batches(network, X, batch_size, rng, sample, check)])


def loss_in_batches(network, loss_fn, X, target, weight=None, batch_size=256, rows=None):
    """The data loss of ``network`` in inference mode on ``X`` (or on ``X[rows]``, whose targets are
    ``target``), ``batch_size`` rows at a time, without an output array of the whole set: no more memory
    than a training step's activations."""
    total = 0.0
    for part, out in _outputs_in_batches(network, X, batch_size, rows=rows):
        total += loss_fn.value(out, target[part], None if weight is None else weight[part]) * out.shape[0]
    return total / len(target)


class _BatchGatherer:
    """Copies the rows of one batch into a buffer that is reused across batches (a sparse matrix's
    rows are taken as a new sparse matrix). With ``rows``, batch index ``i`` is row ``rows[i]``: a
    training part of ``array`` is read in place, not copied out of it."""

    def __init__(self, array, batch_size, rows=None):
        self.array, self.rows = array, rows
        dense = not sp.issparse(array)
        self.buffer = np.empty((batch_size,) + array.shape[1:], dtype=array.dtype) if dense else None

    def __call__(self, idx):
        if self.rows is not None:
            idx = self.rows[idx]
        if self.buffer is not None and len(idx) == len(self.buffer):
            # mode="clip" lets take write straight into the buffer (mode="raise" buffers the copy);
            # the indices come from a permutation, so nothing is ever clipped.
            return self.array.take(idx, axis=0, out=self.buffer, mode="clip")
        return self.array[idx]


class Trainer:
    """Trains ``network`` in place; :meth:`run` does the epochs, :meth:`state_dict` checkpoints them.

    Parameters
    ----------
    network : Sequential whose Dense layers hold views of ``parameters``
    parameters : :class:`~shrinkage.parameters.Parameters`
    loss_fn : a loss from :mod:`shrinkage.losses`
    updater : :class:`~shrinkage.optim.Updater`, already ``init``-ed on ``parameters``
    X, y : training arrays (``X`` in the network's dtype; a SciPy CSR matrix works too)
    rows : the rows of ``X`` to train on, ``y[i]`` and ``weight[i]`` being those of row ``rows[i]``, or
        None for all of them (a hold-out split trains on part of ``X`` without copying it)
    weight : per-sample weights of ``X``'s rows, scaled to mean 1 (see :mod:`shrinkage.losses`), or None
    validation : ``(X_val, y_val)`` or ``(X_val, y_val, weight_val)``, or None
    score : ``score(output, y, weight) -> float`` for ``val_score``, or None
    penalty_value : ``() -> float``, the penalty added to the reported training loss
    early_stopping : :class:`~shrinkage.early_stopping.EarlyStopping` or None;
        reset here, so one object can serve many fits
    history : dict of lists to append to (created when None)
    epoch_offset : the number of the first epoch, for ``partial_fit``'s running count

    The reported ``loss`` is the mean data loss over the epoch's batches
    (with dropout active), plus the penalty value at the end of the epoch.
    ``val_loss`` is the data loss alone on the validation set, at inference.
    With weights, both are weighted means.
    """

    def __init__(self, network, parameters, loss_fn, updater, X, y, *, batch_size, rng, shuffle=True, weight=None,
                 validation=None, score=None, penalty_value=None, early_stopping=None, callbacks=(), history=None,
                 epoch_offset=0, rows=None):
        self.network, self.loss_fn, self.updater = network, loss_fn, updater
        self.X, self.y, self.weight = X, y, weight
        self.rows = rows
        self.batch_size, self.rng, self.shuffle = batch_size, rng, shuffle
        if validation is not None and len(validation) == 2:
            validation = (*validation, None)
        self.validation, self.score, self.penalty_value = validation, score, penalty_value
        self.early_stopping = early_stopping
        self.callbacks = list(callbacks)
        self.history = {} if history is None else history
        for key in ("loss", "val_loss", "val_score", "time") if validation is not None else ("loss", "time"):
            self.history.setdefault(key, [])
        self.epoch_offset = epoch_offset
        self._gather_x, self._gather_y = _BatchGatherer(X, batch_size, rows), _BatchGatherer(y, batch_size)
        self._gather_weight = _BatchGatherer(weight, batch_size) if weight is not None else None
        self.epochs_done = 0
        self.stop_requested = False
        self.parameters = parameters
        self.fallback = parameters.data.copy()  # the weights to go back to
        self.fallback_epoch = None
        if early_stopping is not None:
            early_stopping.reset()

    def request_stop(self):
        """Ask training to stop after the current batch (used by the SIGINT handler)."""
        self.stop_requested = True

    # ----------------------------------------------------------------- epochs

    def _epoch(self):
        """One pass over the data; returns the mean data loss, or a non-finite value."""
        n = len(self.y)  # the rows trained on (all of X, or rows)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        gather_x, gather_y, gather_weight = self._gather_x, self._gather_y, self._gather_weight
        network, parameters, step = self.network, self.parameters, self.updater.step
        scale = self.updater.gradient_scale  # backpropagate the gradient in the scale the optimizer wants
        total = 0.0
        for batch, start in enumerate(range(0, n, self.batch_size)):
            idx = order[start:start + self.batch_size]
            out = network.forward(gather_x(idx), training=True, rng=self.rng)
            weight = gather_weight(idx) if gather_weight is not None else None
            value, grad_out = self.loss_fn(out, gather_y(idx), weight)
            if not math.isfinite(value):
                return value
            if scale != 1.0:
                grad_out *= scale
            network.backward(grad_out)
            step(parameters, scale)
            total += value * len(idx)
            for cb in self.callbacks:
                cb.on_batch_end(batch, value)
            if self.stop_requested:
                return None
        return total / n

    def _logs(self, data_loss, started):
        logs = {"loss": data_loss + (self.penalty_value() if self.penalty_value else 0.0)}
        if self.validation is not None:
            X_val, y_val, weight_val = self.validation
            out = predict_in_batches(self.network, X_val)
            logs["val_loss"] = self.loss_fn.value(out, y_val, weight_val)
            if self.score is not None:
                logs["val_score"] = self.score(out, y_val, weight_val)
        logs["time"] = time.perf_counter() - started
        return logs

    def _keep_fallback(self, epoch):
        es = self.early_stopping
        if es is None or es.improved:
            np.copyto(self.fallback, self.parameters.data)
            self.fallback_epoch = epoch

    def run(self, max_epochs, on_epoch_end=None, on_stop=None):
        """Train until ``max_epochs`` epochs in all have run or something stops training.

        ``on_epoch_end(trainer)`` runs after each finished epoch (checkpoints). ``on_stop(trainer,
        stop_reason, message)`` runs once when training has ended for good (for any reason but an
        interruption), before :meth:`finish` restores weights: a checkpoint written there keeps the
        weights training left, so a run stopped by ``max_epochs`` can be continued to more epochs.
        """
        for cb in self.callbacks:
            cb.on_train_begin(max_epochs)
        stop_reason, message = "max_epochs", ""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while self.epochs_done < max_epochs:
                epoch = self.epoch_offset + self.epochs_done
                started = time.perf_counter()
                data_loss = self._epoch()
                if data_loss is None:
                    stop_reason = "interrupted"
                    break
                if not math.isfinite(data_loss):
                    stop_reason, message = "diverged", f"training loss {data_loss} at epoch {epoch}"
                    break
                logs = self._logs(data_loss, started)
                bad = next((k for k, v in logs.items() if not math.isfinite(v)), None)
                if bad is not None:
                    stop_reason, message = "diverged", f"{bad} {logs[bad]} at epoch {epoch}"
                    break
                self.epochs_done += 1
                for key, value in logs.items():
                    self.history.setdefault(key, []).append(value)
                stop = False
                if self.early_stopping is not None:
                    stop = self.early_stopping.update(epoch, logs)
                    if stop:
                        stop_reason = self.early_stopping.stop_reason
                self._keep_fallback(epoch)
                for cb in self.callbacks:
                    if cb.on_epoch_end(epoch, logs) and not stop:
                        stop, stop_reason = True, "callback"
                if on_epoch_end is not None:
                    on_epoch_end(self)
                if stop or self.stop_requested:
                    stop_reason = "interrupted" if self.stop_requested and not stop else stop_reason
                    break
        if on_stop is not None and stop_reason != "interrupted":
            on_stop(self, stop_reason, message)
        outcome = self.finish(stop_reason, message)
        for cb in self.callbacks:
            cb.on_train_end(outcome)
        return outcome

    def finish(self, stop_reason, message=""):
        """Restore the fallback weights where due and describe how training ended."""
        restore = self.restores(stop_reason)
        if restore:
            np.copyto(self.parameters.data, self.fallback)
        es = self.early_stopping
        best_epoch = es.best_epoch if es is not None else None
        return TrainingOutcome(self.epochs_done, stop_reason, best_epoch, restore, message)

    def restores(self, stop_reason):
        """Whether :meth:`finish` puts the fallback weights back: after a divergence, and with early
        stopping's ``restore_best_weights`` once an epoch has counted."""
        es = self.early_stopping
        return stop_reason == "diverged" or (
            es is not None and es.restore_best_weights and self.fallback_epoch is not None
        )

    # -------------------------------------------------------------- checkpoint

    def state_dict(self):
        """The loop's own state: epoch count, generator, early stopping, history, fallback weights."""
        return {
            "epochs_done": self.epochs_done,
            "rng": self.rng.bit_generator.state,
            "early_stopping": self.early_stopping.state_dict() if self.early_stopping is not None else None,
            "history": {k: list(v) for k, v in self.history.items()},
            "fallback": self.fallback,  # read-only use: written to disk, or copied in by load_state_dict
            "fallback_epoch": self.fallback_epoch,
        }

    def load_state_dict(self, state):
        self.epochs_done = int(state["epochs_done"])
        self.rng.bit_generator.state = state["rng"]
        if self.early_stopping is not None:
            self.early_stopping.load_state_dict(state["early_stopping"])
        self.history.clear()
        self.history.update({k: list(v) for k, v in state["history"].items()})
        np.copyto(self.fallback, state["fallback"])
        self.fallback_epoch = state["fallback_epoch"]


def train(network, parameters, loss_fn, updater, X, y, *, max_epochs, **kwargs):
    """Build a :class:`Trainer` and run it for ``max_epochs``; return the :class:`TrainingOutcome`."""
    return Trainer(network, parameters, loss_fn, updater, X, y, **kwargs).run(max_epochs)


@contextmanager
def stop_on_sigint(trainer):
    """While active, the first Ctrl-C asks ``trainer`` to stop after the current batch; a second one
    raises ``KeyboardInterrupt`` as usual. Does nothing outside the main thread, nor where SIGINT is
    ignored (a job started in the background by a shell) or handled outside Python."""
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous in (None, signal.SIG_IGN):
        yield
        return

    def handler(signum, frame):
        if trainer.stop_requested:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        trainer.request_stop()

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
