"""What every shrinkage estimator shares: the network, training, checkpoints, inference (the parameter
checks are in :mod:`._estimator_params`).

:class:`NetworkEstimator` builds a stack of Dense layers, activations and
dropout over one :class:`~shrinkage.parameters.Parameters` buffer and trains it
with :class:`~shrinkage.training.Trainer`. The fitted weights live in
``coefs_`` / ``intercepts_``, views of that buffer, so a user may set them
before ``partial_fit``. The public estimators (:mod:`shrinkage.estimators`)
only fix the output side.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import sys
import warnings
from functools import cache, partial
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _params as P
from ._estimator_params import check_estimator_params, check_validation_fraction_unused
from ._inputs import (_check_finite, _check_weight, _data_fingerprint, _numeric_input, _scaled_weight,
                      _times_class_weight)
from .checkpoint import CheckpointError, check_output_file, read_checkpoint, write_checkpoint
from .early_stopping import EarlyStopping
from .layers import ACTIVATIONS, Dense, Dropout, Sequential, glorot_uniform
from .losses import LOSSES
from .optim import SGD, Adam, Updater, build_regularizers
from .parameters import Parameters
from .training import Callback, Trainer, loss_in_batches, predict_in_batches, stop_on_sigint

__all__ = ["NetworkEstimator", "TrainingDivergedWarning", "LearnedNothingWarning", "as_generator", "json_safe_params",
           "fit_quietly"]

DEFAULT_PATIENCE = 10
DEFAULT_L1_RATIO = 0.5
# What _updater builds the optimizer and the regularization chain from (and dtype, their buffers' type).
_UPDATER_PARAMS = ("optimizer", "learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "penalty",
                   "alpha", "l1_ratio", "l1_method", "weight_decay", "max_norm", "dtype")


# A fit that ran out of epochs counts as converged when its best training loss fell by less than
# this fraction over the last epochs (see _recent_fall); otherwise it warns.
CONVERGED_FALL = 1e-3
# A fit whose model ends with a training data loss no lower than a constant prediction's (within this
# fraction) warns: the biases alone can give that loss, with no penalty, so a fit that trained well is
# below it. Above it, training blew up (the loss stayed finite, so it did not stop as diverged) or
# stopped far too early; at it, the network collapsed to a constant.
CONSTANT_MARGIN = 1e-3
# A fit whose training loss ends below this fraction of a constant prediction's fits the training data to
# rounding (an exact linear target, separable classes): a loss still falling there says nothing about
# convergence, so it does not warn.
EXACT_FIT = 1e-6


# What fit sets besides the weights; weights a user set alone are not a fitted model (no n_features_in_).
FITTED = ("coefs_", "n_features_in_")


def _recent_fall(losses, window=10):
    """``(fall, k)``: the relative fall of the best training loss over the last ``k`` epochs (``window``,
    or half the epochs when there are fewer), against the best before them; ``(None, 0)`` after one
    epoch, when there is nothing to compare."""
    k = min(window, len(losses) // 2)
    if k == 0:
        return None, 0
    before, recent = min(losses[:-k]), min(losses[-k:])
    return (before - recent) / abs(before) if before else 0.0, k


def warn_at_caller(message, category):
    """``warnings.warn`` pointed at the first frame outside shrinkage: the user's ``fit`` line (or the
    scikit-learn code that called it), not the inside of the training loop."""
    package_dir = str(Path(__file__).parent) + os.sep
    frame, stacklevel = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(package_dir):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, category, stacklevel=stacklevel)


class TrainingDivergedWarning(UserWarning):
    """Training met a non-finite loss, stopped, and restored finite weights."""


class LearnedNothingWarning(ConvergenceWarning):
    """A fit ended with a training loss no lower than a constant prediction's (a ConvergenceWarning)."""


RESUME_MAY_CHANGE = ("max_epochs", "verbose")  # neither changes the epochs a checkpoint holds


def _changed_params(saved, current):
    """``[(name, saved value, current value)]`` for the parameters a resume may not change."""
    saved = saved if isinstance(saved, dict) else {}
    names = sorted((set(saved) | set(current)) - set(RESUME_MAY_CHANGE))
    return [(name, saved.get(name), current.get(name)) for name in names if saved.get(name) != current.get(name)]


