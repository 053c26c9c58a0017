"""Optimizers and the regularization steps that plug into them.

One training step is a fixed chain of named points (DESIGN.md, "How data
flows")::

    grads += coupled penalty gradients          Regularizer.add_gradient
    update = optimizer.update(grads)            SGD / momentum / Nesterov / Adam
    w      = decayed w                          Regularizer.decay
    w     -= update
    w      = prox / clip / projection of w      Regularizer.project

so that decoupled weight decay is ``w_new = w - lr * weight_decay * w - update``
with ``w`` and ``update`` both taken before the step (AdamW, Loshchilov &
Hutter 2019), while coupled L2 passes through the optimizer's moments. A
regularizer is a small object that overrides one or more of the three hooks
and applies to the parameters it is given (weights only; biases are never
penalized or decayed). :class:`Updater` runs the chain.
"""

from __future__ import annotations

import numpy as np

from .penalties import L1, L2, CumulativeL1State, ElasticNet, soft_threshold

__all__ = [
    "SGD",
    "Adam",
    "Updater",
    "Regularizer",
    "CoupledPenalty",
    "ProximalL1",
    "CumulativeL1",
    "DecoupledWeightDecay",
    "MaxNorm",
    "max_norm_project",
    "build_regularizers",
]


# ---------------------------------------------------------------- optimizers


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    PyTorch's convention: ``v = momentum * v + g``; the update is ``lr * v``,
    or ``lr * (g + momentum * v)`` with Nesterov. Without momentum the
    update is ``lr * g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocity = None

    def init(self, params):
        self.velocity = [np.zeros_like(p) for p in params] if self.momentum else None

    def begin_step(self):
        pass

    def update(self, i, grad):
        """The amount to subtract from parameter ``i`` given its gradient."""
        lr = self.learning_rate
        if not self.momentum:
            return lr * grad
        v = self.velocity[i]
        v *= self.momentum
        v += grad
        if self.nesterov:
            return lr * (grad + self.momentum * v)
        return lr * v

    def prox_scale(self, i):
        """The step size that a proximal step on parameter ``i`` should use."""
        return self.learning_rate

    def state_dict(self):
        return {"velocity": self.velocity}

    def load_state_dict(self, state):
        self.velocity = state["velocity"]


class Adam:
    """Adam (Kingma & Ba 2015), with bias correction, as PyTorch's ``Adam``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, update
    ``lr * m_hat / (sqrt(v_hat) + eps)``. Its per-weight metric
    ``lr / (sqrt(v_hat) + eps)`` is the step size that proximal L1 uses, so
    that ``alpha`` means the same under Adam as under SGD (ProxGen; Yun,
    Lozano & Yang 2021).
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m = self.v = None
        self._denom = None

    def init(self, params):
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self._denom = [None] * len(params)

    def begin_step(self):
        self.t += 1

    def _denominator(self, i):
        v_hat = self.v[i] / (1.0 - self.beta_2**self.t)
        np.sqrt(v_hat, out=v_hat)
        v_hat += self.epsilon
        return v_hat

    def update(self, i, grad):
        m, v = self.m[i], self.v[i]
        m *= self.beta_1
        m += (1.0 - self.beta_1) * grad
        v *= self.beta_2
        v += (1.0 - self.beta_2) * (grad * grad)
        denom = self._denominator(i)
        self._denom[i] = denom
        step = self.learning_rate / (1.0 - self.beta_1**self.t)
        return (step * m) / denom

    def prox_scale(self, i):
        return self.learning_rate / self._denom[i]

    def state_dict(self):
        return {"t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state):
        self.t, self.m, self.v = int(state["t"]), state["m"], state["v"]
        self._denom = [None] * len(self.m)


# --------------------------------------------------------------- regularizers


class Regularizer:
    """A piece of the update chain; applies to the parameter indices it holds."""

    def __init__(self, indices):
        self.indices = list(indices)

    def init(self, params):
        pass

    def add_gradient(self, i, w, grad):
        pass

    def decay(self, i, w, learning_rate):
        pass

    def project(self, i, w, optimizer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class CoupledPenalty(Regularizer):
    """Adds ``penalty.grad(w)`` to the data gradient (coupled L2, subgradient L1)."""

    def __init__(self, penalty, indices):
        super().__init__(indices)
        self.penalty = penalty

    def add_gradient(self, i, w, grad):
        if isinstance(self.penalty, L2):  # the common case, without a temporary
            grad += self.penalty.alpha * w
        else:
            grad += self.penalty.grad(w)


class ProximalL1(Regularizer):
    """Soft-thresholding after each step at ``alpha * optimizer.prox_scale(i)``.

    Under SGD the threshold is ``lr * alpha``; under Adam it is
    ``lr * alpha / (sqrt(v_hat) + eps)`` per weight.
    """

    def __init__(self, alpha, indices):
        super().__init__(indices)
        self.alpha = float(alpha)

    def project(self, i, w, optimizer):
        soft_threshold(w, self.alpha * optimizer.prox_scale(i), out=w)


class CumulativeL1(Regularizer):
    """Tsuruoka et al. (2009) cumulative-penalty clipping (see :class:`CumulativeL1State`)."""

    def __init__(self, alpha, indices):
        super().__init__(indices)
        self.alpha = float(alpha)
        self.states = {}

    def init(self, params):
        self.states = {i: CumulativeL1State(params[i].shape, params[i].dtype) for i in self.indices}

    def project(self, i, w, optimizer):
        self.states[i].apply(w, self.alpha * optimizer.prox_scale(i))

    def state_dict(self):
        return {"u": [self.states[i].u for i in self.indices], "q": [self.states[i].q for i in self.indices]}

    def load_state_dict(self, state):
        for i, u, q in zip(self.indices, state["u"], state["q"]):
            np.copyto(self.states[i].u, u)
            np.copyto(self.states[i].q, q)


class DecoupledWeightDecay(Regularizer):
    """``w <- w - lr * weight_decay * w``, applied before the optimizer's update is subtracted."""

    def __init__(self, weight_decay, indices):
        super().__init__(indices)
        self.weight_decay = float(weight_decay)

    def decay(self, i, w, learning_rate):
        w *= 1.0 - learning_rate * self.weight_decay


