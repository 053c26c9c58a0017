"""A regression guard on the training step's temporaries (not timed: speed lives in benchmarks/).

Each line of shrinkage's code that runs during a step is watched with
tracemalloc: the rise of the traced peak over the line, divided by the size of
one batch's activations, counts the activation-sized arrays that line made,
even those freed before the line ends. A change that quietly adds copies to the
step raises the count and fails here.
"""

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import shrinkage
from shrinkage import MLPClassifier
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