def json_safe_params(estimator):
    """get_params() as plain JSON values: tuples as lists, NumPy scalars and dtypes as Python values,
    a Generator or RandomState as None (its state is not a parameter worth keeping), an EarlyStopping
    as its get_config() (the table that :func:`~._estimator_params.from_plain_values` reads back)."""
    params = {}
    for key, value in estimator.get_params(deep=False).items():
        if isinstance(value, (np.random.Generator, np.random.RandomState)):
            value = None
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, np.generic):
            value = _plain(value)
        elif isinstance(value, type):
            value = np.dtype(value).name
        elif isinstance(value, EarlyStopping):
            value = value.get_config()
        elif isinstance(value, dict):  # class_weight: JSON keys would turn every label into a string
            value = [[_plain(label), _plain(weight)] for label, weight in value.items()]
        params[key] = value
    return params


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def fit_quietly(estimator, X, y, **fit_params):
    """``fit`` on one BLAS thread (the same numbers in any worker process) without the
    ConvergenceWarning (learned nothing included) or TrainingDivergedWarning; for the study and sweeps,
    which report epochs and stop reasons themselves (a worker process's warning would reach the terminal
    as Python's file:line report)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", TrainingDivergedWarning)
        return estimator.fit(X, y, **fit_params)


CALLBACK_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


def _checked_callbacks(callbacks):
    """``callbacks`` as a list, each with the four hooks of :class:`~shrinkage.training.Callback`."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects; got {type(callbacks).__name__}")
    for k, callback in enumerate(callbacks):
        missing = [hook for hook in CALLBACK_HOOKS if not callable(getattr(callback, hook, None))]
        if missing:
            raise TypeError(f"callbacks[{k}] ({type(callback).__name__}) lacks {', '.join(missing)}: subclass "
                            "shrinkage.training.Callback, which has all four hooks, and override those you need")
    return list(callbacks)


def _store_params(estimator, arguments):
    """``__init__`` only stores its arguments, as scikit-learn requires (validation happens in ``fit``)."""
    for name, value in arguments.items():
        if name != "self":
            setattr(estimator, name, value)


@cache
def _param_names(cls):
    """The names ``get_params`` returns for ``cls``: its ``__init__``'s arguments. Read once per class, where
    ``get_params`` inspects the signature at every call (160 us, most of a small ``partial_fit``'s checks)."""
    return tuple(name for name, p in inspect.signature(cls.__init__).parameters.items()
                 if name != "self" and p.kind != p.VAR_KEYWORD)


