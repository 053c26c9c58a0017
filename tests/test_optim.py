import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shrinkage.optim import SGD, Adam, Updater, axpy, build_regularizers, max_norm_project
from shrinkage.parameters import Parameters, prunable_fraction, zero_fraction

rng = np.random.default_rng(4)


def run(optimizer, regularizers, arrays, grads_seq):
    """Steps over one layer: ``arrays`` is ``[W]`` or ``[W, b]`` (a 1-D ``W`` is one column); returns them."""
    W = arrays[0]
    shape = W.shape
    W2 = W.reshape(len(W), -1)
    b = arrays[1] if len(arrays) > 1 else np.zeros(W2.shape[1])
    params = Parameters.from_arrays([W2], [b], dtype=W.dtype)
    updater = Updater(optimizer, regularizers)
    updater.init(params)
    for grads in grads_seq:
        params.coef_grads[0][...] = grads[0].reshape(W2.shape)
        params.intercept_grads[0][...] = grads[1] if len(grads) > 1 else 0.0
        updater.step(params)
    out = [params.coefs[0].reshape(shape).copy()]
    return out + [params.intercepts[0].copy()] if len(arrays) > 1 else out


def random_grads(shapes, steps=5):
    return [[rng.normal(size=s) for s in shapes] for _ in range(steps)]


def reference_sgd(w, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """PyTorch's SGD, written out: v = mu v + g; step lr v (or lr (g + mu v))."""
    v = np.zeros_like(w)
    for g in grads:
        g = g + weight_decay * w
        v = momentum * v + g
        w = w - lr * ((g + momentum * v) if nesterov else (v if momentum else g))
    return w


def reference_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-8, decoupled=0.0, l2=0.0):
    """Kingma & Ba with bias correction; ``decoupled`` is AdamW's weight decay, ``l2`` coupled L2."""
    m = v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        g = g + l2 * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        update = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        w = w - lr * decoupled * w - update
    return w


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_reference(momentum, nesterov):
    w0 = rng.normal(size=(3, 2))
    grads = random_grads([(3, 2)])
    (w,) = run(SGD(0.1, momentum, nesterov), [], [w0.copy()], grads)
    np.testing.assert_allclose(w, reference_sgd(w0, [g[0] for g in grads], 0.1, momentum, nesterov))


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_coupled_l2_is_in_the_gradient_under_sgd(momentum, nesterov):
    """PyTorch's SGD(weight_decay) recurrence: g + alpha * w enters the velocity; biases are not penalized."""
    w0, b0 = rng.normal(size=(3, 2)), rng.normal(size=2)
    grads = random_grads([(3, 2), (2,)])
    w, b = run(SGD(0.1, momentum, nesterov), pieces_for(penalty="l2", alpha=0.3), [w0.copy(), b0.copy()], grads)
    np.testing.assert_allclose(w, reference_sgd(w0, [g[0] for g in grads], 0.1, momentum, nesterov, 0.3),
                               rtol=1e-12)
    np.testing.assert_allclose(b, reference_sgd(b0, [g[1] for g in grads], 0.1, momentum, nesterov), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (300, 300)])  # the second spans Adam's chunks
def test_coupled_l2_is_in_the_gradient_under_adam(shape):
    w0, b0 = rng.normal(size=shape), rng.normal(size=shape[1])
    grads = random_grads([shape, (shape[1],)], steps=8)
    w, b = run(Adam(0.01), pieces_for(penalty="l2", alpha=0.3), [w0.copy(), b0.copy()], grads)
    np.testing.assert_allclose(w, reference_adam(w0, [g[0] for g in grads], 0.01, l2=0.3), rtol=1e-10)
    np.testing.assert_allclose(b, reference_adam(b0, [g[1] for g in grads], 0.01), rtol=1e-10)


@pytest.mark.parametrize("make_opt", [lambda: SGD(0.1), lambda: SGD(0.1, 0.9), lambda: SGD(0.1, 0.9, True),
                                      lambda: Adam(0.01)])
