"""A regression guard on the training step's temporaries (not timed: speed lives in benchmarks/).

Each line of shrinkage's code that runs during a step is watched with
tracemalloc: the rise of the traced peak over the line, divided by the size of
one batch's activations, counts the activation-sized arrays that line made,
even those freed before the line ends. A change that quietly adds copies to the
step raises the count and fails here.

A second guard watches every NumPy operation on the parameters and what flows
from them for a float32 operand meeting another floating dtype, which makes the
operation run in float64.
"""

import sys
import traceback
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone

import shrinkage
from shrinkage import LinearClassifier, MLPClassifier, MLPRegressor
from shrinkage.losses import SoftmaxCrossEntropy

PACKAGE = str(Path(shrinkage.__file__).parent)


def count_temporaries(fn, unit_bytes):
    counts = {}
    state = {"last": 0}

    def local(frame, event, arg):
        if event in ("line", "return"):
            current, peak = tracemalloc.get_traced_memory()
            made = (peak - state["last"]) // unit_bytes
            if made:
                key = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
                counts[key] = counts.get(key, 0) + made
            tracemalloc.reset_peak()
            state["last"] = tracemalloc.get_traced_memory()[0]
        return local

    def global_tracer(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    tracemalloc.start()
    state["last"] = tracemalloc.get_traced_memory()[0]
    sys.settrace(global_tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
        tracemalloc.stop()
    return counts


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_step_makes_a_bounded_number_of_activation_sized_temporaries(optimizer):
    rng = np.random.default_rng(0)
    batch, width = 128, 512
    X = rng.standard_normal((1024, 784), dtype=np.float32)
    y = rng.integers(0, 10, 1024)
    clf = MLPClassifier(hidden_layer_sizes=(width, width), optimizer=optimizer, momentum=0.9, penalty="l2",
                        alpha=1e-4, dropout=0.5, batch_size=batch, max_epochs=1, random_state=0).fit(X, y)
    params = clf._parameters()
    network, updater, loss = clf._network(params), clf._updater_, SoftmaxCrossEntropy()
    xb, yb = X[:batch].copy(), y[:batch]

    def step():
        out = network.forward(xb, training=True, rng=rng)
        _, grad = loss(out, yb)
        network.backward(grad)
        updater.step(params)

    step()  # warm-up
    counts = count_temporaries(step, unit_bytes=batch * width * 4)
    total = sum(counts.values())
    # Forward: the two hidden Dense outputs; backward: the two dL/dx products. Nothing else.
    assert total <= 4, counts


class Float32Only(np.ndarray):
    """A float32 array that records each NumPy operation where it, or a float32 array made from it, meets a
    floating operand of another dtype or makes a result of another floating dtype: the operation then runs
    in that dtype (a NumPy float64 scalar such as ``np.sqrt(0.5)`` turns an in-place float32 multiply into
    a float64 loop and a cast, 5x slower). Python scalars are not operands of a dtype (NEP 50)."""

    seen = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, Float32Only) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Float32Only) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        watched = any(isinstance(x, Float32Only) and x.dtype == np.float32 for x in inputs)
        results = result if isinstance(result, tuple) else (result,)
        floating = [x.dtype for x in (*plain, *results)
                    if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "fc"]
        if watched and any(d != np.float32 for d in floating):
            Float32Only.seen.append(f"{ufunc.__name__}.{method} at {_innermost_line_of_shrinkage()}")
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(Float32Only) if isinstance(result, np.ndarray) else result


def _innermost_line_of_shrinkage():
    frames = [f for f in traceback.extract_stack() if f.filename.startswith(PACKAGE)]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].line}" if frames else "?"


class _NumPyWithWatchedZeros:
    """``numpy`` as shrinkage.parameters sees it in the test below: its ``zeros`` make the flat parameter
    buffer a Float32Only, and with it the gradient and the state the optimizers make ``like`` it."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def zeros(*args, **kwargs):
        return np.zeros(*args, **kwargs).view(Float32Only)


MLP = dict(hidden_layer_sizes=(16, 16), batch_size=32, max_epochs=3, random_state=0)


@pytest.mark.parametrize("estimator", [
    MLPClassifier(optimizer="sgd", penalty="l2", dropout=0.5, input_dropout=0.2, max_norm=2.0, **MLP),
    MLPClassifier(optimizer="sgd", nesterov=True, penalty="elasticnet", l1_ratio=0.5, weight_decay=1e-3, **MLP),
    MLPClassifier(optimizer="sgd", momentum=0.0, penalty="l1", l1_method="cumulative", dropout=0.3,
                  dropout_mode="classic", **MLP),
    MLPClassifier(optimizer="adam", penalty="elasticnet", l1_ratio=0.5, weight_decay=1e-3, dropout=0.5, **MLP),
    MLPClassifier(optimizer="adam", penalty="l1", l1_method="cumulative", activation="logistic", early_stopping=True,
                  **MLP),
    MLPRegressor(activation="tanh", dropout=0.2, early_stopping=True, **MLP),
    LinearClassifier(loss="hinge", penalty="l1", class_weight="balanced", max_epochs=3, random_state=0),
], ids=["sgd-l2-dropout-maxnorm", "nesterov-elasticnet-decay", "sgd-cumulative-classic", "adam-elasticnet-decay",
        "adam-cumulative-logistic-early", "regressor-tanh", "linear-hinge"])
@pytest.mark.parametrize("data", ["dense", "sparse-weighted"])
def test_a_float32_fit_computes_in_float32_throughout(estimator, data, monkeypatch):
    """Initialisation, training steps, validation and prediction: every operation on the parameters and
    what flows from them stays in float32 (DESIGN.md: float32 by default everywhere)."""
    import shrinkage.parameters

    monkeypatch.setattr(shrinkage.parameters, "np", _NumPyWithWatchedZeros())
    estimator = clone(estimator)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 20), dtype=np.float32)
    y = rng.integers(0, 3, 300).astype(np.float32 if isinstance(estimator, MLPRegressor) else int)
    weight = None
    if data == "sparse-weighted":
        X, weight = scipy.sparse.csr_matrix(np.where(X > 0.5, X, 0)), rng.random(300).astype(np.float32)
    Float32Only.seen = []
    estimator.fit(X, y, sample_weight=weight).score(X, y)
    assert isinstance(estimator._parameters_.data, Float32Only)  # the watch was on
    assert sorted(set(Float32Only.seen)) == []
