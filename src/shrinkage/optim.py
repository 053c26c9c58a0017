"""Optimizers and the regularization steps that plug into them.

One training step is a fixed chain of named points (DESIGN.md, "How data
flows"), applied to a :class:`~shrinkage.parameters.Parameters` buffer::

    grad += coupled penalty gradients           Regularizer.add_gradient
    w     = w - lr * weight_decay * w           Regularizer.decay
    w    -= optimizer update(grad)              SGD / momentum / Nesterov / Adam
    w     = prox / clip of w                    Regularizer.project_chunk
    W     = projection of each matrix           Regularizer.project (max-norm)

The update depends on the gradient alone (coupled terms are in it already), so
shrinking ``w`` before subtracting it gives exactly
``w_new = w - lr * weight_decay * w - update`` with both terms taken from the
weights before the step: decoupled weight decay (AdamW, Loshchilov & Hutter
2019). Coupled L2 instead passes through the optimizer's moments.
Regularizers act on ``params.weights`` (every weight, one contiguous slice),
never on the biases; max-norm acts on the hidden layers' weight matrices.
The :class:`Updater` walks the parameter buffer in cache-sized chunks and runs
the whole chain on each chunk in place (the spent gradient is the scratch), so a
step reads the parameters from memory about once, whatever the number of
layers, and makes no temporary array the size of the parameters.
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


CHUNK = 1 << 16  # elements per chunk: 256 KiB of float32, so a chunk's passes run in cache


# ---------------------------------------------------------------- optimizers
# ``apply(entries, data, grad)`` updates one chunk: ``data``/``grad`` are the views
# ``params.data[entries]``/``params.grad[entries]`` and ``entries`` indexes the state.


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

    def init(self, data):
        self.velocity = np.zeros_like(data) if self.momentum else None

    def begin_step(self):
        pass

    def apply(self, entries, data, grad):
        """Subtract this step's update from the chunk ``data`` in place; ``grad`` is spent as scratch."""
        lr = self.learning_rate
        if self.momentum:
            v = self.velocity[entries]
            v *= self.momentum
            v += grad
            if self.nesterov:  # lr * (g + momentum * v) = lr * g + lr * momentum * v
                grad *= -lr
                data += grad
                np.multiply(v, -lr * self.momentum, out=grad)
            else:
                np.multiply(v, -lr, out=grad)
        else:
            grad *= -lr
        data += grad

    def prox_scale(self, entries, factor=1.0):
        """``factor`` times the step size of a proximal step on ``data[entries]``: one number."""
        return factor * self.learning_rate

    def state_dict(self):
        return {"velocity": self.velocity}

    def load_state_dict(self, state):
        if state["velocity"] is not None:
            np.copyto(self.velocity, state["velocity"])


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
        self.m = self.v = self._denom = self._prox = None

    def init(self, data):
        self.t = 0
        self.m, self.v = np.zeros_like(data), np.zeros_like(data)
        self._denom = np.empty_like(data)  # sqrt(v_hat) + eps, kept for the proximal step

    def begin_step(self):
        self.t += 1
        self._inv_sqrt_bc2 = 1.0 / np.sqrt(1.0 - self.beta_2**self.t)
        self._step = -self.learning_rate / (1.0 - self.beta_1**self.t)

    def apply(self, entries, data, grad):
        b1, b2 = self.beta_1, self.beta_2
        m, v, denom = self.m[entries], self.v[entries], self._denom[entries]
        m -= grad  # m = b1 m + (1 - b1) g = g + b1 (m - g), without a temporary
        m *= b1
        m += grad
        grad *= grad
        v -= grad
        v *= b2
        v += grad
        np.sqrt(v, out=denom)  # sqrt(v_hat) + eps = sqrt(v) / sqrt(1 - b2^t) + eps
        denom *= self._inv_sqrt_bc2
        denom += self.epsilon
        np.divide(m, denom, out=grad)
        grad *= self._step
        data += grad

    def prox_scale(self, entries, factor=1.0):
        """``factor * lr / (sqrt(v_hat) + eps)`` on ``data[entries]``: a view of a buffer that the next
        call overwrites (made at the first call, so Adam without L1 does not pay for it)."""
        denom = self._denom[entries]
        if self._prox is None or len(self._prox) < len(denom):
            self._prox = np.empty(len(denom), dtype=denom.dtype)
        return np.divide(factor * self.learning_rate, denom, out=self._prox[:len(denom)])

    def state_dict(self):
        return {"t": self.t, "m": self.m, "v": self.v}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        np.copyto(self.m, state["m"])
        np.copyto(self.v, state["v"])


# --------------------------------------------------------------- regularizers