@pytest.mark.parametrize("kw", [dict(penalty="l2", alpha=0.3), dict(penalty="l1", alpha=0.05),
                                dict(penalty="l1", alpha=0.05, l1_method="subgradient"),
                                dict(penalty="elasticnet", alpha=0.1, l1_ratio=0.5)])
def test_step_takes_the_gradient_in_any_scale(make_opt, kw):
    """The training loop backpropagates the gradient times the optimizer's gradient_scale (-lr for SGD):
    every step must equal the step on the plain gradient."""
    w0, b0 = rng.normal(size=(5, 4)), rng.normal(size=4)
    grads = random_grads([(5, 4), (4,)], steps=4)
    results = []
    for scale in (1.0, "the optimizer's", 3.0):
        params = Parameters.from_arrays([w0.copy()], [b0.copy()], dtype=np.float64)
        updater = Updater(make_opt(), pieces_for(**kw))
        updater.init(params)
        scale = updater.gradient_scale if scale == "the optimizer's" else scale
        for g, gb in grads:
            params.coef_grads[0][...] = scale * g
            params.intercept_grads[0][...] = scale * gb
            updater.step(params, scale)
        results.append(params.data.copy())
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-12, atol=1e-14)


def test_adam_matches_reference():
    w0 = rng.normal(size=(4, 3))
    grads = random_grads([(4, 3)], steps=8)
    (w,) = run(Adam(0.01), [], [w0.copy()], grads)
    np.testing.assert_allclose(w, reference_adam(w0, [g[0] for g in grads], 0.01), rtol=1e-10)


def test_decoupled_weight_decay_is_adamw():
    w0 = rng.normal(size=(4, 3))
    grads = random_grads([(4, 3)], steps=6)
    pieces, _ = build_regularizers(penalty=None, alpha=0.0, l1_ratio=0.5, l1_method="proximal",
                                   weight_decay=0.1, max_norm=None, max_norm_layers=[])
    (w,) = run(Adam(0.01), pieces, [w0.copy()], grads)
    np.testing.assert_allclose(w, reference_adam(w0, [g[0] for g in grads], 0.01, decoupled=0.1), rtol=1e-10)


def pieces_for(**kw):
    settings_ = dict(penalty=None, alpha=0.0, l1_ratio=0.5, l1_method="proximal", weight_decay=0.0,
                     max_norm=None, max_norm_layers=[0])
    settings_.update(kw)
    return build_regularizers(**settings_)[0]


def test_plain_sgd_weight_decay_equals_coupled_l2_step_for_step():
    w0 = rng.normal(size=(5, 3))
    grads = random_grads([(5, 3)], steps=10)
    (a,) = run(SGD(0.05), pieces_for(weight_decay=0.3), [w0.copy()], grads)
    (b,) = run(SGD(0.05), pieces_for(penalty="l2", alpha=0.3), [w0.copy()], grads)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(b, reference_sgd(w0, [g[0] for g in grads], 0.05, weight_decay=0.3))


@pytest.mark.parametrize("optimizer", [lambda: SGD(0.05, momentum=0.9), lambda: Adam(0.01)])
def test_weight_decay_and_l2_differ_with_momentum_or_adam(optimizer):
    w0 = rng.normal(size=(5, 3))
    grads = random_grads([(5, 3)], steps=10)
    (a,) = run(optimizer(), pieces_for(weight_decay=0.3), [w0.copy()], grads)
    (b,) = run(optimizer(), pieces_for(penalty="l2", alpha=0.3), [w0.copy()], grads)
    assert not np.allclose(a, b)


REGULARIZED = [
    dict(penalty="l2", alpha=0.5),
    dict(penalty="l1", alpha=0.5, l1_method="proximal"),
    dict(penalty="l1", alpha=0.5, l1_method="subgradient"),
    dict(penalty="l1", alpha=0.5, l1_method="cumulative"),
    dict(penalty="elasticnet", alpha=0.5, l1_ratio=0.3),
    dict(weight_decay=0.5),
    dict(max_norm=0.1),
]


