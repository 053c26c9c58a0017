"""Weight penalties: L1, L2 and elastic net.

Each penalty ``R`` has three views, all on a weight array ``w``:

* ``value(w)``: the term added to the mean data loss,
* ``grad(w)``: its (sub)gradient, added to the data gradient when the penalty
  is *coupled*,
* ``prox(w, step)``: the proximal operator of ``step * R``,
  ``argmin_u 1/2 ||u - w||^2 + step * R(u)``, with ``alpha`` inside ``R``.

Conventions (DESIGN.md):

* L2: ``R(w) = alpha / 2 * sum(w**2)``, gradient ``alpha * w``. This equals
  PyTorch's ``SGD(weight_decay=alpha)`` and scikit-learn's
  ``SGDClassifier(alpha=alpha)``.
* L1: ``R(w) = alpha * sum(|w|)``, subgradient ``alpha * sign(w)`` with
  ``sign(0) = 0``.
* Elastic net: ``R(w) = alpha * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)``
  (scikit-learn's form).

Penalties apply to weights only; the training code never hands them biases.

Examples
--------
>>> import numpy as np
>>> from shrinkage.penalties import L1
>>> L1(alpha=0.5).prox(np.array([-2.0, 0.3, 1.0]), step=1.0)
array([-1.5,  0. ,  0.5])
"""

from __future__ import annotations

import numpy as np

from . import _params as P

__all__ = ["L1", "L2", "ElasticNet", "soft_threshold", "CumulativeL1State"]


def soft_threshold(w, threshold, out=None, scratch=None):
    """Return ``sign(w) * max(|w| - threshold, 0)``; exact zeros where ``|w| <= threshold``.

    ``threshold`` may be a scalar or an array broadcastable to ``w``. With
    ``out=w`` the operation is done in place; ``scratch`` (an array like ``w``)
    avoids allocating a temporary. It is computed as
    ``w - clip(w, -threshold, threshold)``, which gives the same floating-point
    result as the formula (``w - w`` is exactly zero): two passes for a scalar
    threshold, four for an array (array-array minimum and maximum, which NumPy
    runs much faster than ``clip`` with array bounds).
    """
    if np.ndim(threshold) == 0:
        return np.subtract(w, np.clip(w, -threshold, threshold, out=scratch), out=out)
    clipped = np.negative(threshold, out=scratch)
    np.maximum(w, clipped, out=clipped)
    np.minimum(clipped, threshold, out=clipped)
    return np.subtract(w, clipped, out=out)


def _checked(name, value, constraint):
    """``value`` as a float if ``constraint`` accepts it, else the estimators' ValueError naming ``name``."""
    P.validate_params({name: value}, {name: [constraint]})
    return float(value)


def _check_alpha(alpha):
    return _checked("alpha", alpha, P.AtLeast(float, 0))


def _check_step(step):
    return _checked("step", step, P.AtLeast(float, 0))


class L2:
    """Squared L2 penalty ``alpha / 2 * sum(w**2)`` (ridge, coupled weight decay).

    ``alpha`` (a finite float >= 0) is the strength; the gradient is ``alpha * w``.
    """

    def __init__(self, alpha=1e-4):
        self.alpha = _check_alpha(alpha)

    def value(self, w):
        """``alpha / 2 * sum(w**2)`` as a float."""
        return 0.5 * self.alpha * float(np.vdot(w, w))

    def grad(self, w):
        """``alpha * w``, an array shaped like ``w``."""
        return self.alpha * np.asarray(w)

    def prox(self, w, step):
        """``w / (1 + step * alpha)``: the argmin of ``1/2 ||u - w||^2 + step * value(u)``.

        ``step`` (a finite float >= 0) is the step size, for example the learning rate.
        """
        return np.asarray(w) / (1.0 + _check_step(step) * self.alpha)

    def __repr__(self):
        return f"L2(alpha={self.alpha!r})"