class Regularizer:
    """A piece of the update chain; subclasses override the hooks they need.

    The chunk hooks get views of one chunk of the weights (``w``, its gradient
    ``g`` and the slice ``entries`` that locates it); ``project`` gets the
    whole :class:`~shrinkage.parameters.Parameters` after the step.
    """

    def init(self, params):
        pass

    def add_gradient(self, w, g):
        pass

    def decay(self, w, learning_rate):
        pass

    def project_chunk(self, entries, w, g, optimizer):
        pass

    def project(self, params, optimizer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class CoupledPenalty(Regularizer):
    """Adds ``penalty.grad(w)`` to the weights' gradient (coupled L2, subgradient L1)."""

    def __init__(self, penalty):
        self.penalty = penalty
        self._scratch = None

    def add_gradient(self, w, g):
        if isinstance(self.penalty, L2):  # the common case: g += alpha * w through a chunk-sized scratch
            if self._scratch is None or len(self._scratch) < len(w):
                self._scratch = np.empty(CHUNK, dtype=w.dtype)
            scratch = self._scratch[:len(w)]
            np.multiply(w, self.penalty.alpha, out=scratch)
            g += scratch
        else:
            g += self.penalty.grad(w)


class ProximalL1(Regularizer):
    """Soft-thresholding after each step at ``alpha * optimizer.prox_scale``.

    Under SGD the threshold is ``lr * alpha``; under Adam it is
    ``lr * alpha / (sqrt(v_hat) + eps)`` per weight.
    """

    def __init__(self, alpha):
        self.alpha = float(alpha)

    def project_chunk(self, entries, w, g, optimizer):
        soft_threshold(w, optimizer.prox_scale(entries, self.alpha), out=w, scratch=g)  # g is spent


class CumulativeL1(Regularizer):
    """Tsuruoka et al. (2009) cumulative-penalty clipping (see :class:`CumulativeL1State`)."""

    def __init__(self, alpha):
        self.alpha = float(alpha)
        self.state = None

    def init(self, params):
        self.state = CumulativeL1State(params.n_weights, params.data.dtype)

    def project_chunk(self, entries, w, g, optimizer):
        self.state.apply(w, optimizer.prox_scale(entries, self.alpha), entries)

    def state_dict(self):
        return {"u": self.state.u, "q": self.state.q}

    def load_state_dict(self, state):
        np.copyto(self.state.u, state["u"])
        np.copyto(self.state.q, state["q"])


class DecoupledWeightDecay(Regularizer):
    """``w <- w - lr * weight_decay * w``, before the optimizer's update is subtracted."""

    def __init__(self, weight_decay):
        self.weight_decay = float(weight_decay)

    def decay(self, w, learning_rate):
        w *= 1.0 - learning_rate * self.weight_decay


def max_norm_project(W, max_norm):
    """Rescale every column of ``W`` (a unit's incoming weights) to L2 norm ``<= max_norm``, in place."""
    norms = np.sqrt(np.einsum("ij,ij->j", W, W))
    too_big = norms > max_norm
    if too_big.any():
        W[:, too_big] *= (max_norm / norms[too_big]).astype(W.dtype)
    return W


class MaxNorm(Regularizer):
    """Max-norm constraint (Srivastava et al. 2014) on the given layers, projected after each step."""

    def __init__(self, max_norm, layers):
        self.max_norm = float(max_norm)
        self.layers = list(layers)

    def project(self, params, optimizer):
        for k in self.layers:
            max_norm_project(params.coefs[k], self.max_norm)


def build_regularizers(*, penalty, alpha, l1_ratio, l1_method, weight_decay, max_norm, max_norm_layers):
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
            pieces.append(CoupledPenalty(penalty_obj))
        else:
            if ratio < 1.0:
                pieces.append(CoupledPenalty(L2(alpha * (1.0 - ratio))))
            pieces.append((ProximalL1 if l1_method == "proximal" else CumulativeL1)(alpha * ratio))
    if weight_decay:
        pieces.append(DecoupledWeightDecay(weight_decay))
    if max_norm is not None:
        pieces.append(MaxNorm(max_norm, max_norm_layers))
    return pieces, penalty_obj


# -------------------------------------------------------------------- updater


class Updater:
    """Runs one optimization step over a :class:`~shrinkage.parameters.Parameters` buffer.

    The buffer is walked in cache-sized chunks; on each chunk of weights the
    hooks run in the chain's order (coupled gradient, decay, optimizer,
    proximal step), so each chunk is read from memory once per step. Biases
    only get the optimizer. Whole-matrix projections (max-norm) follow.
    """

    HOOKS = ("add_gradient", "decay", "project_chunk", "project")

    def __init__(self, optimizer, regularizers=()):
        self.optimizer = optimizer
        self.regularizers = list(regularizers)
        self._hooks = {}

    def init(self, params):
        self.optimizer.init(params.data)
        for reg in self.regularizers:
            reg.init(params)
        # Per hook, only the regularizers that override it: no empty calls per chunk.
        for hook in self.HOOKS:
            self._hooks[hook] = [getattr(reg, hook) for reg in self.regularizers
                                 if getattr(type(reg), hook) is not getattr(Regularizer, hook)]
        n, n_weights = len(params.data), params.n_weights
        self._chunks = [slice(a, min(a + CHUNK, n_weights)) for a in range(0, n_weights, CHUNK)]
        self._bias_chunks = [slice(a, min(a + CHUNK, n)) for a in range(n_weights, n, CHUNK)]

    def step(self, params):
        opt, data, grad = self.optimizer, params.data, params.grad
        lr = opt.learning_rate
        add_gradient, decay, project_chunk = (self._hooks[h] for h in self.HOOKS[:3])
        opt.begin_step()
        for c in self._chunks:
            w, g = data[c], grad[c]
            for hook in add_gradient:
                hook(w, g)
            for hook in decay:
                hook(w, lr)
            opt.apply(c, w, g)
            for hook in project_chunk:
                hook(c, w, g, opt)
        for c in self._bias_chunks:
            opt.apply(c, data[c], grad[c])
        for hook in self._hooks["project"]:
            hook(params, opt)

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(),
                "regularizers": [reg.state_dict() for reg in self.regularizers]}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        for reg, reg_state in zip(self.regularizers, state["regularizers"]):
            reg.load_state_dict(reg_state)