def as_generator(random_state):
    """A ``numpy.random.Generator`` from None, an int, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(random_state)


class _VerboseLog(Callback):
    def on_epoch_end(self, epoch, logs):
        print(f"epoch {epoch}: " + ", ".join(f"{k}={v:.4g}" for k, v in logs.items()), flush=True)


class NetworkEstimator(BaseEstimator):
    """Everything the three estimators share; subclasses fix the output side."""

    _output_losses: tuple = ()

    # ---------------------------------------------------------------- settings

    def _hidden_sizes(self):
        sizes = getattr(self, "hidden_layer_sizes", ())
        return (sizes,) if np.isscalar(sizes) else tuple(sizes)

    def _dtype(self):
        return np.dtype(self.dtype).type

    def _check_params(self):
        check_estimator_params({name: getattr(self, name) for name in _param_names(type(self))}, self._output_losses)

    def _batch_size(self, n_samples):
        return min(200, n_samples) if self.batch_size == "auto" else min(self.batch_size, n_samples)

    # ----------------------------------------------------------------- network

    def _initialize_weights(self, n_features, n_outputs, rng):
        sizes = (n_features, *self._hidden_sizes(), n_outputs)
        dtype = self._dtype()
        gain = math.sqrt(2.0) if getattr(self, "activation", None) == "logistic" else 1.0
        params = Parameters(list(zip(sizes[:-1], sizes[1:])), dtype)  # zeros: biases, and a linear model's
        if len(sizes) > 2:  # weights (convex: start from zero, as scikit-learn's linear models do)
            for W in params.coefs:
                glorot_uniform(*W.shape, rng, dtype, gain, out=W)
        self._parameters_ = params
        self._initialized_hidden_ = self._hidden_sizes()
        self.coefs_, self.intercepts_ = list(params.coefs), list(params.intercepts)

    def _parameters(self):
        """The flat buffer behind ``coefs_``/``intercepts_``; rebuilt (copying) only when the user replaced them."""
        self._check_layer_shapes()
        params = getattr(self, "_parameters_", None)
        if params is None or params.data.dtype != self._dtype() or not params.owns(self.coefs_, self.intercepts_):
            params = Parameters.from_arrays(self.coefs_, self.intercepts_, self._dtype())
            self._parameters_ = params
            self.coefs_, self.intercepts_ = list(params.coefs), list(params.intercepts)
        return params

    def _check_layer_shapes(self):
        """``coefs_``/``intercepts_``, which a user may set, must chain from the features to the outputs."""
        if not hasattr(self, "intercepts_"):
            raise ValueError("coefs_ was set without intercepts_; set both (each layer's biases, of shape (n_out,))")
        shapes, biases = [np.shape(W) for W in self.coefs_], [np.shape(b) for b in self.intercepts_]
        chained = (len(shapes) == len(biases) >= 1 and all(len(s) == 2 for s in shapes)
                   and all(b == (s[1],) for s, b in zip(shapes, biases))
                   and all(a[1] == b[0] for a, b in zip(shapes[:-1], shapes[1:])))
        if not (chained and shapes[0][0] == self.n_features_in_ and shapes[-1][1] == self._n_outputs):
            raise ValueError(
                f"coefs_ and intercepts_ must chain from the {self.n_features_in_} input features to the "
                f"{self._n_outputs} outputs (coefs_[k] of shape (n_in, n_out), intercepts_[k] of shape "
                f"(n_out,)); got coefs_ of shapes {shapes} and intercepts_ of shapes {biases}")

    def _network(self, params=None):
        """The layer stack; training layers write gradients into ``params`` (checked by :meth:`_parameters`),
        inference needs none."""
        if params is None:
            self._check_layer_shapes()
        mode = self.dropout_mode
        layers = []
        if self.input_dropout:
            layers.append(Dropout(self.input_dropout, mode, inplace=True))  # it gets a batch buffer
        dtype = self._dtype()
        last = len(self.coefs_) - 1
        for k in range(last + 1):
            # The first layer's input gradient is never needed (input dropout has no parameters).
            if params is None:
                W, b = np.asarray(self.coefs_[k], dtype), np.asarray(self.intercepts_[k], dtype)
                layers.append(Dense(W, b, input_grad=k > 0))
            else:
                layers.append(Dense(*params.layer(k), input_grad=k > 0))
            if k < last:
                activation = ACTIVATIONS[self.activation]()
                layers.append(activation)
                if getattr(self, "dropout", 0.0):
                    # In place only where the activation's backward reads just the output's sign (see Dropout).
                    in_place = activation.sign_only_backward
                    layers.append(Dropout(self.dropout, mode, inplace=in_place, after_relu=in_place))
        return Sequential(layers)

    def _max_norm_layers(self):
        n_layers = len(self.coefs_)
        return list(range(n_layers - 1)) if n_layers > 1 else [0]

    def _check_hidden_layers(self):
        """``partial_fit`` continues the network in ``coefs_``: a ``hidden_layer_sizes`` changed since it was
        initialised (set_params) and not describing it would be silently ignored. Weights the user set
        with other shapes, under the parameter it was built with, are continued (DESIGN.md)."""
        fitted = tuple(int(np.shape(W)[1]) for W in self.coefs_[:-1])
        current = self._hidden_sizes()
        if fitted != current and current != getattr(self, "_initialized_hidden_", current):
            raise ValueError(
                f"hidden_layer_sizes={current} does not match the fitted network's hidden "
                f"layers {fitted}; partial_fit continues that network (call fit to start a new one)"
            )

    def _updater_settings(self):
        """The parameters the optimizer and the regularization chain are built from."""
        return {name: getattr(self, name) for name in _UPDATER_PARAMS}

    def _updater(self):
        self._updater_settings_ = self._updater_settings()
        if self.optimizer == "adam":
            opt = Adam(self.learning_rate, self.beta_1, self.beta_2, self.epsilon)
        else:
            opt = SGD(self.learning_rate, self.momentum, self.nesterov)
        l1_ratio = DEFAULT_L1_RATIO if self.l1_ratio is None else self.l1_ratio
        pieces, penalty = build_regularizers(
            penalty=self.penalty,
            alpha=self.alpha,
            l1_ratio=l1_ratio,
            l1_method=self.l1_method,
            weight_decay=self.weight_decay,
            max_norm=self.max_norm,
            max_norm_layers=self._max_norm_layers(),
        )
        return Updater(opt, pieces), penalty

    def _early_stopping(self):
        if isinstance(self.early_stopping, EarlyStopping):
            return copy.deepcopy(self.early_stopping)  # a setting: fit leaves the user's object as it was
        if not self.early_stopping:
            return None
        return EarlyStopping(
            monitor="val_loss",
            patience=DEFAULT_PATIENCE if self.patience is None else self.patience,
            min_delta=self.min_delta,
            restore_best_weights=self.restore_best_weights,
            criterion=self.stopping_criterion,
            threshold=self.stopping_threshold,
        )

    def _holds_out(self):
        """Whether ``fit`` without ``validation_data`` holds out ``validation_fraction``: when early stopping
        watches a validation value (not when it watches the training ``loss``)."""
        rule = self.early_stopping
        return bool(rule) and not (isinstance(rule, EarlyStopping) and rule.monitor == "loss")

    # ---------------------------------------------------------------- training

    def fit(self, X, y, validation_data=None, callbacks=None, checkpoint=None, resume=False, *, sample_weight=None):
        """Train from scratch on ``(X, y)``.

        Parameters
        ----------
        X : array-like or SciPy sparse matrix of shape (n_samples, n_features)
            Sparse data (converted to CSR) stays sparse: each batch is a small
            sparse matrix, the first layer multiplies it as such.
        y : array-like of shape (n_samples,) (or (n_samples, n_outputs) for MLPRegressor)
        validation_data : tuple ``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)``, optional
            Validation set for the history and early stopping. Without it,
            early stopping holds out ``validation_fraction`` of the training
            data (stratified for classifiers), with its weights, unless it
            monitors the training ``"loss"``.
        callbacks : list of :class:`shrinkage.training.Callback`, optional
            Called at the start and end of training and after each batch and
            epoch; ``on_epoch_end`` may return True to stop.
        checkpoint : path, optional
            Write the full training state (weights, optimizer and
            regularizer state, random generator, early stopping, history,
            epoch) to this file after every epoch, atomically.
        resume : bool, default=False
            Continue from ``checkpoint`` if it exists (same parameters and
            data); the result is bit for bit that of an uninterrupted fit.
            ``max_epochs`` may be larger than the checkpoint's: a fit that
            ran all its epochs then trains on, bit for bit as a fit with the
            larger ``max_epochs`` from the start (one that early stopping,
            a callback or a divergence ended stays ended).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample (keyword only). The data loss
            becomes the weighted mean ``sum_i s_i loss_i / sum_i s_i``; the
            penalty is unchanged, so scaling every weight changes nothing.
            Each batch takes ``mean_i v_i loss_i`` with ``v = s / mean(s)``,
            an unbiased estimate of that mean; with full batches, integer
            weights train as repeated samples would. The validation loss and
            score are weighted too.

        Returns
        -------
        self

        Notes
        -----
        Ctrl-C during ``fit`` ends training after the current batch, keeps the
        best weights so far (with early stopping) and returns with
        ``stop_reason_ == "interrupted"``; a second Ctrl-C raises
        ``KeyboardInterrupt``. A non-finite training or validation loss stops
        training, restores the best (or last finished epoch's) weights, sets
        ``stop_reason_ = "diverged"`` and warns once. A fit whose model ends
        with a training data loss no lower than a constant prediction's (the
        class frequencies, the mean target) warns with a LearnedNothingWarning
        (a ConvergenceWarning) that says whether training blew up: the loss
        stayed finite, but the model has learned nothing.
        """
        if resume and checkpoint is None:
            raise ValueError("resume=True needs a checkpoint path; got checkpoint=None")
        if checkpoint is not None:
            check_output_file(checkpoint, "checkpoint")  # before any work: the first write is after an epoch
        callbacks = _checked_callbacks(callbacks)
        self._check_params()
        check_validation_fraction_unused(self.validation_fraction, validation_data)
        X, y = self._validate_xy(X, y, reset=True)
        weight = _check_weight(sample_weight, X.shape[0])
        target = self._encode_targets(y, reset=True)
        per_class = self._per_class_weight(target)
        weight = _times_class_weight(weight, per_class, target)
        rng = as_generator(self.random_state)
        if not self._can_warm_start(X.shape[1]):
            self._initialize_weights(X.shape[1], self._n_outputs, rng)
        validation = rows = None  # rows: the training part of X, when a validation part is held out
        if validation_data is not None:
            validation = self._validation_set(validation_data, per_class)
        elif self._holds_out():
            rows, target, weight, validation = self._hold_out(X, target, weight, rng)
        self._check_batch_size(len(target))
        weight = _scaled_weight(weight, X.dtype, "sample_weight of the training part")
        self.history_ = {}
        self._updater_, self._penalty_ = self._updater()
        self._rng_ = rng
        trainer = self._trainer(X, target, validation, self._early_stopping(), callbacks, epoch_offset=0,
                                weight=weight, rows=rows)
        save_state = save_end = ended = None
        if checkpoint is not None:
            fingerprint = _data_fingerprint(X, target, weight, rows)
            if resume and Path(checkpoint).exists():
                ended = self._resume(checkpoint, trainer, fingerprint)
            save_state = lambda t: self._write_checkpoint(checkpoint, t, fingerprint)  # noqa: E731
            save_end = lambda t, *end: self._write_checkpoint(checkpoint, t, fingerprint, end)  # noqa: E731
        if ended:  # the checkpoint holds a fit that already ended: end it as it ended
            outcome = trainer.finish(*ended)
        else:  # an interrupted fit is not marked finished: resume continues it
            with stop_on_sigint(trainer):
                outcome = trainer.run(self.max_epochs, on_epoch_end=save_state, on_stop=save_end)
        self._finish(outcome, trainer)
        return self

    def _partial_fit(self, X, y, classes=None, sample_weight=None):
        # Not yet fitted (weights a user set before the first call are continued; a fit that failed on its
        # data leaves n_features_in_ without weights).
        first = not all(hasattr(self, name) for name in FITTED)
        self._check_params()  # every call: set_params may have changed them since the last one
        if self.early_stopping:
            warnings.warn(f"{type(self).__name__}.partial_fit ignores early_stopping={self.early_stopping!r}: "
                          "early stopping holds out a validation split and watches it over the epochs of fit, and "
                          "partial_fit runs one pass over the data it is given; score a validation set between "
                          "calls instead",
                          UserWarning, stacklevel=3)
        if not first:
            self._check_hidden_layers()
        X, y = self._validate_xy(X, y, reset=first)
        weight = _check_weight(sample_weight, X.shape[0])
        if first:
            target = self._encode_targets(y, reset=True, classes=classes)
            self._rng_ = as_generator(self.random_state)
            if not hasattr(self, "coefs_"):
                self._initialize_weights(X.shape[1], self._n_outputs, self._rng_)
            self.history_ = {}
        else:
            target = self._encode_targets(y, reset=False, classes=classes)
            if not hasattr(self, "_rng_"):  # a model read from a file: the generator is not saved
                self._rng_ = as_generator(self.random_state)
                self.history_ = getattr(self, "history_", {})  # files written before it was kept
        weight = _scaled_weight(_times_class_weight(weight, self._per_class_weight(target, partial=True), target),
                                X.dtype)
        # Keep the optimizer state unless the user replaced the weights with other shapes; after
        # set_params, the current settings apply and the state carries over (Updater.continue_from).
        same_shapes = getattr(self, "_updater_layout_", None) == [np.shape(W) for W in self.coefs_]
        previous = self._updater_ if same_shapes else None
        new_updater = previous is None or getattr(self, "_updater_settings_", None) != self._updater_settings()
        if new_updater:
            self._updater_, self._penalty_ = self._updater()
        offset = len(self.history_.get("loss", []))
        trainer = self._trainer(X, target, None, None, None, epoch_offset=offset, init_updater=new_updater,
                                weight=weight)
        if new_updater and previous is not None:
            self._updater_.continue_from(previous)
        with stop_on_sigint(trainer):
            outcome = trainer.run(1)
        self._finish(outcome, trainer, partial=True)
        return self

    def _trainer(self, X, target, validation, early_stopping, callbacks, epoch_offset, init_updater=True,
                 weight=None, rows=None):
        params = self._parameters()
        network = self._network(params)
        if init_updater:
            self._updater_.init(params)
            self._updater_layout_ = params.layer_shapes
        penalty = self._penalty_
        penalty_value = (lambda: penalty.value(params.weights)) if penalty else None
        return Trainer(
            network,
            params,
            LOSSES[self.loss](),
            self._updater_,
            X,
            target,
            batch_size=self._batch_size(len(target)),
            rng=self._rng_,
            shuffle=self.shuffle,
            weight=weight,
            validation=validation,
            score=self._score_output if validation is not None else None,
            penalty_value=penalty_value,
            early_stopping=early_stopping,
            callbacks=list(callbacks or []) + ([_VerboseLog()] if self.verbose else []),
            history=self.history_,
            epoch_offset=epoch_offset,
            rows=rows,
        )

    def _finish(self, outcome, trainer, partial=False):
        """Set the fitted attributes from how training ended; warn where scikit-learn would."""
        self.n_epochs_ = len(self.history_.get("loss", [])) if partial else trainer.epochs_done
        self.best_epoch_ = outcome.best_epoch
        self.stop_reason_ = outcome.stop_reason
        self.early_stopping_ = trainer.early_stopping
        if outcome.stop_reason == "diverged":
            self._updater_layout_ = None  # its moments may hold NaN: start the optimizer afresh next time
            restored = "the weights of the best epoch" if trainer.early_stopping is not None else (
                "the weights of the last finished epoch" if trainer.fallback_epoch is not None
                else "the initial weights")
            warn_at_caller(
                f"{type(self).__name__} diverged ({outcome.message}); training stopped and {restored} "
                f"were restored. Lower learning_rate (now {self.learning_rate}) or check the data's scale.",
                TrainingDivergedWarning,
            )
            return
        if partial or outcome.stop_reason == "interrupted":
            return
        constant = trainer.loss_fn.constant_value(trainer.y, trainer.weight, self._n_outputs)
        worse = self._loss_above_constant(trainer, outcome, constant)
        if worse is not None:
            loss, zero = worse
            scale = "X" if self._is_classifier() else "X and y"
            advice = (f"Its loss is above twice that of all-zero outputs ({zero:.4g}): training blew up; lower "
                      f"learning_rate (now {self.learning_rate}) or standardize {scale}." if loss > 2 * zero else
                      f"Check learning_rate (now {self.learning_rate}) against the data's scale (standardize "
                      f"{scale}), max_epochs (now {self.max_epochs}) and the penalty (alpha={self.alpha}).")
            warn_at_caller(
                f"{type(self).__name__} ended with a training loss of {loss:.4g}, no lower than "
                f"{trainer.loss_fn.constant} gives ({constant:.4g}): it has learned nothing from X. {advice}",
                LearnedNothingWarning,
            )
        elif outcome.stop_reason == "max_epochs" and self.history_["loss"][-1] > EXACT_FIT * constant:
            fall, window = _recent_fall(self.history_["loss"])
            if fall is None or fall > CONVERGED_FALL:
                epochs = f"{window} epochs" if window > 1 else "epoch"
                how = (f" while its training loss was still falling ({100 * fall:.1f}% over the last {epochs})"
                       if fall is not None else "")
                advice = ("Increase max_epochs (early stopping had not stopped it)" if self.early_stopping
                          else "Increase max_epochs or set early_stopping=True")
                warn_at_caller(
                    f"{type(self).__name__} ran all max_epochs={self.max_epochs} epochs{how}; the model may "
                    f"not have converged. {advice}.",
                    ConvergenceWarning,
                )

    def _loss_above_constant(self, trainer, outcome, constant):
        """``(loss, zero)`` when the fitted model's training data loss is no lower than ``constant``, a
        constant prediction's (within ``CONSTANT_MARGIN``), with ``zero`` the loss of all-zero outputs; else
        None. The epoch's recorded loss (the penalty included, so not below the data loss) is looked at
        first: a sound fit pays no extra pass."""
        losses = self.history_.get("loss")
        if not losses:
            return None
        best = outcome.best_epoch if outcome.restored else None
        recorded = losses[best] if best is not None and best < len(losses) else losses[-1]
        bar = (1.0 - CONSTANT_MARGIN) * constant
        if not (constant > 0 and recorded > bar):
            return None
        loss = loss_in_batches(trainer.network, trainer.loss_fn, trainer.X, trainer.y, trainer.weight,
                               trainer.batch_size, trainer.rows)
        if not loss > bar:
            return None
        return loss, trainer.loss_fn.zero_output_value(trainer.y, trainer.weight, self._n_outputs)

    # ------------------------------------------------------------- checkpoints

    def _write_checkpoint(self, path, trainer, fingerprint, end=None):
        """The training state after an epoch, or, with ``end = (stop_reason, message)``, at the end of
        training. The weights are always those training left (``live_weights``), never restored ones: a
        resume of a finished fit applies the restore again from the fallback weights in the trainer's
        state, and a fit that ran out of epochs can go on from them."""
        write_checkpoint(path, {
            "estimator": type(self).__name__,
            "params": json_safe_params(self),
            "fingerprint": fingerprint,
            "weights": trainer.parameters.data,
            "live_weights": True,
            "updater": self._updater_.state_dict(),
            "trainer": trainer.state_dict(),
            "finished": end is not None,
            "stop_reason": end and end[0],
            "stop_message": end and end[1],
        })

    def _resume(self, path, trainer, fingerprint):
        state = read_checkpoint(path)
        estimator = state.get("estimator")
        changed = _changed_params(state.get("params"), json_safe_params(self))
        if estimator != type(self).__name__ or changed:
            what = f"by a {estimator}" if estimator != type(self).__name__ else "with other parameters (" + "; ".join(
                f"{key}={value!r} there, {mine!r} here" for key, value, mine in changed) + ")"
            raise CheckpointError(f"{path}: written {what}; resume needs the same estimator and parameters "
                                  f"(only {' and '.join(RESUME_MAY_CHANGE)} may differ)")
        if state.get("fingerprint") != fingerprint:
            raise CheckpointError(f"{path}: written for other training data; resume needs the same X and y")
        weights = state["weights"]
        if weights.shape != trainer.parameters.data.shape:
            raise CheckpointError(f"{path}: weight shapes do not match this model")
        done = int(state["trainer"]["epochs_done"])
        if done > self.max_epochs:
            raise CheckpointError(f"{path}: holds {done} finished epochs, more than max_epochs={self.max_epochs}; "
                                  f"resume needs max_epochs >= {done}")
        np.copyto(trainer.parameters.data, weights)
        self._updater_.load_state_dict(state["updater"])
        trainer.load_state_dict(state["trainer"])
        reason = state["stop_reason"]
        if not state["finished"]:
            return None
        if reason != "max_epochs" or done == self.max_epochs:  # over, whatever max_epochs now says
            return reason, state.get("stop_message") or ""
        if not state.get("live_weights", False) and trainer.restores(reason):
            raise CheckpointError(f"{path}: a finished fit whose file kept only its restored best weights (written "
                                  f"by an earlier shrinkage); it cannot be continued to max_epochs={self.max_epochs}")
        return None  # a fit that ran out of epochs: it trains on to the larger max_epochs

    def _can_warm_start(self, n_features):
        """With ``warm_start=True``, ``fit`` starts from the current weights when their shapes fit."""
        if not self.warm_start or not hasattr(self, "coefs_"):
            return False
        sizes = (n_features, *self._hidden_sizes(), self._n_outputs)
        return [np.shape(W) for W in self.coefs_] == list(zip(sizes[:-1], sizes[1:]))

    def _check_batch_size(self, n_samples):
        if self.batch_size != "auto" and self.batch_size > n_samples:
            raise ValueError(
                f"batch_size must be at most the number of training samples ({n_samples}); "
                f"got {self.batch_size}"
            )

    def _validation_set(self, validation_data, per_class=None):
        """``(X_val, target_val, scaled weights or None)`` from the user's ``validation_data``, its samples
        weighed by ``per_class`` (class weights) like the training samples."""
        is_sequence = isinstance(validation_data, (tuple, list))
        if not is_sequence or len(validation_data) not in (2, 3):
            got = f"a {type(validation_data).__name__}" + (f" of length {len(validation_data)}" if is_sequence else "")
            raise ValueError(f"validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val); "
                             f"got {got}")
        X_val, y_val, *weight = validation_data
        try:  # the checks of X and y speak of "X" and "y": say which ones
            X_val, y_val = self._validate_xy(X_val, y_val, reset=False)
            target = self._encode_targets(y_val, reset=False)
        except ValueError as exc:
            raise ValueError(f"validation_data (X_val, y_val): {exc}") from exc
        weight = _check_weight(weight[0], X_val.shape[0], "sample_weight_val") if weight else None
        return X_val, target, _scaled_weight(_times_class_weight(weight, per_class, target), X_val.dtype)

    def _hold_out(self, X, target, weight, rng):
        """Split off ``validation_fraction`` of the data (and of its weights) for validation. Returns the
        training part as row indices of ``X`` (training reads them in place: no copy of the data set)
        with its targets and weights, and the validation part as arrays."""
        stratify = target if self._is_classifier() else None
        seed = int(rng.integers(2**32 - 1))
        everything = np.arange(X.shape[0])
        try:
            rows, val_rows = train_test_split(everything, test_size=self.validation_fraction, random_state=seed,
                                              stratify=stratify)
        except ValueError:  # a class too small to stratify: fall back to a plain split
            rows, val_rows = train_test_split(everything, test_size=self.validation_fraction, random_state=seed)
        X_val, t_tr, t_val = X[val_rows], target[rows], target[val_rows]
        w_tr, w_val = (weight[rows], weight[val_rows]) if weight is not None else (None, None)
        if len(rows) == 0 or len(val_rows) == 0:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training or no validation "
                f"samples out of {X.shape[0]}; give more data or a different fraction"
            )
        if stratify is not None:
            self._warn_of_unseen_classes(np.setdiff1d(target, t_tr))
        held_out = f"the validation_fraction={self.validation_fraction} held out for early stopping"
        for part, part_weight in ((f"of {held_out}", w_val), (f"left to train on beside {held_out}", w_tr)):
            if part_weight is not None and not part_weight.max() > 0:
                raise ValueError(self._no_weight_in(part, target, weight))
        return rows, t_tr, w_tr, (X_val, t_val, _scaled_weight(w_val, X.dtype))

    def _no_weight_in(self, part, target, weight):
        """Why a part of the hold-out split has no weight: where the positive weights are."""
        positive = weight > 0
        where = f"{positive.sum()} of {len(weight)} samples"
        if self._is_classifier():
            classes = self.classes_[np.unique(target[positive])].tolist()
            where += f", in class{'es' if len(classes) > 1 else ''} {P.list_some(classes)}"
        return (f"sample_weight is 0 on every sample {part} (positive weights: {where}); pass "
                f"validation_data=(X_val, y_val), or give more samples a positive weight")

    def _warn_of_unseen_classes(self, missing):
        """Warn if the hold-out took every sample of some classes (encoded as ``missing``), which training
        then never sees: only the random split, the fallback for a class too small to split, can."""
        if len(missing):
            warn_at_caller(
                f"validation_fraction={self.validation_fraction} held out every sample of classes "
                f"{P.brief_list(self.classes_[missing].tolist())}: the model never trains on them. Give more "
                f"samples of each class, a smaller validation_fraction or validation_data", UserWarning)

    def _per_class_weight(self, target, partial=False):
        """The weight of each class (``class_weight``, classifiers only), or None when all weigh alike."""
        return None

    def _is_classifier(self):
        return isinstance(self, ClassifierMixin)

    # --------------------------------------------------------------- inference

    # validate_data's checks of y beyond the default (the regressor's: several outputs, numbers only)
    _target_checks = {}

    def _validate_xy(self, X, y, reset):
        """``X`` (dense or sparse, as CSR) and ``y`` checked and converted, as scikit-learn's ``validate_data``
        (NaN and infinity in ``X`` by :func:`_check_finite`, as at prediction). On a fitted model, arrays
        that conversion would return as they are skip it (see :meth:`_validate_x`)."""
        if not reset and self._converted(X) and self._labels_as_given(y, X.shape[0]):
            X = self._validate_x(X)
        else:
            with _numeric_input():
                X, y = validate_data(self, X, y, reset=reset, dtype=self._dtype(), accept_sparse="csr",
                                     ensure_all_finite=False, **self._target_checks)
        _check_finite(X, type(self).__name__)
        return X, y

    def _validate_x(self, X):
        """``X`` checked against the fitted model and converted (dense or sparse, as CSR), as
        ``validate_data(reset=False)``, but for NaN and infinity (:func:`_check_finite`). An ``X`` that
        conversion would return as it is, a non-empty 2-D NumPy array of the model's dtype, is checked for
        its number of features and their names only: the conversion's own checks take 200-400 us, most of
        a prediction on a few rows or of a small ``partial_fit``."""
        if self._converted(X):
            validate_data(self, X, reset=False, skip_check_array=True)
            return X
        with _numeric_input():
            return validate_data(self, X, reset=False, dtype=self._dtype(), accept_sparse="csr",
                                 ensure_all_finite=False)

    def _converted(self, X):
        """Whether scikit-learn's ``check_array`` would return ``X`` as it is."""
        return type(X) is np.ndarray and X.ndim == 2 and X.size > 0 and X.dtype == self._dtype()

    def _labels_as_given(self, y, n_samples):
        """Whether ``validate_data`` would return the targets ``y`` as they are: regressors' never skip its
        checks (several outputs, numbers, NaN)."""
        return False

    def _output(self, X, mc_samples=0, random_state=None, log=False):
        """The output layer's values on ``X``. With ``mc_samples > 0``: the mean of the loss's outputs
        (probabilities, or predictions) over that many passes with dropout on, or with ``log=True`` the
        logarithm of that mean, taken from each pass's log-probabilities so it stays finite."""
        check_is_fitted(self, FITTED)
        P.validate_params({"mc_samples": mc_samples}, {"mc_samples": [P.AtLeast(int, 0), P.NoneOK()]})
        if mc_samples and not (self.input_dropout or getattr(self, "dropout", 0)):
            raise ValueError(f"mc_samples={mc_samples} needs dropout: this model has none (dropout and "
                             "input_dropout are 0), so every pass would give the same output")
        X = self._validate_x(X)  # NaN and infinity are looked for chunk by chunk below (_check_finite)
        network = self._network()
        check = partial(_check_finite, estimator_name=type(self).__name__)
        if not mc_samples:
            return predict_in_batches(network, X, check=check)
        check(X)
        rng = as_generator(random_state)
        loss = LOSSES[self.loss]
        output, add = (loss.log_output, np.logaddexp) if log else (loss.output, np.add)
        total = output(predict_in_batches(network, X, rng=rng, sample=True))
        for _ in range(mc_samples - 1):  # one pass's outputs held at a time
            add(total, output(predict_in_batches(network, X, rng=rng, sample=True)), out=total)
        if log:
            total -= total.dtype.type(np.log(mc_samples))
        else:
            total /= total.dtype.type(mc_samples)
        return total

    @property
    def n_iter_(self):
        """``n_epochs_`` under scikit-learn's name (its MLPs count epochs as iterations)."""
        return self.n_epochs_

    @property
    def loss_curve_(self):
        """``history_["loss"]`` under scikit-learn's name: the training loss of every epoch."""
        return self.history_["loss"]

    @property
    def validation_scores_(self):
        """``history_["val_score"]`` under scikit-learn's name; None when there was no validation."""
        return self.history_.get("val_score")

    @property
    def best_validation_score_(self):
        """The validation score of ``best_epoch_`` (scikit-learn's name); None without early stopping."""
        if self.best_epoch_ is None or "val_score" not in self.history_:
            return None
        return self.history_["val_score"][self.best_epoch_]

    @property
    def best_loss_(self):
        """The lowest training loss of any epoch (scikit-learn's name); None with early stopping, as there."""
        return None if self.early_stopping_ is not None else min(self.history_["loss"], default=None)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_parameters_", None)  # coefs_/intercepts_ pickle the weights; the buffer is rebuilt
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.sparse = True
        return tags