@pytest.mark.parametrize("kw", REGULARIZED)
@pytest.mark.parametrize("make_opt", [lambda: SGD(0.1), lambda: SGD(0.1, 0.9), lambda: Adam(0.1)])
def test_biases_are_untouched_by_every_regularizer(kw, make_opt):
    W, b = np.ones((3, 2)), np.ones(2)
    zero = [[np.zeros((3, 2)), np.full(2, 1e-3)]] * 3  # tiny bias gradient keeps Adam's metric finite
    (W_out, b_out) = run(make_opt(), pieces_for(**kw), [W.copy(), b.copy()], zero)
    (_, b_ref) = run(make_opt(), [], [W.copy(), b.copy()], zero)
    np.testing.assert_array_equal(b_out, b_ref)
    assert not np.allclose(W_out, W)  # ... while the weights did move


@pytest.mark.parametrize("method", ["proximal", "cumulative"])  # the same on a first step (nothing carried yet)
def test_l1_threshold_in_sgd_and_adam_metric(method):
    w = np.array([0.5, -0.5, 0.004, 1.0])
    g = np.zeros(4)
    l1 = dict(penalty="l1", alpha=0.05, l1_method=method)
    (w_sgd,) = run(SGD(0.1), pieces_for(**l1), [w.copy()], [[g]])
    np.testing.assert_allclose(w_sgd, [0.495, -0.495, 0.0, 0.995])  # threshold lr * alpha = 0.005
    g = np.array([0.2, 0.2, 0.0, 2.0])
    adam = Adam(0.1, epsilon=1e-8)
    (w_adam,) = run(adam, pieces_for(**l1), [w.copy()], [[g]])
    denom = np.abs(g) + 1e-8  # sqrt(v_hat) = |g| after one step
    expected = w - 0.1 * np.sign(g)  # Adam's first step is lr * sign(g)
    expected = np.sign(expected) * np.maximum(np.abs(expected) - 0.1 * 0.05 / denom, 0)
    np.testing.assert_allclose(w_adam, expected)
    assert w_adam[2] == 0.0


@pytest.mark.parametrize("shape", [(4, 3), (300, 300)])  # the second spans Adam's chunks
def test_proximal_l1_under_adam_matches_the_per_weight_formula(shape):
    """Adam fuses the prox into its pass; the result is the textbook two-stage step, biases untouched."""
    w0, b0 = rng.normal(size=shape) * 0.01, rng.normal(size=shape[1])
    grads = random_grads([shape, (shape[1],)], steps=6)
    w, b = run(Adam(0.01), pieces_for(penalty="l1", alpha=0.5), [w0.copy(), b0.copy()], grads)
    m = v = np.zeros_like(w0)
    ref = w0.copy()
    for t, (g, _) in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        denom = np.sqrt(v / (1 - 0.999**t)) + 1e-8
        ref = ref - 0.01 * (m / (1 - 0.9**t)) / denom
        ref = np.sign(ref) * np.maximum(np.abs(ref) - 0.01 * 0.5 / denom, 0)
    np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-15)
    assert 0.2 < np.mean(w == 0) < 0.9 and np.array_equal(w == 0, ref == 0)
    np.testing.assert_allclose(b, reference_adam(b0, [g[1] for g in grads], 0.01), rtol=1e-10)


def soft(w, t):
    return np.sign(w) * np.maximum(np.abs(w) - t, 0)


