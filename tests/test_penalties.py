import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import minimize_scalar

from shrinkage.penalties import L1, L2, CumulativeL1State, ElasticNet, soft_threshold

from conftest import numerical_grad, relative_error

rng = np.random.default_rng(0)
finite = st.floats(-10, 10, allow_nan=False, width=64)


def away_from_zero(shape):
    w = rng.uniform(0.1, 2.0, size=shape)
    return w * rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("penalty", [L1(0.3), L2(0.7), ElasticNet(0.5, 0.3), ElasticNet(0.2, 1.0)])
def test_gradient_matches_finite_differences(penalty):
    w = away_from_zero((5, 4))
    numeric = numerical_grad(lambda: penalty.value(w), w)
    assert relative_error(penalty.grad(w), numeric) < 1e-6


def test_conventions_values_and_gradients():
    w = np.array([[-2.0, 0.0], [3.0, 0.5]])
    assert L2(0.1).value(w) == pytest.approx(0.1 / 2 * (4 + 9 + 0.25))
    np.testing.assert_allclose(L2(0.1).grad(w), 0.1 * w)
    assert L1(0.1).value(w) == pytest.approx(0.1 * 5.5)
    np.testing.assert_array_equal(L1(0.1).grad(w), 0.1 * np.array([[-1.0, 0.0], [1.0, 1.0]]))  # sign(0) = 0
    enet = ElasticNet(0.1, 0.25)
    assert enet.value(w) == pytest.approx(0.1 * (0.25 * 5.5 + 0.75 / 2 * 13.25))


@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
def test_elastic_net_endpoints_equal_l1_and_l2(alpha):
    w = rng.normal(size=(6, 3))
    for cls, ratio in ((L1, 1.0), (L2, 0.0)):
        enet, pure = ElasticNet(alpha, ratio), cls(alpha)
        assert enet.value(w) == pytest.approx(pure.value(w))
        np.testing.assert_allclose(enet.grad(w), pure.grad(w))
        np.testing.assert_allclose(enet.prox(w, 0.3), pure.prox(w, 0.3))


@settings(max_examples=200, deadline=None)
@given(
    w=arrays(np.float64, st.integers(1, 30), elements=finite),
    alpha=st.floats(0, 5),
    step=st.floats(0, 2),
)
def test_l1_prox_gives_exact_zeros_below_threshold(w, alpha, step):
    out = L1(alpha).prox(w, step)
    small = np.abs(w) <= alpha * step
    assert np.all(out[small] == 0.0)
    np.testing.assert_allclose(out[~small], w[~small] - np.sign(w[~small]) * alpha * step, atol=1e-12)
    assert np.all(np.abs(out) <= np.abs(w))


@pytest.mark.parametrize("penalty", [L1(0.4), L2(0.4), ElasticNet(0.4, 0.6)])
@pytest.mark.parametrize("w0", [-1.3, -0.1, 0.0, 0.05, 2.0])
def test_prox_is_the_argmin_of_its_definition(penalty, w0):
    step = 0.5
    objective = lambda u: 0.5 * (u - w0) ** 2 + step * penalty.value(np.array([u]))  # noqa: E731
    best = minimize_scalar(objective, bounds=(-5, 5), method="bounded", options={"xatol": 1e-10}).x
    assert penalty.prox(np.array([w0]), step)[0] == pytest.approx(best, abs=1e-6)


def test_soft_threshold_in_place_and_per_weight_threshold():
    w = np.array([1.0, -1.0, 0.2], dtype=np.float32)
    soft_threshold(w, np.array([0.5, 2.0, 0.1], dtype=np.float32), out=w)
    np.testing.assert_allclose(w, [0.5, 0.0, 0.1])
    assert w.dtype == np.float32


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: L1(-1.0), "alpha must be a finite number >= 0; got -1.0"),
        (lambda: L2("abc"), "alpha must be a finite number >= 0; got 'abc'"),
        (lambda: L1("0.5"), "alpha must be a finite number >= 0; got '0.5'"),  # as the estimators: no strings
        (lambda: L2(float("inf")), "alpha must be a finite number >= 0; got inf"),
        (lambda: ElasticNet(0.1, 1.5), "l1_ratio must be a float in [0, 1]; got 1.5"),
        (lambda: ElasticNet(0.1, None), "l1_ratio must be a float in [0, 1]; got None"),
        (lambda: L1(0.1).prox(np.ones(3), -0.5), "step must be a finite number >= 0; got -0.5"),
        (lambda: L2(0.1).prox(np.ones(3), float("nan")), "step must be a finite number >= 0; got nan"),
    ],
)
def test_penalties_reject_bad_arguments_naming_them(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("penalty", [L1(0.1), L2(0.1), ElasticNet(0.1, 0.3)])
def test_penalties_take_lists_as_arrays(penalty):
    w = [-2.0, 0.05, 1.0]
    assert penalty.value(w) == penalty.value(np.array(w))
    np.testing.assert_array_equal(penalty.grad(w), penalty.grad(np.array(w)))
    np.testing.assert_array_equal(penalty.prox(w, 0.5), penalty.prox(np.array(w), 0.5))


def test_cumulative_l1_clips_at_zero_and_pays_back_skipped_penalty():
    w = np.array([0.25, -0.25, 1.0])
    state = CumulativeL1State(w.shape, w.dtype)
    state.apply(w, 0.1)  # u = 0.1
    np.testing.assert_allclose(w, [0.15, -0.15, 0.9])
    w[0] += 0.3  # a gradient step pushes the first weight up: it still owes nothing more
    state.apply(w, 0.1)  # u = 0.2; each weight has received 0.1 so far
    np.testing.assert_allclose(w, [0.35, -0.05, 0.8])
    state.apply(w, 0.1)  # u = 0.3: the second weight would cross zero; it stops at exactly 0
    assert w[1] == 0.0
    np.testing.assert_allclose(state.q, [-0.3, 0.25, -0.3])
