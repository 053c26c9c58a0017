import numpy as np
import pytest
from sklearn.metrics import log_loss, mean_squared_error

from shrinkage.losses import MulticlassHinge, SoftmaxCrossEntropy, SquaredError, log_softmax, softmax

from conftest import numerical_grad, relative_error

rng = np.random.default_rng(2)


def classification_case(n=7, k=4):
    return rng.normal(size=(n, k)) * 2, rng.integers(0, k, size=n)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MulticlassHinge()])
def test_classification_loss_gradients(loss):
    out, y = classification_case()
    value, grad = loss(out.copy(), y)
    assert value == pytest.approx(loss.value(out, y))
    if isinstance(loss, MulticlassHinge):  # keep away from the kinks
        margins = out - out[np.arange(len(y)), y][:, None] + 1
        assert np.min(np.abs(margins)) > 1e-3
    assert relative_error(grad, numerical_grad(lambda: loss.value(out, y), out)) < 1e-6


def test_squared_error_gradient_and_value():
    pred, target = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    value, grad = SquaredError()(pred.copy(), target)
    assert value == pytest.approx(0.5 * np.sum((pred - target) ** 2) / 6)
    assert relative_error(grad, numerical_grad(lambda: SquaredError().value(pred, target), pred)) < 1e-6
    single = SquaredError().value(pred[:, :1], target[:, :1])
    assert single == pytest.approx(mean_squared_error(target[:, 0], pred[:, 0]) / 2)


def test_cross_entropy_equals_scikit_learn_log_loss_mean_over_batch():
    out, y = classification_case(n=50, k=3)
    assert SoftmaxCrossEntropy().value(out, y) == pytest.approx(log_loss(y, softmax(out), labels=[0, 1, 2]))


def test_cross_entropy_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    value, grad = SoftmaxCrossEntropy()(logits, np.array([2, 1]))
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value == pytest.approx(2000.0 / 2, rel=1e-6)
    assert SoftmaxCrossEntropy().value(logits, np.array([2, 1])) == pytest.approx(2000.0 / 2, rel=1e-6)
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("row_spread", [1.0, 300.0])  # the second makes rows lie far below the batch maximum
def test_cross_entropy_matches_a_row_by_row_reference(row_spread):
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(64, 10)) + row_spread * rng.normal(size=(64, 1))).astype(np.float32)
    y = rng.integers(0, 10, 64)
    logits64 = logits.astype(np.float64)
    shifted = logits64 - logits64.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(10)[y]
    value, grad = SoftmaxCrossEntropy()(logits, y)
    assert value == pytest.approx(-log_p[np.arange(64), y].mean(), rel=1e-5)
    np.testing.assert_allclose(grad, (np.exp(log_p) - onehot) / 64, atol=1e-7)


def test_hinge_values_weston_watkins():
    scores = np.array([[2.0, 1.5, -1.0], [0.0, 0.0, 3.0]])
    y = np.array([0, 2])
    # row 0: max(0, 1 + 1.5 - 2) + max(0, 1 - 1 - 2) = 0.5; row 1: all margins beaten by 2 -> 0
    assert MulticlassHinge().value(scores, y) == pytest.approx(0.25)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MulticlassHinge(), SquaredError()])
def test_losses_are_means_over_the_batch(loss):
    out, y = classification_case(n=10, k=3)
    if isinstance(loss, SquaredError):
        y = rng.normal(size=out.shape)
    doubled_out, doubled_y = np.concatenate([out, out]), np.concatenate([y, y])
    assert loss.value(doubled_out, doubled_y) == pytest.approx(loss.value(out, y))


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MulticlassHinge(), SquaredError()])
def test_losses_keep_float32(loss):
    out = rng.normal(size=(5, 3)).astype(np.float32)
    y = rng.integers(0, 3, 5) if not isinstance(loss, SquaredError) else out[::-1].copy()
    assert loss(out, y)[1].dtype == np.float32


def loss_case(loss, n=7, k=4):
    out, y = classification_case(n, k)
    return out, (rng.normal(size=out.shape) if isinstance(loss, SquaredError) else y)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MulticlassHinge(), SquaredError()])
def test_weighted_loss_is_mean_of_weight_times_loss_with_its_gradient(loss):
    out, y = loss_case(loss)
    weight = rng.uniform(0, 3, size=len(out))
    weight[2] = 0.0  # a zero weight contributes nothing
    rows = [loss.value(out[i:i + 1], y[i:i + 1]) for i in range(len(out))]
    value, grad = loss(out.copy(), y, weight)
    assert value == pytest.approx(np.mean(weight * rows)) and value == pytest.approx(loss.value(out, y, weight))
    assert relative_error(grad, numerical_grad(lambda: loss.value(out, y, weight), out, eps=1e-5)) < 1e-6
    assert np.all(grad[2] == 0)
    ones_value, ones_grad = loss(out.copy(), y, np.ones(len(out)))
    plain_value, plain_grad = loss(out.copy(), y)
    assert ones_value == pytest.approx(plain_value)
    np.testing.assert_allclose(ones_grad, plain_grad, rtol=1e-12)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MulticlassHinge(), SquaredError()])
def test_weighted_losses_keep_float32(loss):
    out, y = loss_case(loss, n=5, k=3)
    out, y = out.astype(np.float32), (y.astype(np.float32) if isinstance(loss, SquaredError) else y)
    assert loss(out, y, np.full(5, 2.0, dtype=np.float32))[1].dtype == np.float32


@pytest.mark.parametrize("weighted", [False, True])
def test_constant_value_is_the_loss_of_its_constant_prediction(weighted):
    rng = np.random.default_rng(0)
    target = rng.choice(4, size=50, p=[0.5, 0.3, 0.2, 0.0])  # a class with no sample
    weight = rng.uniform(0.5, 1.5, 50) if weighted else None
    if weighted:
        weight /= weight.mean()
    freq = np.bincount(target, weights=weight, minlength=4) / 50
    logits = np.tile(np.log(np.maximum(freq, 1e-300)), (50, 1))
    ce = SoftmaxCrossEntropy()
    assert ce.constant_value(target, weight, 4) == pytest.approx(ce.value(logits, target, weight), rel=1e-12)
    assert ce.constant_value(target, weight, 4) < ce.value(logits + [0.1, 0, 0, 0], target, weight)  # the best
    hinge = MulticlassHinge()
    assert hinge.constant_value(target, weight, 4) == pytest.approx(hinge.value(np.zeros((50, 4)), target, weight))
    y = rng.normal(3.0, 2.0, (50, 2))
    sq = SquaredError()
    mean = np.average(y, axis=0, weights=weight)
    assert sq.constant_value(y, weight, 2) == pytest.approx(sq.value(np.tile(mean, (50, 1)), y, weight))
    assert sq.constant_value(y, weight, 2) < sq.value(np.tile(mean + 0.1, (50, 1)), y, weight)
    for loss, k, t in ((ce, 4, target), (hinge, 4, target), (sq, 2, y)):
        assert loss.zero_output_value(t, weight, k) == pytest.approx(loss.value(np.zeros((50, k)), t, weight))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_is_the_log_of_softmax_and_finite_where_softmax_rounds_to_zero(dtype):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype(dtype)
    np.testing.assert_allclose(log_softmax(logits), np.log(softmax(logits)), rtol=1e-5, atol=1e-6)
    far = np.array([[0.0, -1e4, 5e3], [1e30, 0.0, -1e30]], dtype=dtype)
    out = log_softmax(far)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, [[-5e3, -1.5e4, 0.0], [0.0, -1e30, -2e30]], rtol=1e-6)
