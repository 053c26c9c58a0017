"""Optimizers and the regularization steps that plug into them.

One training step is a fixed chain of named points (DESIGN.md, "How data
flows"), applied to a :class:`~shrinkage.parameters.Parameters` buffer::

    grad += coupled penalty gradients           Regularizer.add_gradient
    w     = w - lr * weight_decay * w           Regularizer.decay
    w    -= optimizer update(grad + l2 * w)     SGD / momentum / Nesterov / Adam
    w     = prox / clip / projection of w       Regularizer.project

Coupled L2 (:class:`CoupledL2`) and proximal L1 (:class:`ProximalL1`) are
handed to the optimizer as ``l2`` and ``l1``, which does them inside its own
passes: ``l2 * w`` goes into the velocity once the gradient is spent (or
chunk by chunk into Adam's gradient), and the soft-thresholding is the last
part of the step, in the optimizer's metric, with what it moved folded into
SGD's momentum (:meth:`SGD.carry`), so that ``alpha`` means the same objective
under every optimizer.

The update depends on the gradient alone (coupled terms are in it already), so
shrinking ``w`` before subtracting it gives exactly
``w_new = w - lr * weight_decay * w - update`` with both terms taken from the
weights before the step: decoupled weight decay (AdamW, Loshchilov & Hutter
2019). Coupled L2 instead passes through the optimizer's moments.
Regularizers act on ``params.weights`` (every weight, one contiguous slice),
never on the biases; max-norm acts on the hidden layers' weight matrices.
Every operation is in place on whole buffers, with the spent gradient (or a
small cache-sized scratch, :func:`axpy`) as scratch, so a step costs a fixed
number of passes over the parameters, whatever the number of layers, and no
temporary array the size of the parameters.
"""

from __future__ import annotations

import math

import numpy as np

from .penalties import L1, L2, CumulativeL1State, ElasticNet, soft_threshold

__all__ = [
    "SGD",
    "Adam",
    "Updater",
    "Regularizer",
    "CoupledPenalty",
    "CoupledL2",
    "ProximalL1",
    "CumulativeL1",
    "DecoupledWeightDecay",
    "MaxNorm",
    "max_norm_project",
    "build_regularizers",
    "axpy",
]


CHUNK = 1 << 16  # elements per chunk of a chunked update (256 KiB of float32)


def axpy(a, x, y, scratch):
    """``y += a * x`` in place for flat arrays, chunk by chunk through ``scratch`` (no full-size temporary).

    NumPy's own BLAS is not used for this: SciPy's ``saxpy`` comes with a second
    OpenBLAS whose idle threads slow NumPy's matrix products down several-fold.
    """
    step = len(scratch)
    for start in range(0, len(x), step):
        stop = min(start + step, len(x))
        buf = scratch[:stop - start]
        np.multiply(x[start:stop], a, out=buf)
        y[start:stop] += buf
    return y


