"""scikit-learn estimators: MLPClassifier, MLPRegressor, LinearClassifier.

All three are one network trained by the same loop (see
:mod:`shrinkage.network_estimator`); they differ only in their output loss and
in whether they have hidden layers.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from . import _params as P
from ._inputs import _numeric_target
from .losses import LOSSES
from .network_estimator import (FITTED, LearnedNothingWarning, NetworkEstimator, TrainingDivergedWarning, _plain,
                                _store_params)

__all__ = ["MLPClassifier", "MLPRegressor", "LinearClassifier", "TrainingDivergedWarning", "LearnedNothingWarning"]


def _shape(y):
    """The shape of an array, or of a (non-ragged) list or tuple of labels; else ``()``."""
    if hasattr(y, "shape"):
        return tuple(y.shape)
    try:
        return np.shape(y) if isinstance(y, (list, tuple)) else ()
    except ValueError:  # ragged: scikit-learn's own check says so
        return ()


class _ClassifierBase(ClassifierMixin, NetworkEstimator):
    _output_losses = ("softmax", "hinge")

    def _validate_xy(self, X, y, reset):
        shape = _shape(y)
        if len(shape) == 2 and shape[1] != 1:
            raise ValueError(f"{type(self).__name__} takes one label per sample, y of shape (n_samples,); got y of "
                             f"shape {shape}, several labels per sample (multilabel or multi-output): fit one "
                             "classifier per column, for example with sklearn.multioutput.MultiOutputClassifier")
        return super()._validate_xy(X, y, reset)

    def _labels_as_given(self, y, n_samples):
        """A 1-D NumPy array of integer or string labels, one per sample, passes ``validate_data`` as it is."""
        return type(y) is np.ndarray and y.shape == (n_samples,) and y.dtype.kind in "iuU"

    def _encode_targets(self, y, reset, classes=None):
        if not reset:
            known = self._indices_of_known_labels(y)
            if known is not None:
                return known
        try:
            check_classification_targets(y)
        except TypeError as error:  # NumPy cannot sort labels of mixed types
            raise ValueError(f"y must hold labels of one type (all strings or all numbers); {error}") from None
        if reset:
            self.classes_ = unique_labels(y if classes is None else classes)  # refuses mixed str/number
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes in the data; "
                    f"got 1 class ({self.classes_[0]})"
                )
            self._n_outputs = len(self.classes_)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y contains labels not seen in the classes {P.brief_list(self.classes_.tolist())}: "
                             f"{P.brief_list(unknown.tolist())}")
        return np.searchsorted(self.classes_, y).astype(np.intp)

    def _indices_of_known_labels(self, y):
        """The class index of each label in ``y`` when ``y`` holds labels of the kind of ``classes_``
        (integers or strings) that are all among them, else None. This is what the full check returns for
        such labels, without scikit-learn's inspection of their type, the better part of a small
        ``partial_fit`` call."""
        classes = self.classes_
        if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind == classes.dtype.kind in "iuU"):
            return None
        index = np.searchsorted(classes, y)
        np.minimum(index, len(classes) - 1, out=index)  # a label past the last class points at it
        return index if np.array_equal(classes[index], y) else None

    def _per_class_weight(self, target, partial=False):
        """``class_weight`` as one weight per class index (None when it weighs all classes alike)."""
        if self.class_weight is None:
            return None
        n_classes = len(self.classes_)
        if self.class_weight == "balanced":
            if partial:
                raise ValueError("class_weight='balanced' needs the whole training set, and partial_fit sees one "
                                 "part at a time; pass a dict, such as dict(zip(classes, sklearn.utils.class_weight"
                                 ".compute_class_weight('balanced', classes=classes, y=y)))")
            per_class = compute_class_weight("balanced", classes=np.arange(n_classes), y=target)
        else:
            index = {label: i for i, label in enumerate(self.classes_.tolist())}
            unknown = [label for label in self.class_weight if _plain(label) not in index]
            if unknown:
                classes = P.brief_list(self.classes_.tolist())
                raise ValueError(f"class_weight has labels that are not classes ({classes}): {P.brief_list(unknown)}")
            per_class = np.ones(n_classes)
            for label, weight in self.class_weight.items():
                per_class[index[_plain(label)]] = weight
            if not per_class.any():
                raise ValueError(f"class_weight must give some class a positive weight; got {self.class_weight}")
        return None if np.all(per_class == per_class[0]) else per_class

    @staticmethod
    def _score_output(output, target, weight=None):
        return float(np.average(output.argmax(axis=1) == target, weights=weight))

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over ``(X, y)``, continuing from ``coefs_``/``intercepts_`` and the optimizer state.

        ``classes`` (every label that will ever be seen) is required on the first call.
        ``sample_weight`` weighs the samples of this call as in :meth:`fit`.
        Parameters changed with ``set_params`` since the last call apply from
        this one on (a learning-rate schedule, a new penalty); the optimizer
        keeps its momentum or moments, as PyTorch does when a learning rate
        changes. A ``hidden_layer_sizes`` changed after the first call is an
        error (call ``fit`` for a new network); weights set by hand with other
        shapes are continued. Early stopping belongs to :meth:`fit`: with
        ``early_stopping=True`` this warns and trains on all of ``X`` (as
        scikit-learn's ``partial_fit`` does, but saying so).
        """
        if not hasattr(self, "coefs_") and classes is None:
            raise ValueError("classes must be given on the first call to partial_fit; got None")
        return self._partial_fit(X, y, classes, sample_weight)

    def predict(self, X, mc_samples=0, random_state=None):
        """Predicted class labels, shape ``(n_samples,)``.

        ``X`` is an array or sparse matrix of shape ``(n_samples,
        n_features_in_)``. With ``mc_samples > 0``, the labels of the Monte
        Carlo dropout average (see :meth:`predict_proba`), drawn from
        ``random_state``.
        """
        check_is_fitted(self, FITTED)
        return self.classes_[self._output(X, mc_samples, random_state).argmax(axis=1)]

    def decision_function(self, X):
        """Class scores of ``X`` (shape ``(n_samples, n_features_in_)``): the output layer before
        the softmax (or the hinge scores).

        Shape ``(n_samples, n_classes)``; with two classes, scikit-learn's
        convention: shape ``(n_samples,)``, the score of ``classes_[1]`` minus
        that of ``classes_[0]`` (positive means ``classes_[1]``; for softmax
        it is the log-odds). ``predict`` is the class of the highest score.
        """
        scores = self._output(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def _has_proba(self):
        return self.loss == "softmax"

    @available_if(_has_proba)
    def predict_proba(self, X, mc_samples=0, random_state=None):
        """Class probabilities (softmax of the output layer), shape ``(n_samples, n_classes)``.

        ``X`` is an array or sparse matrix of shape ``(n_samples,
        n_features_in_)``. With ``mc_samples > 0`` (an int; the model must
        have dropout or input_dropout), dropout stays on and the
        probabilities are the mean over that many stochastic passes (Monte
        Carlo dropout, Gal & Ghahramani 2016), drawn from ``random_state``
        (int, Generator or None).
        """
        out = self._output(X, mc_samples, random_state)
        return out if mc_samples else LOSSES["softmax"].output(out)

    @available_if(_has_proba)
    def predict_log_proba(self, X, mc_samples=0, random_state=None):
        """Logarithm of :meth:`predict_proba` (same arguments), computed from the scores by log-sum-exp:
        finite even where a probability rounds to 0 (below about 1e-45 in float32), where
        ``np.log(predict_proba(X))`` would give ``-inf``."""
        out = self._output(X, mc_samples, random_state, log=True)
        return out if mc_samples else LOSSES["softmax"].log_output(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


# Pieces of the estimators' docstrings: each starts at a parameter's name and ends with the next line's indent.
_CLASS_WEIGHT_DOC = """class_weight : None, "balanced" or dict of label: weight, default=None
        Weigh each sample's loss by its class's weight, on top of
        ``sample_weight`` (training and validation alike). ``"balanced"``
        weighs class ``c`` by ``n_samples / (n_classes * n_c)`` in the data
        given to ``fit`` (not available in ``partial_fit``); classes a dict
        leaves out weigh 1.
    """

_HIDDEN_DOC = """hidden_layer_sizes : tuple of int, default=(100,)
        Units of each hidden layer; ``()`` is a linear model.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden units' activation. Weights start Glorot-uniform, ``U(-b, b)``
        with ``b = sqrt(6 / (n_in + n_out))`` (``sqrt(2)`` times that for
        logistic), biases at zero.
    """
_DROPOUT_DOC = """dropout : float in [0, 1), default=0.0
        Probability of dropping a hidden unit during training (an error
        without hidden layers: input_dropout drops features).
    """

_COMMON_DOC = """penalty : {None, "l2", "l1", "elasticnet"}, default="l2"
        Penalty on the weights (never the biases). L2 is
        ``alpha / 2 * sum(W**2)``, L1 ``alpha * sum(|W|)``, elastic net
        ``alpha * (l1_ratio * |W|_1 + (1 - l1_ratio) / 2 * |W|_2^2)``.
    alpha : float, default=1e-3
        Penalty strength (1e-3 is about scikit-learn's ``LogisticRegression(C=1)``
        on a thousand samples). With ``penalty="l2"`` it is coupled L2: its gradient
        ``alpha * W`` joins the data gradient (and so Adam's moments). Another
        value than the default with ``penalty=None`` is an error (0 passes).
    l1_ratio : float in [0, 1] or None, default=None
        Elastic-net mixing; None means 0.5.
    l1_method : {"proximal", "subgradient", "cumulative"}, default="proximal"
        How the L1 part is applied. ``"proximal"``: soft-thresholding after
        each step at ``lr * alpha * l1_ratio`` (under Adam, per weight at
        ``lr * alpha * l1_ratio / (sqrt(v_hat) + eps)``; with momentum, the
        velocity also carries what the thresholding moved), so that a fixed
        point minimizes the penalized loss and ``alpha`` means the same under
        every optimizer; gives exact zeros. ``"subgradient"``:
        ``alpha * sign(W)`` in the gradient; weights hover around zero.
        ``"cumulative"``: Tsuruoka et al. (2009) clipping, as scikit-learn's
        SGD; exact zeros. A method other than the default needs ``penalty``
        ``"l1"`` or ``"elasticnet"``.
    weight_decay : float, default=0.0
        Decoupled, learning-rate-scaled decay ``W <- W - lr * weight_decay * W``
        next to the optimizer's update (AdamW). Equal to L2 for plain SGD.
    input_dropout : float in [0, 1), default=0.0
        Probability of dropping an input feature during training.
    dropout_mode : {"inverted", "classic"}, default="inverted"
        ``"inverted"`` scales kept units by ``1 / (1 - p)`` in training;
        ``"classic"`` scales by ``1 - p`` at inference. ``"classic"`` without
        any dropout is an error.
    max_norm : float or None, default=None
        After each step, rescale each unit's incoming weight vector to norm
        ``<= max_norm`` (hidden layers of an MLP; the class vectors of a
        linear model), up to rounding: a rescaled norm may exceed it by a
        few units in the last place of ``dtype`` (3.5e-7 relative in float32).
    optimizer : {"adam", "sgd"}, default="adam" ("sgd" for LinearClassifier)
    learning_rate : float, default=1e-3 (0.1 for LinearClassifier)
    momentum : float in [0, 1), default=0.9
        SGD only (PyTorch's convention); another value with ``optimizer="adam"``
        is an error rather than silently unused.
    nesterov : bool, default=False
    beta_1, beta_2, epsilon : float, defaults 0.9, 0.999, 1e-8
        Adam's; another value with ``optimizer="sgd"`` is an error.
    batch_size : int or "auto", default="auto"
        ``"auto"`` is ``min(200, n_samples)``.
    max_epochs : int, default=200
        When all of them run (no early stop) while the training loss still
        falls (by more than 0.1% over the last 10 epochs), ``fit`` warns
        with a ConvergenceWarning.
    early_stopping : bool or EarlyStopping, default=False
        ``True``: monitor ``val_loss`` (the data loss on the validation set)
        and stop by ``stopping_criterion``; see :class:`shrinkage.EarlyStopping`.
        The four parameters below act only with it: setting one of them
        without it is an error. An :class:`~shrinkage.EarlyStopping` instead
        gives every setting, among them what the four do not reach: ``monitor``
        (``"val_loss"``, ``"val_score"`` with ``mode="max"``, or the training
        ``"loss"``), ``baseline`` and ``start_from_epoch``; it is copied at
        each ``fit`` (the fitted one is ``early_stopping_``), and the four
        parameters and ``restore_best_weights`` must then stay at their
        defaults.
    patience : int or None, default=None
        For the ``"patience"`` criterion; None means 10.
    min_delta : float, default=0.0
        An epoch improves when ``val_loss < best - min_delta``.
    stopping_criterion : {"patience", "gl", "pq", "up"}, default="patience"
        What stops training (see :class:`~shrinkage.EarlyStopping`).
    stopping_threshold : float or None, default=None
        Prechelt's alpha (GL, PQ) or s (UP); None uses EarlyStopping's default.
    validation_fraction : float in (0, 1), default=0.1
        Held out for early stopping when ``validation_data`` is not given
        (another value without early stopping, with ``validation_data``, or
        with an :class:`~shrinkage.EarlyStopping` that monitors the training
        ``"loss"``, which holds nothing out, is an error). Classifiers hold
        it out class by class; when a class is too small for that, the split
        is random, with a warning if it holds out every sample of a class.
    restore_best_weights : bool, default=True
        Restore the best epoch's weights at the end of training (early
        stopping only: ``False`` without it is an error), also when training
        runs out of epochs.
    shuffle : bool, default=True
    random_state : int, Generator or None, default=None
        Seeds every random draw; the same value gives bit-identical results on the same
        machine and number of BLAS threads (BLAS libraries round differently across them).
    verbose : int, default=0
    dtype : {"float32", "float64"}, default="float32"
    warm_start : bool, default=False
        When the estimator is already fitted and the shapes agree, ``fit``
        starts from the current ``coefs_``/``intercepts_`` instead of a fresh
        initialisation (the optimizer state starts afresh). Useful along a
        regularization path. ``history_``, ``n_epochs_`` and ``best_epoch_``
        then describe that fit alone, its epochs counted from 0 (``partial_fit``
        instead adds one epoch to them).

    Attributes
    ----------
    coefs_, intercepts_ : lists of arrays, one per layer; ``coefs_[i]`` has
        shape ``(n_in, n_out)``.
    n_features_in_ : int
    history_ : dict of per-epoch lists: ``loss`` (data loss + penalty),
        ``val_loss``, ``val_score`` (when validating), ``time``.
    best_epoch_ : int or None
    n_epochs_ : int
        Epochs run (over all ``partial_fit`` calls since the last ``fit``).
    n_iter_, loss_curve_ : scikit-learn's names for ``n_epochs_`` and
        ``history_["loss"]``, so code written for its MLPs works unchanged;
        likewise ``validation_scores_`` (``history_["val_score"]`` or None),
        ``best_validation_score_`` (that of ``best_epoch_``, or None without
        early stopping) and ``best_loss_`` (the lowest training loss, or None
        with early stopping).
    stop_reason_ : str
        Why training ended: ``"max_epochs"``; an early-stopping criterion
        (``"patience"``, ``"gl"``, ``"pq"``, ``"up"``); ``"diverged"`` (a
        non-finite training loss or validation value: the best or last
        finished epoch's weights were restored, with a
        TrainingDivergedWarning); ``"interrupted"`` (Ctrl-C, see
        :meth:`fit`); ``"callback"`` (a callback asked to stop).
    early_stopping_ : EarlyStopping or None
        The rule the last ``fit`` stopped by, with its ``best``, ``best_epoch``
        and ``stop_reason``.
"""


class MLPClassifier(_ClassifierBase):
    __doc__ = """Multilayer perceptron classifier with explicit regularization.

    Parameters
    ----------
    """ + _HIDDEN_DOC + """loss : {"softmax", "hinge"}, default="softmax"
        Softmax cross-entropy or Weston-Watkins multiclass hinge, mean over the batch.
    """ + _DROPOUT_DOC + _CLASS_WEIGHT_DOC + _COMMON_DOC + """
    classes_ : ndarray of labels

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from shrinkage import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(penalty="l1", alpha=1e-3, max_epochs=5, random_state=0).fit(X / 16, y)
    ... # doctest: +SKIP
    """

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", loss="softmax", penalty="l2", alpha=1e-3,
        l1_ratio=None, l1_method="proximal", weight_decay=0.0, dropout=0.0, input_dropout=0.0,
        dropout_mode="inverted", max_norm=None, optimizer="adam", learning_rate=1e-3, momentum=0.9,
        nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8, batch_size="auto", max_epochs=200,
        early_stopping=False, patience=None, min_delta=0.0, stopping_criterion="patience",
        stopping_threshold=None, validation_fraction=0.1, restore_best_weights=True, shuffle=True,
        random_state=None, verbose=0, dtype="float32", warm_start=False, class_weight=None,
    ):
        _store_params(self, locals())


class LinearClassifier(_ClassifierBase):
    __doc__ = """Linear classifier (softmax regression or multiclass SVM) with explicit regularization.

    The same engine as :class:`MLPClassifier` without hidden layers: an
    ``MLPClassifier(hidden_layer_sizes=())`` with the same parameters gives the
    same weights. It has no ``activation`` and no hidden ``dropout``; use
    ``input_dropout`` to drop features.

    Parameters
    ----------
    loss : {"softmax", "hinge"}, default="softmax"
        Softmax cross-entropy (multinomial logistic regression) or
        Weston-Watkins multiclass hinge (a linear SVM), mean over the batch.
    """ + _CLASS_WEIGHT_DOC + _COMMON_DOC + """
    coef_ : ndarray of shape (n_classes, n_features)
        ``coefs_[0].T`` (a view; assigning it sets ``coefs_``).
    intercept_ : ndarray of shape (n_classes,)
    classes_ : ndarray of labels
    """

    def __init__(
        self, loss="softmax", penalty="l2", alpha=1e-3, l1_ratio=None, l1_method="proximal",
        weight_decay=0.0, input_dropout=0.0, dropout_mode="inverted", max_norm=None, optimizer="sgd",
        learning_rate=0.1, momentum=0.9, nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
        batch_size="auto", max_epochs=200, early_stopping=False, patience=None, min_delta=0.0,
        stopping_criterion="patience", stopping_threshold=None, validation_fraction=0.1,
        restore_best_weights=True, shuffle=True, random_state=None, verbose=0, dtype="float32", warm_start=False,
        class_weight=None,
    ):
        _store_params(self, locals())

    @property
    def coef_(self):
        check_is_fitted(self, "coefs_")
        return self.coefs_[0].T

    @coef_.setter
    def coef_(self, value):
        self.coefs_ = [np.asarray(value).T.copy()]

    @property
    def intercept_(self):
        check_is_fitted(self, "intercepts_")
        return self.intercepts_[0]

    @intercept_.setter
    def intercept_(self, value):
        self.intercepts_ = [np.asarray(value).copy()]


class MLPRegressor(RegressorMixin, NetworkEstimator):
    __doc__ = """Multilayer perceptron regressor with explicit regularization.

    Parameters
    ----------
    """ + _HIDDEN_DOC + """loss : {"squared_error"}, default="squared_error"
        ``mean_i 1/2 * sum_k (f_ik - y_ik)**2``.
    """ + _DROPOUT_DOC + _COMMON_DOC

    _output_losses = ("squared_error",)

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", loss="squared_error", penalty="l2", alpha=1e-3,
        l1_ratio=None, l1_method="proximal", weight_decay=0.0, dropout=0.0, input_dropout=0.0,
        dropout_mode="inverted", max_norm=None, optimizer="adam", learning_rate=1e-3, momentum=0.9,
        nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-8, batch_size="auto", max_epochs=200,
        early_stopping=False, patience=None, min_delta=0.0, stopping_criterion="patience",
        stopping_threshold=None, validation_fraction=0.1, restore_best_weights=True, shuffle=True,
        random_state=None, verbose=0, dtype="float32", warm_start=False,
    ):
        _store_params(self, locals())

    _target_checks = {"multi_output": True, "y_numeric": True}

    def _validate_xy(self, X, y, reset):
        return super()._validate_xy(X, _numeric_target(y, type(self).__name__), reset)

    def _labels_as_given(self, y, n_samples):
        """A finite float NumPy array of targets, one row per sample, passes ``validate_data`` as it is (with
        NaN or infinity it takes the full check, whose error names them)."""
        return (type(y) is np.ndarray and y.dtype.kind == "f" and y.ndim in (1, 2) and len(y) == n_samples
                and y.size > 0 and bool(np.isfinite(y).all()))

    def _encode_targets(self, y, reset, classes=None):
        if reset:
            self._y_1d = y.ndim == 1
            self._n_outputs = 1 if y.ndim == 1 else y.shape[1]
        target = np.asarray(y, dtype=self._dtype()).reshape(len(y), -1)
        if target.shape[1] != self._n_outputs:
            raise ValueError(f"y must have {self._n_outputs} output(s); got {target.shape[1]}")
        return target

    @staticmethod
    def _score_output(output, target, weight=None):
        return float(r2_score(target, output, sample_weight=weight))

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over ``(X, y)``, continuing from ``coefs_``/``intercepts_`` and the optimizer state.

        ``classes`` is there for the signature all estimators share (DESIGN.md)
        and must stay None: a regressor has no classes.
        ``sample_weight`` weighs the samples of this call as in :meth:`fit`.
        Parameters changed with ``set_params`` since the last call apply from
        this one on; the optimizer keeps its state (see MLPClassifier.partial_fit).
        """
        if classes is not None:
            raise ValueError(f"classes is only for classifiers; MLPRegressor.partial_fit got classes={classes!r}")
        return self._partial_fit(X, y, sample_weight=sample_weight)

    def predict(self, X, mc_samples=0, random_state=None):
        """Predictions for ``X`` (shape ``(n_samples, n_features_in_)``): shape ``(n_samples,)``, or
        ``(n_samples, n_outputs)`` when fitted on a 2-D ``y``.

        With ``mc_samples > 0`` (an int; the model must have dropout or
        input_dropout), the mean of that many passes with dropout on, drawn
        from ``random_state`` (Monte Carlo dropout).
        """
        out = self._output(X, mc_samples, random_state)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
