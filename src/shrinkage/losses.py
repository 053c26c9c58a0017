"""Data losses. Each is the **mean over the batch** and returns its gradient.

``loss(output, target) -> (value, grad)`` where ``output`` is the network's
raw output (logits or predictions) of shape ``(n, k)`` and ``grad`` is
``d value / d output``, already divided by ``n``. ``loss.value(output,
target)`` returns the value alone, without allocating the gradient.

Both take an optional ``weight`` of shape ``(n,)``: the loss is then
``mean_i weight_i * loss_i`` (the estimators pass sample weights scaled to
mean 1 over the data set, so this is an unbiased estimate of the weighted
mean ``sum_i s_i loss_i / sum_i s_i``).

Classification targets are integer class indices ``0 .. k-1``; regression
targets are float arrays of shape ``(n, k)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SoftmaxCrossEntropy", "MulticlassHinge", "SquaredError", "softmax", "log_softmax", "LOSSES"]


def softmax(logits):
    """Row-wise softmax, stable for large logits (the row maximum is subtracted)."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def log_softmax(logits):
    """Row-wise ``log(softmax(logits))``, as ``z - log(sum(exp(z)))`` with ``z`` the logits less their row
    maximum: finite wherever the logits are, even where the softmax itself rounds to 0."""
    z = logits - logits.max(axis=1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
    return z


def _log_softmax_at(logits, target):
    """``log softmax(logits)[i, target[i]]`` for every row, by log-sum-exp."""
    shift = logits.max(axis=1, keepdims=True)
    z = logits - shift
    log_norm = np.log(np.exp(z).sum(axis=1))
    return z[np.arange(len(target)), target] - log_norm


class SoftmaxCrossEntropy:
    """Softmax followed by cross-entropy: ``mean_i -log softmax(s_i)[y_i]``.

    Computed through log-sum-exp, so logits of any size give finite values.
    The gradient is ``(softmax(s) - onehot(y)) / n``.
    """

    name = "softmax"
    constant = "predicting the class frequencies"  # what constant_value predicts

    def __init__(self):
        self._shape = self._row_starts = self._ones = None

    def value(self, logits, target, weight=None):
        return _mean(-_log_softmax_at(logits, target), weight)

    def __call__(self, logits, target, weight=None):
        # Few NumPy calls on small arrays: in a training step each one costs several microseconds.
        n, k = logits.shape
        if self._shape != (n, k) or self._ones.dtype != logits.dtype:  # made once per batch shape
            self._shape = (n, k)
            self._row_starts = np.arange(0, n * k, k)  # flat index of each row's first entry
            self._ones = np.ones(k, dtype=logits.dtype)
        at_target = self._row_starts + target  # flat index of each row's target entry
        # Shift by the batch's largest logit (a row-wise maximum over ~10 columns costs 10x more). Every
        # row's exponentials stay representable unless a row lies ~46 below it: then shift row by row.
        z, picked, norm = self._exp_shifted(logits, np.maximum.reduce(logits, axis=None), at_target)
        if not np.minimum.reduce(norm) >= 1e-20:
            z, picked, norm = self._exp_shifted(logits, np.maximum.reduce(logits, axis=1, keepdims=True), at_target)
        if weight is not None:
            return self._weighted(z, np.log(norm) - picked, norm, at_target, weight)
        value = float(np.add.reduce(np.log(norm) - picked)) / n  # mean of log-sum-exp minus the target's logit
        norm *= n
        z /= norm[:, None]  # softmax / n
        z.reshape(-1)[at_target] -= 1.0 / n
        return value, z

    @staticmethod
    def _weighted(z, losses, norm, at_target, weight):
        """Value and gradient of ``mean_i weight_i * loss_i`` from the exponentials ``z``."""
        z /= norm[:, None]  # softmax
        z.reshape(-1)[at_target] -= 1.0
        return _mean(losses, weight), _mean_gradient(z, weight)

    def _exp_shifted(self, logits, shift, at_target):
        """``exp(logits - shift)``, the shifted target logits and the row sums of the exponentials."""
        z = logits - shift
        picked = z.reshape(-1)[at_target]
        np.exp(z, out=z)
        return z, picked, z @ self._ones

    @staticmethod
    def constant_value(target, weight, n_outputs):
        """The loss of the best constant prediction, the (weighted) class frequencies: their entropy."""
        freq = np.bincount(target, weights=weight, minlength=n_outputs) / len(target)
        freq = freq[freq > 0]
        return float(-np.sum(freq * np.log(freq)))

    @staticmethod
    def zero_output_value(target, weight, n_outputs):
        """The loss of all-zero logits (uniform probabilities): ``log(n_outputs)``."""
        return float(np.log(n_outputs))

    @staticmethod
    def output(logits):
        """Class probabilities."""
        return softmax(logits)

    @staticmethod
    def log_output(logits):
        """Logarithms of the class probabilities, computed without forming them."""
        return log_softmax(logits)


class MulticlassHinge:
    """Multiclass hinge loss of Weston & Watkins (1999).

    ``mean_i sum_{j != y_i} max(0, 1 + s_ij - s_iy_i)``. With two classes it is
    the binary hinge loss on the difference of the two scores. Its
    subgradient takes 0 at the kinks.
    """

    name = "hinge"
    constant = "all-zero scores"  # what constant_value predicts

    def _margins(self, scores, target):
        rows = np.arange(scores.shape[0])
        margins = scores - scores[rows, target][:, None]
        margins += 1
        margins[rows, target] = 0
        np.maximum(margins, 0, out=margins)
        return margins

    def value(self, scores, target, weight=None):
        return self._value(self._margins(scores, target), weight)

    def __call__(self, scores, target, weight=None):
        margins = self._margins(scores, target)
        grad = (margins > 0).astype(scores.dtype)
        grad[np.arange(len(target)), target] = -grad.sum(axis=1)
        return self._value(margins, weight), _mean_gradient(grad, weight)

    @staticmethod
    def _value(margins, weight):
        if weight is None:
            return float(margins.sum()) / margins.shape[0]
        return _mean(margins.sum(axis=1), weight)

    @staticmethod
    def constant_value(target, weight, n_outputs):
        """The loss of all-zero scores (every margin 1): ``n_outputs - 1``."""
        return float(n_outputs - 1)

    zero_output_value = constant_value

    @staticmethod
    def output(scores):
        return scores


class SquaredError:
    """Half squared error, summed over outputs, mean over the batch.

    ``mean_i 1/2 * sum_k (f_ik - y_ik)**2``; gradient ``(f - y) / n``. For a
    single output this is half the mean squared error, as in scikit-learn's
    ``MLPRegressor``.
    """

    name = "squared_error"
    constant = "predicting the mean target"  # what constant_value predicts

    def value(self, pred, target, weight=None):
        return self._value(pred - target, weight)

    def __call__(self, pred, target, weight=None):
        grad = pred - target
        return self._value(grad, weight), _mean_gradient(grad, weight)

    @staticmethod
    def _value(diff, weight):
        if weight is None:
            return float(0.5 * np.vdot(diff, diff) / diff.shape[0])
        return _mean(0.5 * np.einsum("ij,ij->i", diff, diff), weight)

    def constant_value(self, target, weight, n_outputs):
        """The loss of the best constant prediction, the (weighted) mean of the targets."""
        return self.value(np.average(target, axis=0, weights=weight)[None, :], target, weight)

    def zero_output_value(self, target, weight, n_outputs):
        """The loss of predicting 0."""
        return self.value(np.zeros((1, target.shape[1]), target.dtype), target, weight)

    @staticmethod
    def output(pred):
        return pred


def _mean_gradient(grad, weight):
    """``grad`` (per-sample rows) turned in place into the gradient of the (weighted) batch mean: one pass."""
    if weight is None:
        grad /= grad.shape[0]
    else:
        grad *= (weight / grad.shape[0])[:, None]
    return grad


def _mean(losses, weight=None):
    """``mean_i weight_i * losses_i`` (the plain mean without weights) as a float."""
    if weight is None:
        return float(np.mean(losses))
    return float(np.vdot(losses, weight)) / len(losses)


LOSSES = {cls.name: cls for cls in (SoftmaxCrossEntropy, MulticlassHinge, SquaredError)}