class L1:
    """L1 penalty ``alpha * sum(|w|)`` (lasso).

    ``alpha`` (a finite float >= 0) is the strength. The subgradient uses
    ``sign(0) = 0``. The proximal operator is soft-thresholding at
    ``alpha * step`` and gives exact zeros.
    """

    def __init__(self, alpha=1e-4):
        self.alpha = _check_alpha(alpha)

    def value(self, w):
        """``alpha * sum(|w|)`` as a float."""
        return self.alpha * float(np.abs(w).sum())

    def grad(self, w):
        """The subgradient ``alpha * sign(w)`` with ``sign(0) = 0``, an array shaped like ``w``."""
        return self.alpha * np.sign(w)

    def prox(self, w, step):
        """Soft-thresholding ``sign(w) * max(|w| - alpha * step, 0)``: exact zeros where
        ``|w| <= alpha * step``; the argmin of ``1/2 ||u - w||^2 + step * value(u)``.

        ``step`` (a finite float >= 0) is the step size, for example the learning rate.
        """
        return soft_threshold(np.asarray(w), self.alpha * _check_step(step))

    def __repr__(self):
        return f"L1(alpha={self.alpha!r})"


class ElasticNet:
    """Elastic net ``alpha * (l1_ratio * |w|_1 + (1 - l1_ratio) / 2 * |w|_2^2)``.

    ``alpha`` (a finite float >= 0) is the strength and ``l1_ratio`` (in
    [0, 1]) the mix: ``l1_ratio=1`` is :class:`L1`, ``l1_ratio=0`` is
    :class:`L2`, both with the same ``alpha``.
    """

    def __init__(self, alpha=1e-4, l1_ratio=0.5):
        self.alpha = _check_alpha(alpha)
        self.l1_ratio = _checked("l1_ratio", l1_ratio, P.Interval(float, 0, 1))

    @property
    def l1(self):
        """The L1 part as an :class:`L1` penalty."""
        return L1(self.alpha * self.l1_ratio)

    @property
    def l2(self):
        """The L2 part as an :class:`L2` penalty."""
        return L2(self.alpha * (1.0 - self.l1_ratio))

    def value(self, w):
        """The L1 part's value plus the L2 part's, as a float."""
        return self.l1.value(w) + self.l2.value(w)

    def grad(self, w):
        """``alpha * (l1_ratio * sign(w) + (1 - l1_ratio) * w)`` with ``sign(0) = 0``."""
        return self.l1.grad(w) + self.l2.grad(w)

    def prox(self, w, step):
        """Soft-threshold at ``alpha * l1_ratio * step``, then divide by
        ``1 + step * alpha * (1 - l1_ratio)``: the argmin of
        ``1/2 ||u - w||^2 + step * value(u)`` (exact zeros, like :class:`L1`).
        """
        return self.l2.prox(self.l1.prox(w, step), step)

    def __repr__(self):
        return f"ElasticNet(alpha={self.alpha!r}, l1_ratio={self.l1_ratio!r})"


class CumulativeL1State:
    """Cumulative-penalty L1 clipping of Tsuruoka, Tsujii & Ananiadou (2009).

    This is the method scikit-learn's ``SGDClassifier`` uses for L1. After
    every optimizer step, ``u`` grows by the L1 penalty that *could* have been
    applied in that step (``step * alpha``), and each weight is pulled towards
    zero by what it has not yet received (``u - q``), without crossing zero:

    ``w > 0: w = max(0, w - (u + q))``, ``w < 0: w = min(0, w + (u - q))``,
    ``q += w_new - w_old``.

    Weights that cross zero stop there, so the method gives exact zeros, and a
    weight that a noisy gradient pushes away from zero is pulled back by the
    penalty it skipped. ``step`` may be a per-weight array (Adam's metric).

    References
    ----------
    Tsuruoka, Tsujii & Ananiadou, "Stochastic gradient descent training for
    L1-regularized log-linear models with cumulative penalty", ACL 2009.
    """

    def __init__(self, shape, dtype):
        self.u = np.zeros(shape, dtype=dtype)
        self.q = np.zeros(shape, dtype=dtype)

    def apply(self, w, penalty_step):
        """Accumulate ``penalty_step`` and clip ``w`` in place; return ``w``."""
        self.clip(w, penalty_step)
        return w

    def clip(self, w, penalty_step):
        """As :meth:`apply`, but return how far each weight moved (``w_new - w_old``)."""
        self.u += penalty_step
        clipped = np.where(
            w > 0,
            np.maximum(0, w - (self.u + self.q)),
            np.where(w < 0, np.minimum(0, w + (self.u - self.q)), w),
        )
        moved = np.subtract(clipped, w)
        w[...] = clipped
        self.q += moved
        return moved