@pytest.mark.parametrize("nesterov", [False, True])
def test_proximal_l1_under_momentum_carries_the_thresholding_in_the_velocity(nesterov):
    """Every step thresholds at lr * alpha (DESIGN.md), and the velocity carries what the threshold
    moved: heavy ball keeps u = w_new - w_old (iPiano), Nesterov adds the move / momentum."""
    w0 = rng.normal(size=(6, 5)) * 0.1
    grads = random_grads([(6, 5)], steps=6)
    (w,) = run(SGD(0.1, 0.9, nesterov), pieces_for(penalty="l1", alpha=0.5), [w0.copy()], grads)
    ref, u = w0.copy(), np.zeros_like(w0)  # u = -lr v
    for (g,) in grads:
        u = 0.9 * u - 0.1 * g
        before = ref + (0.9 * u - 0.1 * g if nesterov else u)
        ref = soft(before, 0.1 * 0.5)
        u = u + (ref - before) / (0.9 if nesterov else 1.0)
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-15)
    assert 0.05 < np.mean(w == 0) < 0.9 and np.array_equal(w == 0, ref == 0)


def test_subgradient_l1_adds_alpha_sign_w_to_the_gradient():
    w, g = np.array([0.5, -0.5, 0.0, 1.0]), np.array([0.1, 0.1, 0.1, -0.2])
    (w_new,) = run(SGD(0.1), pieces_for(penalty="l1", alpha=0.05, l1_method="subgradient"), [w.copy()], [[g]])
    np.testing.assert_allclose(w_new, w - 0.1 * (g + 0.05 * np.array([1.0, -1.0, 0.0, 1.0])))  # sign(0) = 0


def test_axpy_in_chunks_of_any_remainder():
    x, y = np.arange(10.0), np.ones(10)
    np.testing.assert_array_equal(axpy(2.0, x, y, scratch=np.empty(4)), 1.0 + 2.0 * np.arange(10.0))


def test_elastic_net_proximal_splits_l1_and_coupled_l2():
    w0 = rng.normal(size=(4, 4))
    grads = random_grads([(4, 4)], steps=1)
    (w,) = run(SGD(0.1), pieces_for(penalty="elasticnet", alpha=0.4, l1_ratio=0.25), [w0.copy()], grads)
    after_grad = w0 - 0.1 * (grads[0][0] + 0.4 * 0.75 * w0)
    expected = np.sign(after_grad) * np.maximum(np.abs(after_grad) - 0.1 * 0.4 * 0.25, 0)
    np.testing.assert_allclose(w, expected)


@settings(max_examples=50, deadline=None)
@given(W=arrays(np.float64, (6, 5), elements=st.floats(-100, 100)), c=st.floats(0.01, 10))
def test_max_norm_bounds_every_unit(W, c):
    before = W.copy()
    max_norm_project(W, c)
    norms = np.linalg.norm(W, axis=0)
    assert np.all(norms <= c * (1 + 1e-9))
    small = np.linalg.norm(before, axis=0) <= c
    np.testing.assert_array_equal(W[:, small], before[:, small])  # units inside the ball are untouched


def test_max_norm_rescales_exactly_the_units_over_the_bound():
    directions = rng.normal(size=(4, 3))
    directions /= np.linalg.norm(directions, axis=0)
    W = directions * [1.0, 3.0, 4.0]  # unit norms below, just above and far above the bound 2
    max_norm_project(W, 2.0)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0), [1.0, 2.0, 2.0])
    np.testing.assert_allclose(W, directions * [1.0, 2.0, 2.0])  # each unit keeps its direction


def test_state_dict_round_trip_continues_identically():
    w0 = rng.normal(size=(3, 3))
    grads = random_grads([(3, 3)], steps=6)
    (full,) = run(Adam(0.01), [], [w0.copy()], grads)
    params = Parameters.from_arrays([w0], [np.zeros(3)], dtype=np.float64)
    first = Updater(Adam(0.01))
    first.init(params)
    for g in grads[:3]:
        params.coef_grads[0][...] = g[0]
        first.step(params)
    second = Updater(Adam(0.01))
    second.init(params)
    second.load_state_dict(first.state_dict())
    for g in grads[3:]:
        params.coef_grads[0][...] = g[0]
        second.step(params)
    np.testing.assert_allclose(params.coefs[0], full)


