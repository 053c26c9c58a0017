"""A network's parameters in one flat buffer, with per-layer views.

All weights come first, then all biases, so that "every weight" is one
contiguous slice: penalties, decay and the proximal step are one vectorized
operation each, whatever the number of layers, and biases are kept out by the
slice rather than by flags. Gradients live in a second buffer with the same
layout. ``coefs[k]`` / ``intercepts[k]`` are views of shape ``(n_in, n_out)``
and ``(n_out,)``; the estimators expose them as ``coefs_`` / ``intercepts_``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Parameters", "zero_fraction", "prunable_fraction"]


def zero_fraction(coefs):
    """The fraction of the weights in ``coefs`` (a list of weight matrices, biases apart) that are exactly 0."""
    return float(sum(np.count_nonzero(W == 0) for W in coefs) / max(sum(W.size for W in coefs), 1))


def prunable_fraction(coefs):
    """The fraction of the hidden units of a network with weight matrices ``coefs`` that could be removed:
    those left with no nonzero incoming weight (a constant output, which the next layer's biases can take)
    or no nonzero outgoing weight (an output nothing reads). None without hidden units."""
    hidden = [np.all(W_in == 0, axis=0) | np.all(W_out == 0, axis=1) for W_in, W_out in zip(coefs[:-1], coefs[1:])]
    return float(np.concatenate(hidden).mean()) if hidden else None


class Parameters:
    def __init__(self, layer_shapes, dtype=np.float32):
        self.layer_shapes = [tuple(s) for s in layer_shapes]
        sizes_w = [a * b for a, b in self.layer_shapes]
        sizes_b = [b for _, b in self.layer_shapes]
        self.n_weights = sum(sizes_w)
        self.data = np.zeros(self.n_weights + sum(sizes_b), dtype=dtype)
        self.grad = np.zeros_like(self.data)
        self.coefs, self.intercepts = self._views(self.data, sizes_w, sizes_b)
        self.coef_grads, self.intercept_grads = self._views(self.grad, sizes_w, sizes_b)
        self.weights = self.data[:self.n_weights]  # every weight, no bias: one flat view
        self.weight_grads = self.grad[:self.n_weights]

    def _views(self, flat, sizes_w, sizes_b):
        coefs, intercepts = [], []
        offset = 0
        for (shape, n) in zip(self.layer_shapes, sizes_w):
            coefs.append(flat[offset:offset + n].reshape(shape))
            offset += n
        for n in sizes_b:
            intercepts.append(flat[offset:offset + n])
            offset += n
        return coefs, intercepts

    @classmethod
    def from_arrays(cls, coefs, intercepts, dtype=np.float32):
        """A new buffer holding copies of ``coefs`` / ``intercepts`` (cast to ``dtype``)."""
        if len(coefs) != len(intercepts):
            raise ValueError(f"need as many intercepts as coefs; got {len(coefs)} and {len(intercepts)}")
        shapes = [np.shape(W) for W in coefs]
        for k, (shape, b) in enumerate(zip(shapes, intercepts)):
            if len(shape) != 2 or np.shape(b) != (shape[1],):
                raise ValueError(f"layer {k}: expected coefs of shape (n_in, n_out) and intercepts (n_out,); "
                                 f"got {shape} and {np.shape(b)}")
        params = cls(shapes, dtype)
        for dst, src in zip(params.coefs + params.intercepts, list(coefs) + list(intercepts)):
            np.copyto(dst, src, casting="unsafe")
        return params

    def layer(self, k):
        """``(W, b, dW, db)`` of layer ``k``: the arguments of :class:`~shrinkage.layers.Dense`."""
        return self.coefs[k], self.intercepts[k], self.coef_grads[k], self.intercept_grads[k]

    def owns(self, coefs, intercepts):
        """Whether these lists are exactly this buffer's views (so no copy is needed)."""
        return len(coefs) == len(self.coefs) and all(
            a is b for a, b in zip(list(coefs) + list(intercepts), self.coefs + self.intercepts))