# ---------------------------------------------------------------- optimizers


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    PyTorch's convention: ``v = momentum * v + g``; the update is ``lr * v``,
    or ``lr * (g + momentum * v)`` with Nesterov. Without momentum the
    update is ``lr * g``.

    The state kept is ``-lr * v`` (``update``), and the training loop hands in
    the gradient already multiplied by ``gradient_scale = -lr`` (it scales the
    loss gradient, a few hundred numbers, before backpropagation): the
    momentum step is then ``u = momentum * u + G; w += u``, one pass over the
    parameters fewer than with ``v``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.update = self._scratch = None

    @property
    def gradient_scale(self):
        return -self.learning_rate

    def init(self, data):
        self.update = np.zeros_like(data) if self.momentum else None
        self._scratch = np.empty_like(data, shape=min(len(data), CHUNK)) if self.nesterov else None

    def apply(self, data, grad, l2=0.0, n_weights=0, l1=0.0, grad_scale=1.0):
        """Take one step on ``data`` in place; ``grad`` holds ``grad_scale`` times the gradient and is
        used as scratch.

        ``l2``: a coupled L2 penalty on ``data[:n_weights]``, as if ``l2 * w`` were in the gradient.
        ``l1``: a proximal L1 step on ``data[:n_weights]`` after the update (threshold ``lr * l1``),
        folded into the momentum (:meth:`carry`).
        """
        lr, w = self.learning_rate, data[:n_weights]
        if grad_scale != -lr:
            grad *= -lr / grad_scale
        step = grad  # -lr * (g + l2 w) below, or the momentum update
        if l2 and not self.momentum:  # w - lr (g + l2 w) = (1 - lr l2) w - lr g
            w *= 1.0 - lr * l2
            l2 = 0.0
        elif l2 and self.nesterov:  # Nesterov uses the whole gradient twice: put l2 w into it
            axpy(-lr * l2, w, grad[:n_weights], self._scratch)
            l2 = 0.0
        if self.momentum:
            u = self.update
            u *= self.momentum
            u += grad
            if l2:  # u = mu u - lr (g + l2 w); the gradient is spent, so it holds -lr l2 w
                np.multiply(w, -lr * l2, out=grad[:n_weights])
                u[:n_weights] += grad[:n_weights]
            if self.nesterov:  # -lr (g + mu v) = -lr g + mu u
                data += grad
                np.multiply(u, self.momentum, out=grad)
            else:
                step = u
        data += step
        if l1:
            clipped = grad[:n_weights]
            soft_threshold(w, lr * l1, out=w, scratch=clipped)
            self.carry(clipped, -1.0)  # the prox moved w by -clipped

    def carry(self, moved, scale=1.0):
        """Fold a proximal step that moved ``data[:len(moved)]`` by ``scale * moved`` into the momentum.

        Heavy ball then keeps ``u = w_new - w_old``, the iterates' whole displacement (iPiano: Ochs,
        Chen, Brox & Pock 2014), Nesterov ``u + moved / momentum``. Either way a fixed point
        minimizes ``loss + alpha * |w|_1`` with the threshold ``lr * alpha``, as without momentum.
        A momentum of the gradient alone would move a weight ``1 / (1 - momentum)`` times the
        gradient step against one threshold per step: the fixed point of
        ``loss + (1 - momentum) * alpha * |w|_1``, an L1 ten times too weak at momentum 0.9.
        """
        if not self.momentum:
            return
        u = self.update[:len(moved)]
        if self.nesterov:
            scale /= self.momentum
        if scale == 1.0:
            u += moved
        elif scale == -1.0:
            u -= moved
        else:
            if self._scratch is None:
                self._scratch = np.empty_like(u, shape=min(len(u), CHUNK))
            axpy(scale, moved, u, self._scratch)

    def prox_scale(self, entries, factor=1.0):
        """``factor`` times the step size of a proximal step on ``data[entries]`` (a slice): one number."""
        return factor * self.learning_rate

    def continue_from(self, old):
        """Take over ``old``'s momentum buffer ``v`` (an SGD on the same parameters, perhaps with another
        learning rate or momentum), as PyTorch does when a parameter group's ``lr`` changes."""
        if self.update is not None and old.update is not None:
            np.multiply(old.update, self.learning_rate / old.learning_rate, out=self.update)  # -lr v, same v

    def state_dict(self):
        return {"update": self.update}

    def load_state_dict(self, state):
        if "velocity" in state:  # written before the state was kept as -lr * v
            state = {"update": None if state["velocity"] is None else -self.learning_rate * state["velocity"]}
        if state["update"] is not None:
            np.copyto(self.update, state["update"])