def test_parameters_layout_weights_first_and_views():
    params = Parameters.from_arrays([np.ones((2, 3)), np.full((3, 1), 2.0)], [np.zeros(3), np.zeros(1)])
    assert params.n_weights == 9 and params.data.size == 13 and params.data.dtype == np.float32
    params.weights[:] = 5
    assert np.all(params.coefs[1] == 5) and np.all(params.intercepts[0] == 0)
    assert params.owns(params.coefs, params.intercepts) and not params.owns([np.ones((2, 3))], [np.zeros(3)])
    with pytest.raises(ValueError, match="layer 0: expected coefs of shape"):
        Parameters.from_arrays([np.ones((2, 3))], [np.zeros(2)])


def test_sgd_reads_the_velocity_of_older_checkpoints():
    """Checkpoints once stored PyTorch's velocity v; SGD now keeps -lr * v."""
    data = np.zeros(3)
    new, old_style = SGD(0.1, 0.9), SGD(0.1, 0.9)
    new.init(data)
    old_style.init(data)
    new.apply(data.copy(), np.array([1.0, 2.0, 3.0]))
    old_style.load_state_dict({"velocity": new.state_dict()["update"] / -0.1})
    np.testing.assert_allclose(old_style.update, new.update)


def test_adam_reads_the_moments_of_older_checkpoints():
    """Checkpoints once stored Adam's m and v; Adam now keeps m / (1 - b1) and v / (1 - b2)."""
    data, g = np.zeros(3), np.array([1.0, -2.0, 3.0])
    new, old_style = Adam(0.1), Adam(0.1)
    new.init(data)
    old_style.init(data)
    new.apply(data.copy(), g.copy())
    state = new.state_dict()
    old_style.load_state_dict({"t": state["t"], "m": state["m_sum"] * 0.1, "v": state["v_sum"] * 0.001})
    a, b = data.copy(), data.copy()
    new.apply(a, g.copy())
    old_style.apply(b, g.copy())
    np.testing.assert_allclose(b, a, rtol=1e-12)


def _steps(updater, params, grads):
    for g in grads:
        params.coef_grads[0][...] = g[0]
        _scaled_step(updater, params)


def _scaled_step(updater, params):
    """One step as the training loop takes it: the gradient in the optimizer's scale."""
    scale = updater.gradient_scale
    params.grad *= scale
    updater.step(params, scale)


def _continue_with(first, second, grads, w0):
    """``first`` for half the steps, then ``second`` carrying its state on; the final weights."""
    params = Parameters.from_arrays([w0.copy()], [np.zeros(w0.shape[1])], dtype=np.float64)
    half = len(grads) // 2
    first.init(params)
    _steps(first, params, grads[:half])
    second.init(params)
    second.continue_from(first)
    _steps(second, params, grads[half:])
    return params.coefs[0]


def test_sgd_with_new_settings_keeps_its_velocity_as_pytorch_does():
    # set_params(learning_rate=..., momentum=...) between partial_fit calls: PyTorch keeps the
    # momentum buffer v = mu v + g and steps lr v with the new lr and mu.
    w0, grads = rng.normal(size=(3, 2)), random_grads([(3, 2)], steps=6)
    w = _continue_with(Updater(SGD(0.1, 0.9)), Updater(SGD(0.02, 0.5)), grads, w0)
    ref, v = w0.copy(), np.zeros_like(w0)
    for k, (g,) in enumerate(grads):
        lr, mu = (0.1, 0.9) if k < 3 else (0.02, 0.5)
        v = mu * v + g
        ref = ref - lr * v
    np.testing.assert_allclose(w, ref, rtol=1e-12)


