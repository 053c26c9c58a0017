"""Layers with explicit forward and backward passes.

Every layer has ``forward(x, training, rng)`` and ``backward(grad_out)``;
``backward`` returns the gradient with respect to the layer's input and stores
the gradients of its parameters in ``grads`` (same order as ``params``).
Layers keep what ``backward`` needs only when ``training`` is true, so
prediction leaves no state behind.

All randomness (dropout masks) comes from the ``numpy.random.Generator`` passed
to ``forward``.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

__all__ = [
    "Dense",
    "Activation",
    "ReLU",
    "Tanh",
    "Logistic",
    "Identity",
    "ACTIVATIONS",
    "Dropout",
    "keep_mask",
    "Sequential",
    "glorot_uniform",
]


def glorot_uniform(n_in, n_out, rng, dtype=np.float32, gain=1.0, out=None):
    """Glorot & Bengio (2010) uniform initialisation, ``U(-b, b)``, ``b = gain * sqrt(6 / (n_in + n_out))``.

    Drawn directly in ``dtype`` (into ``out`` when given), without a float64 temporary.
    """
    bound = gain * math.sqrt(6.0 / (n_in + n_out))  # a Python float: float32 arithmetic below
    W = rng.random((n_in, n_out), dtype=np.dtype(dtype).type, out=out)
    W *= 2 * bound
    W -= bound
    return W


class Layer:
    """Base class: a layer without parameters."""

    params: list = []
    grads: list = []

    def forward(self, x, training=False, rng=None):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError


class Dense(Layer):
    """Affine layer ``y = x @ W + b`` with ``W`` of shape ``(n_in, n_out)``.

    ``W`` and ``b`` are held by reference: the estimator's ``coefs_`` and
    ``intercepts_`` are the very arrays that training updates. ``x`` may be a
    SciPy sparse matrix (a first layer on sparse data); the output is dense.
    """

    def __init__(self, W, b, dW=None, db=None, input_grad=True):
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(
                f"Dense expects W of shape (n_in, n_out) and b of shape (n_out,); "
                f"got W {W.shape} and b {b.shape}"
            )
        self.W = W
        self.b = b
        self.input_grad = input_grad  # the first layer need not return dL/dx
        self.params = [W, b]
        # Gradients go to dW/db when given (views of a Parameters buffer), else to arrays of its own,
        # made at the first backward pass (an inference-only layer never makes them).
        self.grads = [dW, db]
        self._x = None

    def forward(self, x, training=False, rng=None):
        if training:
            self._x = x
        out = x @ self.W
        out += self.b
        return out

    def backward(self, grad_out):
        if self.grads[0] is None:
            self.grads = [np.zeros_like(self.W), np.zeros_like(self.b)]
        if sp.issparse(self._x):
            self.grads[0][...] = self._x.T @ grad_out  # SciPy has no out=
        else:
            np.matmul(self._x.T, grad_out, out=self.grads[0])
        np.add.reduce(grad_out, axis=0, out=self.grads[1])
        self._x = None
        if not self.input_grad:
            return None
        return grad_out @ self.W.T


class Activation(Layer):
    """Element-wise activation; subclasses define ``f`` and ``df_from_output``.

    ``sign_only_backward``: the backward pass reads nothing but whether the
    stored output is positive, so a dropout may overwrite that output in place
    (see :class:`Dropout`'s ``after_relu``).
    """

    name = ""
    sign_only_backward = False

    def __init__(self):
        self._out = None

    def forward(self, x, training=False, rng=None):
        out = self.f(x)
        if training:
            self._out = out
        return out

    def backward(self, grad_out):
        grad = self.df_from_output(self._out, grad_out)
        self._out = None
        return grad

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Activation):
    name = "relu"
    sign_only_backward = True

    def __init__(self):
        super().__init__()
        self._zeros = np.zeros(0)

    def f(self, x):
        # max(x, 0) against a row of zeros: NumPy's maximum with a scalar is 3x slower, clip 1.4x
        if self._zeros.shape != x.shape[-1:] or self._zeros.dtype != x.dtype:
            self._zeros = np.zeros(x.shape[-1:], x.dtype)
        return np.maximum(x, self._zeros, out=x)

    @staticmethod
    def df_from_output(out, grad_out):
        return np.multiply(grad_out, out > 0, out=grad_out)


class Tanh(Activation):
    name = "tanh"

    @staticmethod
    def f(x):
        return np.tanh(x, out=x)

    @staticmethod
    def df_from_output(out, grad_out):
        return grad_out * (1 - out * out)


class Logistic(Activation):
    name = "logistic"

    @staticmethod
    def f(x):
        # Stable in both tails: 1 / (1 + exp(-x)) written through tanh.
        x *= 0.5
        np.tanh(x, out=x)
        x += 1
        x *= 0.5
        return x

    @staticmethod
    def df_from_output(out, grad_out):
        return grad_out * (out * (1 - out))


class Identity(Activation):
    name = "identity"

    @staticmethod
    def f(x):
        return x

    @staticmethod
    def df_from_output(out, grad_out):
        return grad_out


ACTIVATIONS = {cls.name: cls for cls in (ReLU, Tanh, Logistic, Identity)}


def _random_bytes(n, rng):
    """``n`` random bytes as uint8, taken from the raw 64-bit output of ``rng``'s bit generator
    (several times faster than ``Generator.bytes``)."""
    return rng.bit_generator.random_raw((n + 7) // 8).view(np.uint8)[:n]


def keep_mask(shape, p, rng):
    """A boolean mask with ``P(False) = p``: which units dropout keeps.

    Drawn from the fewest random bits that resolve ``p``: one bit per unit
    for ``p = 0.5``; one byte compared with a threshold when ``p`` is a multiple
    of 1/256 (exact); otherwise two bytes, which resolve ``p`` to 1/65536
    (the drop probability is ``round(p * 65536) / 65536``, within 7.7e-6 of ``p``).
    """
    n = math.prod(shape)
    if p == 0.5:
        return np.unpackbits(_random_bytes((n + 7) // 8, rng), count=n).view(bool).reshape(shape)
    if float(p * 256).is_integer():
        return (_random_bytes(n, rng) >= int(p * 256)).reshape(shape)
    threshold = int(round(p * 65536))
    return (_random_bytes(2 * n, rng).view(np.uint16) >= threshold).reshape(shape)


class Dropout(Layer):
    """Dropout with drop probability ``p``; the keep mask is ``m ~ Bernoulli(1 - p)``.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of **dropping** a unit. ``p = 0`` is the identity.
    mode : {"inverted", "classic"}
        ``"inverted"`` (default): training output ``x * m / (1 - p)``,
        inference output ``x``. ``"classic"`` (Srivastava et al. 2014):
        training output ``x * m``, inference output ``x * (1 - p)``. Both have
        the same expectation.

    Notes
    -----
    ``forward(x, training=True, rng)`` draws a fresh mask from ``rng`` (see
    :func:`keep_mask` for how finely ``p`` is resolved). With ``inplace=True``
    training overwrites ``x`` (the networks here pass a fresh activation or a
    batch buffer, so they save a copy). Only an activation whose backward pass
    depends on nothing but the sign of its output (ReLU) may be overwritten so:
    the mask keeps that sign on kept units, but would change ``1 - tanh^2``.
    ``after_relu=True`` says that ``x`` is such a ReLU's stored output,
    overwritten in place: the ReLU's backward then passes gradient only where
    the dropped-out output is positive, so it zeroes the dropped units itself
    and this layer's backward only scales (and keeps no mask).
    ``forward(x, training=False, rng, sample=True)`` keeps dropout on at
    prediction time (Monte Carlo dropout), without storing anything. A fixed
    boolean keep mask can be given with ``mask=`` (the gradient checks use it).
    A SciPy sparse ``x`` (input dropout on sparse data) stays sparse: only its
    stored entries draw a mask, since a zero is zero whether dropped or not.
    """

    def __init__(self, p=0.5, mode="inverted", inplace=False, after_relu=False):
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be a float in [0, 1); got {p!r}")
        if mode not in ("inverted", "classic"):
            raise ValueError(f"dropout mode must be 'inverted' or 'classic'; got {mode!r}")
        if after_relu and not inplace:
            raise ValueError("Dropout(after_relu=True) needs inplace=True: the ReLU must see the dropped units")
        self.p = p
        self.mode = mode
        self.scale = 1.0 / (1.0 - p) if mode == "inverted" else 1.0
        self.inplace = inplace
        self.after_relu = after_relu
        self._keep = None

    def forward(self, x, training=False, rng=None, sample=False, mask=None):
        if self.p == 0.0:
            return x
        if sp.issparse(x):
            return self._forward_sparse(x, training, rng, sample, mask)
        if training or sample or mask is not None:
            keep = keep_mask(x.shape, self.p, rng) if mask is None else mask
            if training and not self.after_relu:
                self._keep = keep
            out = np.multiply(x, keep, out=x if training and self.inplace else None)
            if self.scale != 1.0:
                out *= out.dtype.type(self.scale)
            return out
        if self.mode == "classic":
            return x * x.dtype.type(1.0 - self.p)
        return x

    def _forward_sparse(self, x, training, rng, sample, mask):
        """Input dropout on a sparse batch (CSR): a zero stays zero whether dropped or not, so only the
        stored entries draw a mask, and the batch stays sparse. No backward pass follows (the first
        layer computes no gradient for its input), so no mask is kept."""
        if not (training or sample or mask is not None):
            return x * x.dtype.type(1.0 - self.p) if self.mode == "classic" else x
        x = x.tocsr()  # itself if it is CSR already, as the estimators' batches are
        out = x if training and self.inplace else x.copy()  # a training batch is a fresh matrix
        if mask is None:
            keep = keep_mask(out.data.shape, self.p, rng)
        else:  # a dense mask of the batch's shape, read at the stored entries
            keep = np.asarray(mask)[np.repeat(np.arange(out.shape[0]), np.diff(out.indptr)), out.indices]
        np.multiply(out.data, keep, out=out.data)
        if self.scale != 1.0:
            out.data *= out.dtype.type(self.scale)
        return out

    def backward(self, grad_out):
        if self.p == 0.0:
            return grad_out
        if not self.after_relu:
            np.multiply(grad_out, self._keep, out=grad_out)
            self._keep = None
        if self.scale != 1.0:
            grad_out *= grad_out.dtype.type(self.scale)
        return grad_out

    def __repr__(self):
        return f"Dropout(p={self.p!r}, mode={self.mode!r})"


class Sequential(Layer):
    """A stack of layers applied in order; backward runs them in reverse."""

    def __init__(self, layers):
        self.layers = list(layers)

    @property
    def params(self):
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self):
        return [g for layer in self.layers for g in layer.grads]

    @property
    def dense_layers(self):
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    def forward(self, x, training=False, rng=None, sample=False):
        for layer in self.layers:
            if isinstance(layer, Dropout):
                x = layer.forward(x, training=training, rng=rng, sample=sample)
            else:
                x = layer.forward(x, training=training, rng=rng)
        return x

    def backward(self, grad_out):
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
            if grad_out is None:
                break
        return grad_out

    def __repr__(self):
        inner = ", ".join(f"Dense{layer.W.shape}" if isinstance(layer, Dense) else repr(layer)
                          for layer in self.layers)
        return f"Sequential([{inner}])"