class Adam:
    """Adam (Kingma & Ba 2015), with bias correction, as PyTorch's ``Adam``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, update
    ``lr * m_hat / (sqrt(v_hat) + eps)``. Its per-weight metric
    ``lr / (sqrt(v_hat) + eps)`` is the step size that proximal L1 uses, so
    that ``alpha`` means the same under Adam as under SGD (ProxGen; Yun,
    Lozano & Yang 2021).

    The moments are kept as ``m / (1 - b1)`` and ``v / (1 - b2)`` (``M = b1 M + g``,
    ``V = b2 V + g^2``), and the denominator divided by the step size, so
    every constant factor is folded into two scalars: 10 passes per chunk.
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m = self.v = self._denom = self._prox = self._scratch = None
        self._denom_scale = self._sqrt_scale = self._eps_scaled = 1.0

    def init(self, data):
        self.t = 0
        self.m, self.v = np.zeros_like(data), np.zeros_like(data)
        size = min(CHUNK, len(data))  # one chunk's denominator and one chunk of scratch
        self._denom, self._scratch = np.empty_like(data, shape=size), np.empty_like(data, shape=size)

    gradient_scale = 1.0  # the gradient as it is

    def apply(self, data, grad, l2=0.0, n_weights=0, l1=0.0, grad_scale=1.0):
        """One Adam step, chunk by chunk so each chunk's passes run in cache; ``grad`` (``grad_scale``
        times the gradient) is used as scratch.

        ``l2``: a coupled L2 penalty on ``data[:n_weights]``, added to the gradient before the moments.
        ``l1``: a proximal L1 step on ``data[:n_weights]`` after the update, in Adam's metric.
        """
        if grad_scale != 1.0:
            grad *= 1.0 / grad_scale
        self.t += 1
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        # The update is a * M / (sqrt(v_hat) + eps) with a = lr (1 - b1) / (1 - b1^t) and
        # v_hat = V (1 - b2) / (1 - b2^t). The denominator is kept divided by a: the update is M / denom.
        self._denom_scale = (1.0 - b1**self.t) / (self.learning_rate * (1.0 - b1))
        # Python floats (math.sqrt, not np.sqrt): a NumPy float64 scalar runs a float32 pass in float64, 5x slower.
        self._sqrt_scale = sqrt_scale = self._denom_scale * math.sqrt((1.0 - b2) / (1.0 - b2**self.t))
        self._eps_scaled = eps_scaled = eps * self._denom_scale
        threshold = l1 * self.learning_rate * self._denom_scale  # the prox threshold in the scaled space
        # Weights and biases in separate runs of chunks: penalties touch only the weights.
        for lo, hi, penalized in ((0, n_weights, True), (n_weights, len(data), False)):
            for start in range(lo, hi, CHUNK):
                c = slice(start, min(start + CHUNK, hi))
                w, g, m, v = data[c], grad[c], self.m[c], self.v[c]
                denom = self._denom[:len(w)]
                if l2 and penalized:  # g += l2 * w; denom is free until below
                    np.multiply(w, l2, out=denom)
                    g += denom
                m *= b1  # M = b1 M + g
                m += g
                g *= g  # V = b2 V + g^2
                v *= b2
                v += g
                np.sqrt(v, out=denom)
                denom *= sqrt_scale
                denom += eps_scaled
                if l1 and penalized:
                    self._update_with_prox(w, g, m, denom, threshold)
                else:
                    np.divide(m, denom, out=g)
                    w -= g

    def _update_with_prox(self, w, g, m, denom, threshold):
        """``w = soft(w - m / denom, threshold / denom)``, computed as ``soft(w denom - m, threshold) / denom``
        (the same up to rounding; exact zeros stay exact): one scalar threshold instead of a per-weight
        one saves three passes."""
        np.multiply(w, denom, out=g)
        g -= m
        soft_threshold(g, threshold, out=g, scratch=self._scratch[:len(w)])
        np.divide(g, denom, out=w)

    def carry(self, moved, scale=1.0):
        """Adam's moments hold gradients alone, whose fixed point is already the penalized optimum."""

    def prox_scale(self, entries, factor=1.0):
        """``factor * lr / (sqrt(v_hat) + eps)`` of the last step on ``data[entries]`` (a slice), derived
        from ``v``: a view of a buffer that the next call overwrites (made at the first call, so Adam
        without cumulative L1 does not pay for it)."""
        v = self.v[entries]
        if self._prox is None or len(self._prox) < len(v):
            self._prox = np.empty_like(v)
        denom = np.sqrt(v, out=self._prox[:len(v)])  # the step's denominator, as apply builds it
        denom *= self._sqrt_scale
        denom += self._eps_scaled
        return np.divide(factor * self.learning_rate * self._denom_scale, denom, out=denom)

    def continue_from(self, old):
        """Take over ``old``'s step count and moments (an Adam on the same parameters, perhaps with other
        settings), as PyTorch does when a parameter group's settings change: the moments ``m`` and ``v``
        stay as they are; new betas apply from the next step on."""
        self.t = old.t
        np.multiply(old.m, (1.0 - old.beta_1) / (1.0 - self.beta_1), out=self.m)
        np.multiply(old.v, (1.0 - old.beta_2) / (1.0 - self.beta_2), out=self.v)

    def state_dict(self):
        return {"t": self.t, "m_sum": self.m, "v_sum": self.v}  # m / (1 - b1) and v / (1 - b2)

    def load_state_dict(self, state):
        self.t = int(state["t"])
        if "m" in state:  # written before the moments were kept scaled
            state = {"m_sum": state["m"] / (1.0 - self.beta_1), "v_sum": state["v"] / (1.0 - self.beta_2)}
        np.copyto(self.m, state["m_sum"])
        np.copyto(self.v, state["v_sum"])