@pytest.mark.parametrize("before,after", [(0.0, 0.9), (0.9, 0.0)])
def test_sgd_gaining_or_losing_momentum_starts_or_drops_its_velocity(before, after):
    w0, grads = rng.normal(size=(3, 2)), random_grads([(3, 2)], steps=4)
    w = _continue_with(Updater(SGD(0.1, before)), Updater(SGD(0.1, after)), grads, w0)
    ref, v = w0.copy(), np.zeros_like(w0)
    for k, (g,) in enumerate(grads):
        mu = before if k < 2 else after
        if k == 2 and not before:
            v = np.zeros_like(v)  # the SGD without momentum kept no velocity to carry on
        v = mu * v + g
        ref = ref - 0.1 * v
    np.testing.assert_allclose(w, ref, rtol=1e-12)


def test_adam_with_new_settings_keeps_its_moments_and_step_count():
    w0, grads = rng.normal(size=(4, 3)), random_grads([(4, 3)], steps=8)
    w = _continue_with(Updater(Adam(0.01)), Updater(Adam(0.003, beta_1=0.8, beta_2=0.99)), grads, w0)
    ref, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, (g,) in enumerate(grads, start=1):
        lr, b1, b2 = (0.01, 0.9, 0.999) if t <= 4 else (0.003, 0.8, 0.99)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        ref = ref - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
    np.testing.assert_allclose(w, ref, rtol=1e-10)


def test_continue_from_carries_only_state_of_the_same_kind():
    params = Parameters.from_arrays([rng.normal(size=(5, 2))], [np.zeros(2)], dtype=np.float64)
    grads = random_grads([(5, 2)], steps=3)
    chain = dict(penalty="l1", alpha=0.01, l1_ratio=1.0, l1_method="cumulative", weight_decay=0.0,
                 max_norm=None, max_norm_layers=[0])
    sgd = Updater(SGD(0.1, 0.9), build_regularizers(**chain)[0])
    sgd.init(params)
    _steps(sgd, params, grads)
    adam = Updater(Adam(0.01), build_regularizers(**{**chain, "alpha": 0.02})[0])
    adam.init(params)
    adam.continue_from(sgd)
    assert adam.optimizer.t == 0 and not adam.optimizer.m.any()  # another optimizer: afresh
    (cum_sgd,), (cum_adam,) = sgd.regularizers, adam.regularizers
    assert cum_sgd.state.u.any() and np.array_equal(cum_adam.state.u, cum_sgd.state.u)  # same kind: carried
    np.testing.assert_array_equal(cum_adam.state.q, cum_sgd.state.q)


def test_zero_fraction_counts_exact_zeros_of_the_weights_only():
    params = Parameters([(2, 3), (3, 1)])
    params.data[:] = 1.0  # biases too: they are not weights
    params.coefs[0][0, :] = 0.0
    params.coefs[1][2, 0] = 0.0
    params.intercepts[0][:] = 0.0
    assert zero_fraction(params.coefs) == 4 / 9
    params.coefs[1][1, 0] = 1e-30  # tiny is not zero
    assert zero_fraction(params.coefs) == 4 / 9


def test_a_hidden_unit_is_prunable_without_a_nonzero_incoming_or_outgoing_weight():
    W1, W2, W3 = np.ones((3, 4)), np.ones((4, 2)), np.ones((2, 5))
    W1[:, 0] = 0.0  # unit 0 of the first hidden layer: nothing comes in
    W2[1, :] = 0.0  # unit 1: nothing goes out
    W1[0, 2] = W2[3, 0] = 0.0  # units 2 and 3 keep other weights
    W3[1, :4] = 0.0  # unit 1 of the second hidden layer still feeds one output
    assert prunable_fraction([W1, W2, W3]) == 2 / 6
    W2[:, 1] = 0.0  # unit 1 of the second layer loses its inputs, and first-layer unit 3 its last output
    assert prunable_fraction([W1, W2, W3]) == 4 / 6
    assert prunable_fraction([W3]) is None  # a linear model has no hidden units
