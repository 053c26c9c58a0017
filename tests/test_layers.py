import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shrinkage.layers import ACTIVATIONS, Dense, Dropout, Sequential, glorot_uniform, keep_mask

from conftest import numerical_grad, relative_error

rng = np.random.default_rng(1)


def check_layer_gradients(layer, x, params=(), tol=1e-6):
    """Compare backward() with central differences of sum(forward(x) * R) for a random R."""
    probe = rng.normal(size=layer.forward(x.copy(), training=False).shape)

    def objective():
        return float(np.sum(layer.forward(x.copy(), training=False) * probe))

    layer.forward(x.copy(), training=True)
    grad_x = layer.backward(probe.copy())
    if grad_x is not None:
        assert relative_error(grad_x, numerical_grad(objective, x)) < tol
    for p, g in zip(params, layer.grads):
        assert relative_error(g, numerical_grad(objective, p)) < tol


def test_dense_gradients():
    W, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    check_layer_gradients(Dense(W, b), rng.normal(size=(5, 4)), params=(W, b))


@pytest.mark.parametrize("W_shape,b_shape", [((3, 2), (3,)), ((3, 2), (2, 1)), ((6,), (2,))])
def test_dense_refuses_mismatched_shapes(W_shape, b_shape):
    with pytest.raises(ValueError, match=r"Dense expects W of shape \(n_in, n_out\) and b of shape \(n_out,\)"):
        Dense(np.zeros(W_shape), np.zeros(b_shape))


def test_dense_takes_sparse_input_like_dense_input():
    import scipy.sparse as sp

    x = rng.normal(size=(6, 5)) * (rng.random((6, 5)) < 0.4)
    W, b, grad_out = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(6, 3))
    outputs, grads = [], []
    for data in (x, sp.csr_matrix(x)):
        layer = Dense(W, b, input_grad=False)
        outputs.append(layer.forward(data, training=True))
        layer.backward(grad_out)
        grads.append([g.copy() for g in layer.grads])
    assert isinstance(outputs[1], np.ndarray)
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-12)
    for sparse_grad, dense_grad in zip(grads[1], grads[0]):
        np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-12)


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_input_dropout_keeps_a_sparse_batch_sparse(mode):
    """Only the stored entries draw a mask (a zero stays zero either way): the batch stays sparse, each
    stored entry is kept with probability 1 - p and scaled as dense dropout scales it."""
    import scipy.sparse as sp

    x = sp.random(200, 300, density=0.05, format="csr", random_state=0, dtype=np.float64)
    x.data += 1.0  # no stored zeros
    layer, original = Dropout(0.25, mode), x.copy()
    out = layer.forward(x, training=True, rng=np.random.default_rng(0))
    assert sp.issparse(out) and out.nnz == x.nnz
    np.testing.assert_array_equal(out.indices, x.indices)
    kept = out.data != 0
    assert abs(kept.mean() - 0.75) < 0.02  # 3,000 stored entries
    np.testing.assert_allclose(out.data[kept], x.data[kept] * layer.scale)
    np.testing.assert_array_equal(x.toarray(), original.toarray())  # not in place unless asked
    inference = layer.forward(x)
    assert sp.issparse(inference)
    np.testing.assert_allclose(inference.toarray(), x.toarray() * (0.75 if mode == "classic" else 1.0))
    mask = np.random.default_rng(1).random(x.shape) > 0.25  # a given dense mask, as for a dense batch
    np.testing.assert_allclose(layer.forward(x, mask=mask).toarray(),
                               layer.forward(x.toarray(), mask=mask))
    assert layer.forward(x, training=True, rng=np.random.default_rng(0)) is not x
    assert Dropout(0.25, mode, inplace=True).forward(x, training=True, rng=np.random.default_rng(0)) is x


def test_dense_first_layer_skips_input_gradient():
    layer = Dense(np.ones((2, 2)), np.zeros(2), input_grad=False)
    layer.forward(np.ones((3, 2)), training=True)
    assert layer.backward(np.ones((3, 2))) is None


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradients(name):
    x = rng.normal(size=(6, 5))
    if name == "relu":
        x[np.abs(x) < 0.05] = 0.5  # away from the kink
    check_layer_gradients(ACTIVATIONS[name](), x)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_are_finite_for_huge_inputs(name):
    out = ACTIVATIONS[name]().forward(np.array([[-1e30, -800.0, 0.0, 800.0, 1e30]]))
    assert np.all(np.isfinite(out))


def test_logistic_values():
    out = ACTIVATIONS["logistic"]().forward(np.array([[-2.0, 0.0, 3.0]]))
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-np.array([[-2.0, 0.0, 3.0]]))))


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_dropout_gradient_with_fixed_mask(mode):
    layer = Dropout(0.4, mode)
    x = rng.normal(size=(5, 6))
    mask = keep_mask(x.shape, 0.4, np.random.default_rng(3))
    probe = rng.normal(size=x.shape)
    objective = lambda: float(np.sum(layer.forward(x, mask=mask) * probe))  # noqa: E731
    layer.forward(x, training=True, mask=mask)
    assert relative_error(layer.backward(probe.copy()), numerical_grad(objective, x)) < 1e-6


@pytest.mark.parametrize("mode", ["inverted", "classic"])
@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.8, 1 / 3])
def test_dropout_drops_fraction_p_and_keeps_the_expectation(mode, p):
    layer = Dropout(p, mode)
    x = np.full((400, 500), 2.0, dtype=np.float32)
    out = layer.forward(x, training=True, rng=np.random.default_rng(0))
    assert np.mean(out == 0) == pytest.approx(p, abs=0.005)
    train_mean = out.mean()
    infer_mean = layer.forward(x, training=False).mean()
    assert train_mean == pytest.approx(infer_mean, rel=0.01)
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 2.0 / (1 - p) if mode == "inverted" else 2.0, rtol=1e-6)