def max_norm_project(W, max_norm):
    """Rescale every column of ``W`` (a unit's incoming weights) to L2 norm ``<= max_norm``, in place."""
    norms = np.sqrt(np.einsum("ij,ij->j", W, W))
    too_big = norms > max_norm
    if too_big.any():
        W[:, too_big] *= (max_norm / norms[too_big]).astype(W.dtype)
    return W


class MaxNorm(Regularizer):
    """Max-norm constraint (Srivastava et al. 2014), projected after each step."""

    def __init__(self, max_norm, indices):
        super().__init__(indices)
        self.max_norm = float(max_norm)

    def project(self, i, w, optimizer):
        max_norm_project(w, self.max_norm)


def build_regularizers(
    *, penalty, alpha, l1_ratio, l1_method, weight_decay, max_norm, weight_indices, max_norm_indices
):
    """Turn the estimator-level settings into the list of update-chain pieces.

    Returns ``(regularizers, penalty_object)``; ``penalty_object`` (or
    ``None``) gives the penalty's value for the reported loss.
    """
    pieces = []
    penalty_obj = None
    if penalty is not None and alpha > 0:
        ratio = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio}[penalty]
        penalty_obj = {"l2": L2(alpha), "l1": L1(alpha), "elasticnet": ElasticNet(alpha, ratio)}[penalty]
        if l1_method == "subgradient" or ratio == 0.0:
            pieces.append(CoupledPenalty(penalty_obj, weight_indices))
        else:
            if ratio < 1.0:
                pieces.append(CoupledPenalty(L2(alpha * (1.0 - ratio)), weight_indices))
            l1_piece = ProximalL1 if l1_method == "proximal" else CumulativeL1
            pieces.append(l1_piece(alpha * ratio, weight_indices))
    if weight_decay:
        pieces.append(DecoupledWeightDecay(weight_decay, weight_indices))
    if max_norm is not None:
        pieces.append(MaxNorm(max_norm, max_norm_indices))
    return pieces, penalty_obj


# -------------------------------------------------------------------- updater


class Updater:
    """Runs one optimization step over ``params`` through the chain of pieces."""

    def __init__(self, optimizer, regularizers=()):
        self.optimizer = optimizer
        self.regularizers = list(regularizers)
        self._by_hook = {}

    def init(self, params):
        self.optimizer.init(params)
        for reg in self.regularizers:
            reg.init(params)
        # Per hook, the (regularizer, index) pairs that override it: no empty calls per step.
        for hook in ("add_gradient", "decay", "project"):
            self._by_hook[hook] = [
                (getattr(reg, hook), i)
                for reg in self.regularizers
                if getattr(type(reg), hook) is not getattr(Regularizer, hook)
                for i in reg.indices
            ]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(),
                "regularizers": [reg.state_dict() for reg in self.regularizers]}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        for reg, reg_state in zip(self.regularizers, state["regularizers"]):
            reg.load_state_dict(reg_state)

    def step(self, params, grads):
        opt = self.optimizer
        opt.begin_step()
        for add_gradient, i in self._by_hook["add_gradient"]:
            add_gradient(i, params[i], grads[i])
        updates = [opt.update(i, g) for i, g in enumerate(grads)]
        for decay, i in self._by_hook["decay"]:
            decay(i, params[i], opt.learning_rate)
        for p, u in zip(params, updates):
            p -= u
        for project, i in self._by_hook["project"]:
            project(i, params[i], opt)