# --------------------------------------------------------------- regularizers


class Regularizer:
    """A piece of the update chain; subclasses override the hooks they need.

    ``step_l2`` / ``step_l1``: a coupled L2 / proximal L1 coefficient that the
    optimizer applies inside its own step (``apply(..., l2=, l1=)``) instead of a hook.
    """

    step_l2 = 0.0
    step_l1 = 0.0

    def init(self, params):
        pass

    def add_gradient(self, params, grad_scale=1.0):
        """Add this piece's gradient, times ``grad_scale`` (the scale of ``params.grad``)."""

    def decay(self, params, learning_rate):
        pass

    def project(self, params, optimizer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class CoupledPenalty(Regularizer):
    """Adds ``penalty.grad(w)`` to the weights' gradient (subgradient L1 and elastic net)."""

    def __init__(self, penalty):
        self.penalty = penalty

    def add_gradient(self, params, grad_scale=1.0):
        params.weight_grads += grad_scale * self.penalty.grad(params.weights)


class CoupledL2(Regularizer):
    """Coupled L2, ``alpha / 2 * ||w||^2`` in the loss: the optimizer adds ``alpha * w`` to the gradient
    itself (``apply(..., l2=alpha)``), so this piece has no hook of its own."""

    def __init__(self, alpha):
        self.alpha = self.step_l2 = float(alpha)


class ProximalL1(Regularizer):
    """Soft-thresholding after each step, in the optimizer's metric: the optimizer does it as the
    last part of its own pass (``apply(..., l1=alpha)``), so this piece has no hook of its own.

    Under SGD the threshold is ``lr * alpha``, and with momentum the prox's
    displacement joins the velocity (:meth:`SGD.carry`); under Adam it is
    ``lr * alpha / (sqrt(v_hat) + eps)`` per weight. Either way a fixed point
    minimizes ``loss + alpha * |w|_1``.
    """

    def __init__(self, alpha):
        self.alpha = self.step_l1 = float(alpha)


class CumulativeL1(Regularizer):
    """Tsuruoka et al. (2009) cumulative-penalty clipping (see :class:`CumulativeL1State`); what the
    clipping moved joins SGD's momentum, as for the proximal step."""

    def __init__(self, alpha):
        self.alpha = float(alpha)
        self.state = None

    def init(self, params):
        self.state = CumulativeL1State(params.n_weights, params.data.dtype)

    def project(self, params, optimizer):
        moved = self.state.clip(params.weights, optimizer.prox_scale(slice(0, params.n_weights), self.alpha))
        optimizer.carry(moved)

    def state_dict(self):
        return {"u": self.state.u, "q": self.state.q}

    def load_state_dict(self, state):
        np.copyto(self.state.u, state["u"])
        np.copyto(self.state.q, state["q"])


class DecoupledWeightDecay(Regularizer):
    """``w <- w - lr * weight_decay * w``, before the optimizer's update is subtracted."""

    def __init__(self, weight_decay):
        self.weight_decay = float(weight_decay)

    def decay(self, params, learning_rate):
        params.weights *= 1.0 - learning_rate * self.weight_decay


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
        if ratio == 0.0:
            pieces.append(CoupledL2(alpha))
        elif l1_method == "subgradient":
            pieces.append(CoupledPenalty(penalty_obj))
        else:
            if ratio < 1.0:
                pieces.append(CoupledL2(alpha * (1.0 - ratio)))
            pieces.append((ProximalL1 if l1_method == "proximal" else CumulativeL1)(alpha * ratio))
    if weight_decay:
        pieces.append(DecoupledWeightDecay(weight_decay))
    if max_norm is not None:
        pieces.append(MaxNorm(max_norm, max_norm_layers))
    return pieces, penalty_obj


# -------------------------------------------------------------------- updater


class Updater:
    """Runs one optimization step over a :class:`~shrinkage.parameters.Parameters` buffer."""

    def __init__(self, optimizer, regularizers=()):
        self.optimizer = optimizer
        self.regularizers = list(regularizers)
        self._hooks = {}
        self._l2 = self._l1 = 0.0

    def init(self, params):
        self.optimizer.init(params.data)
        for reg in self.regularizers:
            reg.init(params)
        self._l2 = sum(reg.step_l2 for reg in self.regularizers)
        self._l1 = sum(reg.step_l1 for reg in self.regularizers)
        # Per hook, only the regularizers that override it: no empty calls per step.
        for hook in ("add_gradient", "decay", "project"):
            self._hooks[hook] = [getattr(reg, hook) for reg in self.regularizers
                                 if getattr(type(reg), hook) is not getattr(Regularizer, hook)]

    @property
    def gradient_scale(self):
        """The factor the optimizer wants the gradient in (``-lr`` for SGD, 1 for Adam): the training
        loop multiplies the loss gradient by it before backpropagation, and passes it to :meth:`step`."""
        return self.optimizer.gradient_scale

    def step(self, params, grad_scale=1.0):
        """One step; ``params.grad`` holds ``grad_scale`` times the gradient of the data loss."""
        for add_gradient in self._hooks["add_gradient"]:
            add_gradient(params, grad_scale)
        for decay in self._hooks["decay"]:
            decay(params, self.optimizer.learning_rate)
        self.optimizer.apply(params.data, params.grad, self._l2, params.n_weights, self._l1, grad_scale)
        for project in self._hooks["project"]:
            project(params, self.optimizer)

    def continue_from(self, old):
        """After :meth:`init`, carry over the state of ``old``, an updater of the same parameters built
        from other settings (``partial_fit`` after ``set_params``): the optimizer's when it is of the
        same kind, and each stateful regularizer's from one of the same kind. The rest starts afresh."""
        if type(self.optimizer) is type(old.optimizer):
            self.optimizer.continue_from(old.optimizer)
        previous = {type(reg): reg for reg in old.regularizers}
        for reg in self.regularizers:
            if type(reg) in previous:
                reg.load_state_dict(previous[type(reg)].state_dict())

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(),
                "regularizers": [reg.state_dict() for reg in self.regularizers]}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        for reg, reg_state in zip(self.regularizers, state["regularizers"]):
            reg.load_state_dict(reg_state)