def test_dropout_inference_identity_inverted_and_scaled_classic():
    x = rng.normal(size=(3, 4)).astype(np.float32)
    assert Dropout(0.3, "inverted").forward(x, training=False) is x
    np.testing.assert_allclose(Dropout(0.3, "classic").forward(x, training=False), x * 0.7, rtol=1e-6)


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_dropout_p_zero_is_identity(mode):
    x = rng.normal(size=(3, 4))
    layer = Dropout(0.0, mode)
    assert layer.forward(x, training=True, rng=np.random.default_rng(0)) is x
    assert layer.forward(x, training=False) is x


def test_dropout_monte_carlo_sampling_at_prediction():
    layer = Dropout(0.5)
    x = np.ones((2, 1000), dtype=np.float32)
    a = layer.forward(x, training=False, rng=np.random.default_rng(0), sample=True)
    b = layer.forward(x, training=False, rng=np.random.default_rng(1), sample=True)
    assert np.mean(a == 0) == pytest.approx(0.5, abs=0.05) and not np.array_equal(a, b)
    assert layer._keep is None  # prediction stores nothing


def test_dropout_same_generator_same_mask():
    x = np.ones((50, 50), dtype=np.float32)
    a = Dropout(0.5).forward(x, training=True, rng=np.random.default_rng(7))
    b = Dropout(0.5).forward(x, training=True, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"dropout p must be a float in \[0, 1\); got"):
        Dropout(p)


@settings(max_examples=30, deadline=None)
@given(p=st.floats(0.0, 0.9), seed=st.integers(0, 2**31))
def test_dropout_keeps_the_mean_property(p, seed):
    x = np.random.default_rng(seed).uniform(0, 1, size=(200, 200))
    out = Dropout(p).forward(x, training=True, rng=np.random.default_rng(seed))
    spread = np.sqrt(np.mean(x**2) * p / (1 - p) / x.size)  # std of the mean of x * m / (1 - p)
    assert out.mean() == pytest.approx(x.mean(), abs=6 * spread + 1e-12)


def test_sequential_gradients_through_a_small_network():
    W1, b1 = rng.normal(size=(4, 5)), rng.normal(size=5)
    W2, b2 = rng.normal(size=(5, 3)), rng.normal(size=3)
    net = Sequential([Dense(W1, b1), ACTIVATIONS["tanh"](), Dense(W2, b2)])
    x = rng.normal(size=(6, 4))
    probe = rng.normal(size=(6, 3))
    objective = lambda: float(np.sum(net.forward(x) * probe))  # noqa: E731
    net.forward(x, training=True)
    net.backward(probe.copy())
    for p, g in zip(net.params, net.grads):
        assert relative_error(g, numerical_grad(objective, p)) < 1e-6


def test_glorot_uniform_bounds_and_dtype():
    W = glorot_uniform(30, 20, np.random.default_rng(0))
    assert W.dtype == np.float32 and np.abs(W).max() <= np.sqrt(6 / 50)


@pytest.mark.parametrize("p", [0.5, 0.25, 0.1, 1 / 3, 0.999])
def test_keep_mask_resolves_p(p):
    keep = keep_mask((1000, 1000), p, np.random.default_rng(0))
    assert keep.dtype == bool and keep.shape == (1000, 1000)
    resolved = round(p * 65536) / 65536
    assert abs(resolved - p) < 7.7e-6
    assert np.mean(~keep) == pytest.approx(resolved, abs=5 * np.sqrt(p * (1 - p) / keep.size))


@pytest.mark.parametrize("p", [0.5, 0.25, 0.3])  # random bits, bytes, 16-bit words
@pytest.mark.parametrize("n", [1, 7, 9, 17])  # masks that end within a byte
def test_keep_mask_keeps_every_position_of_a_small_mask_with_probability_1_minus_p(n, p):
    rng = np.random.default_rng(0)
    kept = np.mean([keep_mask((n,), p, rng) for _ in range(4000)], axis=0)
    np.testing.assert_allclose(kept, 1 - p, atol=5 * np.sqrt(p * (1 - p) / 4000))


def test_inplace_dropout_overwrites_only_when_asked():
    x = np.ones((4, 4), dtype=np.float32)
    Dropout(0.5).forward(x, training=True, rng=np.random.default_rng(0))
    assert np.all(x == 1)
    Dropout(0.5, inplace=True).forward(x, training=True, rng=np.random.default_rng(0))
    assert np.any(x == 0)


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_dropout_after_relu_in_place_gradients(mode):
    """Dropout that overwrites a ReLU's output lets the ReLU's backward zero the dropped units."""
    rng = np.random.default_rng(0)
    W1, b1 = rng.normal(size=(4, 6)), rng.normal(size=6)
    W2, b2 = rng.normal(size=(6, 3)), rng.normal(size=3)
    net = Sequential([Dense(W1, b1), ACTIVATIONS["relu"](), Dropout(0.5, mode, inplace=True, after_relu=True),
                      Dense(W2, b2)])
    x, probe = rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    objective = lambda: float(np.sum(net.forward(x, training=True, rng=np.random.default_rng(7)) * probe))  # noqa: E731
    net.forward(x, training=True, rng=np.random.default_rng(7))
    net.backward(probe.copy())
    assert net.layers[2]._keep is None  # no mask kept: the ReLU applies it
    for p, g in zip(net.params, net.grads):
        assert relative_error(g, numerical_grad(objective, p)) < 1e-6


def test_dropout_after_relu_needs_inplace():
    with pytest.raises(ValueError, match="after_relu=True.*inplace=True"):
        Dropout(0.5, after_relu=True)
