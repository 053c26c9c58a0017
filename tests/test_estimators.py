import re
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_classifiers_one_label_sample_weights,
    check_regressor_multioutput,
    check_sample_weight_equivalence_on_dense_data,
    check_sample_weight_equivalence_on_sparse_data,
    parametrize_with_checks,
)
from sklearn.utils.fixes import parse_version

from shrinkage import EarlyStopping, LearnedNothingWarning, LinearClassifier, MLPClassifier, MLPRegressor
from shrinkage.optim import Updater


def expected_failures(estimator):
    """The checks that only a float64 model can pass, each run in float64 by a test below."""
    failures = {
        f"check_sample_weight_equivalence_on_{kind}_data": (
            "shrinkage computes in float32 by default (DESIGN.md): fits with integer weights and with repeated "
            "samples agree to float32 rounding (4e-7 relative), the check asks 1e-7. It passes with "
            "dtype='float64' (test_sample_weight_equivalence_in_float64)."
        )
        for kind in ("dense", "sparse")
    }
    if isinstance(estimator, MLPRegressor):
        failures["check_regressor_multioutput"] = (
            "shrinkage computes in float32 by default (DESIGN.md); the check demands float64 "
            "predictions. It passes with dtype='float64' (test_regressor_multioutput_in_float64)."
        )
    return failures


@parametrize_with_checks(
    [MLPClassifier(max_epochs=50), LinearClassifier(max_epochs=50), MLPRegressor(max_epochs=100)],
    expected_failed_checks=expected_failures,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_regressor_multioutput_in_float64():
    check_regressor_multioutput("MLPRegressor", MLPRegressor(dtype="float64"))


@pytest.mark.parametrize("estimator", [MLPClassifier(max_epochs=50, dtype="float64"),
                                       LinearClassifier(max_epochs=50, dtype="float64"),
                                       MLPRegressor(max_epochs=100, dtype="float64")])
@pytest.mark.parametrize("check", [check_sample_weight_equivalence_on_dense_data,
                                   check_sample_weight_equivalence_on_sparse_data])
def test_sample_weight_equivalence_in_float64(estimator, check):
    # full batches (15 and ~30 samples): integer weights must train exactly as repeated samples
    check(type(estimator).__name__, estimator)


def test_pipeline_and_grid_search(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_epochs=100, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__penalty": ["l1", "l2"], "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2)
    grid.fit(X_tr, y_tr)
    assert grid.best_score_ > 0.85 and grid.score(X_te, y_te) > 0.85
    lin = GridSearchCV(LinearClassifier(max_epochs=20), {"loss": ["softmax", "hinge"]}, cv=2).fit(X_tr, y_tr)
    assert lin.score(X_te, y_te) > 0.85
    X, y = make_regression(n_samples=200, n_features=5, noise=1, random_state=0)
    reg = make_pipeline(StandardScaler(), MLPRegressor(max_epochs=200, random_state=0)).fit(X, y / y.std())
    assert reg.score(X, y / y.std()) > 0.8


def test_default_quality_on_digits(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    assert MLPClassifier(random_state=0).fit(X_tr, y_tr).score(X_te, y_te) >= 0.97
    assert LinearClassifier(random_state=0).fit(X_tr, y_tr).score(X_te, y_te) >= 0.95


@pytest.mark.parametrize("kw", [dict(), dict(dropout=0.3, input_dropout=0.1, early_stopping=True, penalty="l1")])
def test_same_random_state_gives_bit_identical_weights(digits_split, kw):
    X_tr, _, y_tr, _ = digits_split
    a = MLPClassifier(hidden_layer_sizes=(20,), max_epochs=5, random_state=3, **kw).fit(X_tr, y_tr)
    b = MLPClassifier(hidden_layer_sizes=(20,), max_epochs=5, random_state=3, **kw).fit(X_tr, y_tr)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(wa, wb)
    c = MLPClassifier(hidden_layer_sizes=(20,), max_epochs=5, random_state=4, **kw).fit(X_tr, y_tr)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_end_to_end(monkeypatch, digits_split, dtype):
    X_tr, X_te, y_tr, _ = digits_split  # float64 input
    seen = set()
    original = Updater.step

    def spy(self, params, *args):
        seen.update([params.data.dtype, params.grad.dtype])
        return original(self, params, *args)

    monkeypatch.setattr(Updater, "step", spy)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=2, optimizer="adam", penalty="l1",
                        dropout=0.2, dtype=dtype, random_state=0).fit(X_tr, y_tr)
    assert seen == {np.dtype(dtype)}
    assert all(w.dtype == dtype for w in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X_te).dtype == dtype


def test_weight_decay_equals_l2_for_plain_sgd(digits_split):
    X_tr, _, y_tr, _ = digits_split
    common = dict(hidden_layer_sizes=(16,), optimizer="sgd", momentum=0.0, learning_rate=0.05,
                  max_epochs=3, random_state=0, dtype="float64")
    a = MLPClassifier(penalty=None, weight_decay=0.01, **common).fit(X_tr, y_tr)
    b = MLPClassifier(penalty="l2", alpha=0.01, **common).fit(X_tr, y_tr)
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(wa, wb, rtol=1e-10, atol=1e-12)


def test_mlp_without_hidden_layers_equals_linear_classifier(digits_split):
    X_tr, _, y_tr, _ = digits_split
    common = dict(penalty="elasticnet", alpha=1e-3, optimizer="adam", learning_rate=0.01,
                  max_epochs=5, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(), **common).fit(X_tr, y_tr)
    lin = LinearClassifier(**common).fit(X_tr, y_tr)
    np.testing.assert_array_equal(mlp.coefs_[0], lin.coef_.T)
    np.testing.assert_array_equal(mlp.intercepts_[0], lin.intercept_)


def count_zeros(clf):
    return np.mean(np.concatenate([W.ravel() for W in clf.coefs_]) == 0)


OPTIMIZERS = {"sgd": dict(optimizer="sgd", momentum=0.0), "momentum": dict(optimizer="sgd", momentum=0.9),
              "nesterov": dict(optimizer="sgd", momentum=0.9, nesterov=True),
              "adam": dict(optimizer="adam", learning_rate=0.01)}


@pytest.mark.parametrize("method", ["proximal", "cumulative"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_l1_reaches_scikit_learns_optimum_under_every_optimizer(optimizer, method, l1_ratio):
    """alpha means one objective, mean log-loss + alpha * (l1_ratio |W|_1 + (1 - l1_ratio) / 2 |W|^2),
    whatever steps reach it: full-batch training ends at scikit-learn's multinomial saga solution (the
    same K-row softmax, C = 1 / (n alpha)), with its zeros. Momentum that carried the gradient alone
    would end at the optimum of (1 - momentum) * alpha."""
    X = np.random.default_rng(0).normal(size=(240, 6))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1] + np.random.default_rng(1).normal(size=240), [-0.7, 0.7])
    since_1_8 = parse_version(sklearn.__version__) >= parse_version("1.8")  # penalty= deprecated
    sk = LogisticRegression(**({} if since_1_8 else {"penalty": "elasticnet"}), l1_ratio=l1_ratio,
                            C=1 / (240 * 0.05), solver="saga", max_iter=100_000, tol=1e-12).fit(X, y)
    ours = LinearClassifier(penalty="elasticnet", alpha=0.05, l1_ratio=l1_ratio, l1_method=method,
                            batch_size=240, max_epochs=1500, dtype="float64", random_state=0,
                            **OPTIMIZERS[optimizer]).fit(X, y)
    assert 6 <= np.sum(sk.coef_ == 0) <= 14
    np.testing.assert_array_equal(ours.coef_ == 0, sk.coef_ == 0)
    np.testing.assert_allclose(ours.coef_, sk.coef_, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("penalty,l1_ratio", [("l2", 0.0), ("l1", 1.0), ("elasticnet", 0.3)])
def test_regression_without_hidden_layers_is_scikit_learns_ridge_lasso_or_elastic_net(optimizer, penalty,
                                                                                        l1_ratio):
    """Half the mean squared error + alpha * (l1_ratio |w|_1 + (1 - l1_ratio) / 2 |w|^2) is scikit-learn's
    ElasticNet objective at the same alpha (Lasso at l1_ratio 1) and Ridge's at alpha * n_samples."""
    rng_ = np.random.default_rng(0)
    X = rng_.normal(size=(200, 8))
    y = X @ np.array([2, -1, 0.5, 0, 0, 0, 0.1, 0]) + 0.5 * rng_.normal(size=200)
    sk = (Ridge(alpha=0.05 * 200) if penalty == "l2"
          else ElasticNet(alpha=0.05, l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000)).fit(X, y)
    ours = MLPRegressor(hidden_layer_sizes=(), penalty=penalty, alpha=0.05, batch_size=200, max_epochs=3000,
                        dtype="float64", **{"l1_ratio": l1_ratio} if penalty == "elasticnet" else {},
                        **OPTIMIZERS[optimizer] | {"learning_rate": 0.01}).fit(X, y)
    np.testing.assert_allclose(ours.coefs_[0].ravel(), sk.coef_, atol=1e-6)
    np.testing.assert_array_equal(ours.coefs_[0].ravel() == 0, sk.coef_ == 0)
    assert penalty == "l2" or np.sum(sk.coef_ == 0) >= 2


@pytest.mark.parametrize("kind,activation", [("classifier", "relu"), ("classifier", "tanh"),
                                             ("classifier", "logistic"), ("regressor", "relu")])
def test_mlp_takes_scikit_learns_steps(kind, activation):
    """From the same weights, full-batch SGD steps equal scikit-learn's MLPs' to rounding: the same
    forward and backward pass (three classes; two regression targets, half the squared error summed over
    them), and scikit-learn's alpha is ours times the batch size (its L2 term is alpha / (2 n_batch) |W|^2)."""
    if kind == "classifier":
        X, y = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0)
        Ours, Theirs = MLPClassifier, SkMLPClassifier
    else:
        X, y = make_regression(n_samples=120, n_features=6, n_targets=2, noise=1.0, random_state=0)
        y /= y.std()
        Ours, Theirs = MLPRegressor, SkMLPRegressor
    common = dict(hidden_layer_sizes=(7, 5), activation=activation, momentum=0.0, batch_size=120,
                  shuffle=False, warm_start=True, random_state=0)
    ours = Ours(optimizer="sgd", learning_rate=0.05, max_epochs=1, alpha=0.01, dtype="float64", **common).fit(X, y)
    sk = Theirs(solver="sgd", learning_rate_init=0.05, max_iter=1, alpha=0.01 * 120, tol=0,
                n_iter_no_change=10**9, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X, y)
        for theirs, mine in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
            theirs[...] = mine
        ours.set_params(max_epochs=20).fit(X, y)
        sk.set_params(max_iter=20).fit(X, y)
    for theirs, mine in zip(sk.coefs_ + sk.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)


# Under SGD, 200 epochs at lr 0.01 reach the zeros more slowly than Adam does.
L1_SETTINGS = {
    "adam": (dict(optimizer="adam"), 1e-3, 3e-3),
    "sgd": (dict(optimizer="sgd", learning_rate=0.01), 3e-3, 2e-2),
}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_l1_gives_real_zeros_in_a_network(digits_split, optimizer):
    X_tr, X_te, y_tr, y_te = digits_split
    opt, alpha, larger = L1_SETTINGS[optimizer]
    none = MLPClassifier(penalty=None, random_state=0, **opt).fit(X_tr, y_tr)
    prox = MLPClassifier(penalty="l1", alpha=alpha, l1_method="proximal", random_state=0, **opt).fit(X_tr, y_tr)
    assert count_zeros(prox) >= 0.5
    assert prox.score(X_te, y_te) >= none.score(X_te, y_te) - 0.01
    sub = MLPClassifier(penalty="l1", alpha=alpha, l1_method="subgradient", random_state=0, **opt).fit(X_tr, y_tr)
    assert count_zeros(sub) < 0.01
    cum = MLPClassifier(penalty="l1", alpha=alpha, l1_method="cumulative", random_state=0, **opt).fit(X_tr, y_tr)
    assert count_zeros(cum) >= 0.5
    # At a larger alpha, whole input features lose every outgoing weight, constant pixels first.
    strong = MLPClassifier(penalty="l1", alpha=larger, random_state=0, **opt).fit(X_tr, y_tr)
    dead_inputs = np.all(strong.coefs_[0] == 0, axis=1)
    constant = X_tr.std(axis=0) == 0
    assert constant.any() and dead_inputs[constant].all()
    assert dead_inputs.sum() > constant.sum()


def test_max_norm_bounds_hidden_units(digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(30, 20), max_norm=0.5, learning_rate=0.01, max_epochs=5,
                        random_state=0).fit(X_tr, y_tr)
    for W in clf.coefs_[:-1]:
        assert np.linalg.norm(W, axis=0).max() <= 0.5 * (1 + 1e-6)
    assert np.linalg.norm(clf.coefs_[-1], axis=0).max() > 0.5  # the output layer is not constrained
    # A linear model has no hidden units: its one layer is the one constrained (each class's weight vector).
    free = LinearClassifier(max_epochs=5, random_state=0).fit(X_tr, y_tr)
    linear = LinearClassifier(max_norm=0.5, max_epochs=5, random_state=0).fit(X_tr, y_tr)
    assert np.linalg.norm(free.coef_, axis=1).max() > 0.5 >= np.linalg.norm(linear.coef_, axis=1).max() / (1 + 1e-6)


def test_early_stopping_restores_best_and_reports(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(64,), learning_rate=0.01, early_stopping=True, patience=3,
                        max_epochs=200, random_state=0).fit(X_tr, y_tr, validation_data=(X_te, y_te))
    assert clf.stop_reason_ == "patience"
    assert clf.n_epochs_ == len(clf.history_["val_loss"]) < 200
    assert clf.best_epoch_ == int(np.argmin(clf.history_["val_loss"]))
    restored_val = clf.early_stopping_.best
    from shrinkage.losses import SoftmaxCrossEntropy
    logits = clf._output(X_te)
    restored_loss = SoftmaxCrossEntropy().value(logits, np.searchsorted(clf.classes_, y_te))
    assert restored_loss == pytest.approx(restored_val, rel=1e-6)


def test_early_stopping_holds_out_a_stratified_fraction(digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, validation_fraction=0.2, max_epochs=3,
                        random_state=0).fit(X_tr, y_tr)
    assert set(clf.history_) >= {"loss", "val_loss", "val_score", "time"}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_early_stopping_on_the_training_loss_trains_on_every_sample(cls, digits_split):
    """Nothing watches a validation value, so nothing is held out: the fit is the plain fit, with the
    best training-loss epoch's weights restored."""
    X_tr, _, y_tr, _ = digits_split
    settings = dict(hidden_layer_sizes=(16,), learning_rate=0.02, max_epochs=8, random_state=0)
    rule = EarlyStopping(monitor="loss", patience=2)
    watched = cls(early_stopping=rule, **settings).fit(X_tr, y_tr)
    plain = cls(**settings).fit(X_tr, y_tr)
    assert set(watched.history_) == {"loss", "time"}
    assert watched.history_["loss"] == plain.history_["loss"]  # the same samples, batches and steps
    assert watched.best_epoch_ == int(np.argmin(watched.history_["loss"]))
    held_out = cls(early_stopping=EarlyStopping(patience=2), **settings).fit(X_tr, y_tr)
    assert "val_loss" in held_out.history_ and held_out.history_["loss"] != plain.history_["loss"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_scikit_learn_names_for_epochs_and_loss_curve(digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X_tr, y_tr)
    assert clf.n_iter_ == clf.n_epochs_ == 3
    assert clf.loss_curve_ == clf.history_["loss"] and len(clf.loss_curve_) == 3
    clf.partial_fit(X_tr, y_tr)
    assert clf.n_iter_ == 4 and len(clf.loss_curve_) == 4
    assert not hasattr(MLPClassifier(), "n_iter_")  # unfitted: no attribute, as scikit-learn
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.history_["loss"])
    stopped = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, patience=1, max_epochs=50,
                            random_state=0).fit(X_tr, y_tr)
    assert stopped.validation_scores_ == stopped.history_["val_score"] and stopped.best_loss_ is None
    assert stopped.best_validation_score_ == stopped.history_["val_score"][stopped.best_epoch_]
    for name in ("validation_scores_", "best_validation_score_", "best_loss_"):
        assert not hasattr(MLPClassifier(), name)


def test_convergence_warning_only_when_epochs_run_out(digits_split):
    X_tr, _, y_tr, _ = digits_split
    with pytest.warns(ConvergenceWarning, match="ran all max_epochs=2 epochs") as caught:
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, learning_rate=0.01, random_state=0).fit(X_tr, y_tr)
    assert caught[0].filename == __file__  # the user's fit line
    with pytest.warns(ConvergenceWarning) as caught:  # through scikit-learn: its frame, the first outside
        make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2,
                                                      learning_rate=0.01)).fit(X_tr, y_tr)
    assert "sklearn" in caught[0].filename
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, patience=0, learning_rate=0.05,
                      max_epochs=100, random_state=0).fit(X_tr, y_tr)
    # the advice fits the settings: early stopping is not suggested to a fit that has it
    with pytest.warns(ConvergenceWarning, match=r"converged\. Increase max_epochs or set early_stopping=True\.$"):
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=1, learning_rate=0.01, random_state=0).fit(X_tr, y_tr)
    with pytest.warns(ConvergenceWarning, match=r"converged\. Increase max_epochs \(early stopping had not "
                                                r"stopped it\)\.$"):
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=4, early_stopping=True, learning_rate=0.01,
                      random_state=0).fit(X_tr, y_tr)


def test_a_fit_that_learned_nothing_says_so_and_why(digits_split):
    X_tr, _, y_tr, _ = digits_split
    start = r"ended with a training loss of [\d.e+]+, no lower than {} gives \([\d.]+\): it has learned nothing"
    # a learning rate that blows training up on unscaled data: finite losses, so no divergence stop
    assert issubclass(LearnedNothingWarning, ConvergenceWarning)  # filtered along with it
    with pytest.warns(LearnedNothingWarning, match=start.format("predicting the class frequencies") + r" from X\. Its "
                      r"loss is above twice that of all-zero outputs \(2\.303\): training blew up; lower learning_rate "
                      r"\(now 1\.0\) or standardize X\.$") as got:
        clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate=1.0, max_epochs=10, random_state=0)
        clf.fit(X_tr * 100, y_tr)
    assert len(got) == 1 and got[0].filename == __file__ and clf.stop_reason_ == "max_epochs"
    with pytest.warns(ConvergenceWarning, match=r"learned nothing from X\. Its loss is above twice"):  # restored too
        clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate=1.0, early_stopping=True, random_state=0)
        clf.fit(X_tr * 100, y_tr)
    assert clf.best_epoch_ is not None and clf.stop_reason_ == "patience"
    # too few epochs and too small a learning rate for targets far from 0
    with pytest.warns(ConvergenceWarning, match=start.format("predicting the mean target") + r" from X\. Check "
                      r"learning_rate \(now 0\.001\) against the data's scale \(standardize X and y\), max_epochs "
                      r"\(now 3\) and the penalty \(alpha=0\.001\)\.$"):
        MLPRegressor(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X_tr, y_tr + 1000.0)
    # a penalty that leaves nothing but the biases
    with pytest.warns(ConvergenceWarning, match=r"learned nothing from X\. Check .*the penalty \(alpha=10\.0\)\.$"):
        MLPClassifier(hidden_layer_sizes=(8,), alpha=10.0, max_epochs=30, learning_rate=0.01,
                      random_state=0).fit(X_tr, y_tr)
    with pytest.warns(ConvergenceWarning, match=start.format("all-zero scores")):
        LinearClassifier(loss="hinge", penalty=None, learning_rate=100.0, max_epochs=5, random_state=0).fit(
            X_tr * 100, y_tr)
    with warnings.catch_warnings():  # a sound fit, and partial_fit (one pass, by design short), stay silent
        warnings.simplefilter("error", ConvergenceWarning)
        LinearClassifier(max_epochs=300, random_state=0).fit(X_tr, y_tr)
        MLPClassifier(hidden_layer_sizes=(8,)).partial_fit(X_tr, y_tr, classes=np.unique(y_tr))


def test_convergence_warning_only_while_the_training_loss_still_falls(digits_split):
    X_tr, _, y_tr, _ = digits_split
    with pytest.warns(ConvergenceWarning, match=r"ran all max_epochs=20 epochs while its training loss was "
                                                r"still falling \(\d+\.\d% over the last 10 epochs\)"):
        LinearClassifier(max_epochs=20, random_state=0).fit(X_tr, y_tr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = LinearClassifier(max_epochs=300, random_state=0).fit(X_tr, y_tr)  # converged: no false alarm
    losses = clf.history_["loss"]
    assert (min(losses[:-10]) - min(losses[-10:])) / min(losses[:-10]) < 1e-3


def test_early_stopping_says_where_the_weights_are_when_the_held_out_part_has_none():
    # scikit-learn's check: weights on one class only; with early stopping the held-out part may get none.
    check_classifiers_one_label_sample_weights("LinearClassifier", LinearClassifier(early_stopping=True))
    X = np.random.default_rng(0).normal(size=(100, 3))
    weight = np.zeros(100)
    weight[:3] = 1.0
    with pytest.raises(ValueError, match=re.escape(
            "sample_weight is 0 on every sample of the validation_fraction=0.1 held out for early stopping "
            "(positive weights: 3 of 100 samples); pass validation_data=(X_val, y_val)")):
        MLPRegressor(early_stopping=True, random_state=0).fit(X, X[:, 0], sample_weight=weight)


def test_no_convergence_warning_for_a_fit_exact_to_rounding():
    # An exact linear target: the loss falls from 1e-27 to 1e-28, 100% "still falling", and means nothing.
    X = np.random.default_rng(0).normal(size=(100, 2))
    reg = MLPRegressor(hidden_layer_sizes=(), penalty=None, optimizer="sgd", momentum=0.0, learning_rate=0.5,
                       batch_size=100, max_epochs=50, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.fit(X, X @ [1.0, 2.0])
    assert reg.history_["loss"][-1] < 1e-20 < reg.history_["loss"][-10]


@pytest.mark.parametrize("activation,gain", [("relu", 1.0), ("tanh", 1.0), ("logistic", np.sqrt(2.0))])
def test_weights_start_glorot_uniform_as_documented(activation, gain):
    clf = MLPClassifier(hidden_layer_sizes=(300,), activation=activation, random_state=0)
    clf.partial_fit(np.zeros((2, 200)), [0, 1], classes=[0, 1, 2])  # zero inputs: one step leaves W[0] as drawn
    W = clf.coefs_[0]
    bound = gain * np.sqrt(6.0 / (200 + 300))
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound  # 60,000 draws reach the bound


def test_recent_fall_compares_the_best_loss_of_the_last_epochs_with_the_best_before():
    from shrinkage.network_estimator import _recent_fall

    assert _recent_fall([5.0]) == (None, 0)
    fall, k = _recent_fall([4.0, 3.0, 3.5, 1.0, 2.0, 1.5])  # fewer than 2 x 10 epochs: the last half
    assert k == 3 and fall == pytest.approx((3.0 - 1.0) / 3.0)
    assert _recent_fall([0.0, 0.0, 0.0, 0.0]) == (0.0, 2)  # a loss of 0: nothing left to fall
    assert _recent_fall(list(np.linspace(2.0, 1.0, 30)))[1] == 10


def test_partial_fit_continues_from_user_weights_and_optimizer_state(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    classes = np.unique(y_tr)
    with pytest.raises(ValueError, match="classes must be given on the first call"):
        MLPClassifier().partial_fit(X_tr, y_tr)
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate=0.01, random_state=0)
    for _ in range(15):
        clf.partial_fit(X_tr, y_tr, classes=classes)
    assert clf.score(X_te, y_te) > 0.9 and clf.n_epochs_ == 15
    adam_t = clf._updater_.optimizer.t
    clf.partial_fit(X_tr[:100], y_tr[:100])
    assert clf._updater_.optimizer.t == adam_t + 1  # 100 samples, one batch: state kept
    zeroed = [np.zeros_like(W) for W in clf.coefs_]
    clf.coefs_ = zeroed
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    clf.partial_fit(X_tr[:0 + 200], y_tr[:200])
    assert np.abs(clf.coefs_[-1]).max() < 0.1  # continued from the zeros the user set



def test_partial_fit_continues_from_weights_assigned_with_the_fitted_shapes(digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(16,), optimizer="sgd", learning_rate=1e-3, random_state=0)
    clf.partial_fit(X_tr, y_tr, classes=np.unique(y_tr))
    rng = np.random.default_rng(1)
    mine = [rng.normal(scale=0.1, size=W.shape).astype(W.dtype) for W in clf.coefs_]
    clf.coefs_ = [W.copy() for W in mine]  # new arrays, as many and as shaped as the fitted ones
    clf.partial_fit(X_tr[:50], y_tr[:50])  # one small step from them
    for W, W0 in zip(clf.coefs_, mine):
        assert 0 < np.abs(W - W0).max() < 1e-2


def test_partial_fit_starts_from_weights_set_before_the_first_call(digits_split):
    X_tr, _, y_tr, _ = digits_split
    rng = np.random.default_rng(1)
    mine = [rng.normal(scale=0.1, size=shape).astype(np.float32) for shape in ((64, 16), (16, 10))]
    clf = MLPClassifier(hidden_layer_sizes=(16,), optimizer="sgd", learning_rate=1e-3, random_state=0)
    clf.coefs_, clf.intercepts_ = [W.copy() for W in mine], [np.zeros(16, np.float32), np.zeros(10, np.float32)]
    clf.partial_fit(X_tr[:50], y_tr[:50], classes=np.arange(10))  # one small step from them
    for W, W0 in zip(clf.coefs_, mine):
        assert 0 < np.abs(W - W0).max() < 1e-2
    linear = LinearClassifier(optimizer="sgd", learning_rate=1e-3)
    linear.coef_, linear.intercept_ = mine[0][:, :10].T, np.zeros(10, np.float32)
    linear.partial_fit(X_tr[:50], y_tr[:50], classes=np.arange(10))
    assert 0 < np.abs(linear.coef_ - mine[0][:, :10].T).max() < 1e-2
    unfitted = LinearClassifier()
    unfitted.coef_, unfitted.intercept_ = mine[0][:, :10].T, np.zeros(10, np.float32)
    with pytest.raises(NotFittedError):  # weights alone are not a fitted model: no classes_, no n_features_in_
        unfitted.predict(X_tr)
    alone = LinearClassifier()
    alone.coef_ = mine[0][:, :10].T  # without intercept_
    with pytest.raises(ValueError, match=r"coefs_ was set without intercepts_; set both"):
        alone.partial_fit(X_tr[:50], y_tr[:50], classes=np.arange(10))


def test_partial_fit_after_a_fit_that_failed_on_its_data_starts_afresh(digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X_tr, np.zeros(len(y_tr)))  # refused after the features were checked
    clf.partial_fit(X_tr, y_tr, classes=np.arange(10))
    assert clf.n_epochs_ == 1 and [W.shape for W in clf.coefs_] == [(64, 8), (8, 10)]


@pytest.mark.parametrize("shapes", [
    [(10, 8), (8, 10)],  # another number of features
    [(64, 8), (7, 10)],  # layers that do not chain
    [(64, 8), (8, 3)],  # fewer outputs than classes: predict would only ever name the first three
])
def test_weights_that_do_not_fit_the_data_are_refused_by_name(digits_split, shapes):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X_tr, y_tr)
    clf.coefs_ = [np.zeros(shape, np.float32) for shape in shapes]
    clf.intercepts_ = [np.zeros(shape[1], np.float32) for shape in shapes]
    words = "coefs_ and intercepts_ must chain from the 64 input features to the 10 outputs"
    for call in (clf.partial_fit, clf.predict, clf.predict_proba):
        with pytest.raises(ValueError, match=re.escape(words)):
            call(X_tr, y_tr) if call == clf.partial_fit else call(X_tr)

def test_every_estimator_takes_partial_fit_with_the_shared_signature(digits_split):
    X_tr, _, y_tr, _ = digits_split
    for est in (MLPClassifier(hidden_layer_sizes=(8,)), LinearClassifier()):
        est.partial_fit(X_tr, y_tr, classes=np.unique(y_tr))
    MLPRegressor(hidden_layer_sizes=(8,)).partial_fit(X_tr, y_tr.astype(float), classes=None)
    with pytest.raises(ValueError, match="classes is only for classifiers"):
        MLPRegressor().partial_fit(X_tr, y_tr.astype(float), classes=[0, 1])


@pytest.mark.parametrize("classes,labels", [
    ([3, 5, 7], [[5, 3, 7, 7], [7], [2], [8], [5, 9], [5.0, 3.0], np.array([3, 5], dtype=np.uint8)]),
    (["cat", "dog"], [["dog", "cat", "dog"], ["emu"], ["ant", "dog"], np.array(["cat"], dtype=object)]),
])
def test_labels_of_known_classes_encode_as_the_full_check_does(classes, labels, monkeypatch):
    """Labels of a fitted classifier's kind skip scikit-learn's type inspection (partial_fit, validation
    data): the indices, and the error for a label outside the classes, must be what the full check gives."""
    X = np.zeros((len(classes), 2))
    clf = MLPClassifier(hidden_layer_sizes=(2,)).partial_fit(X, classes, classes=classes)

    def encode(y):
        try:
            return clf._encode_targets(clf._validate_xy(np.zeros((len(y), 2)), y, reset=False)[1], reset=False)
        except ValueError as error:
            return str(error)

    fast = [encode(y) for y in labels]
    monkeypatch.setattr(type(clf), "_indices_of_known_labels", lambda self, y: None)
    full = [encode(y) for y in labels]
    assert [f if isinstance(f, str) else f.tolist() for f in fast] == [
        f if isinstance(f, str) else f.tolist() for f in full]
    assert any(isinstance(f, str) for f in full) and any(not isinstance(f, str) for f in full)


def test_partial_fit_keeps_the_first_calls_classes_when_a_batch_lacks_some():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.repeat([3, 5, 7], 10)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[3, 5, 7])
    clf.partial_fit(X[:20], y[:20])  # only 3 and 5 in this batch
    assert clf.classes_.tolist() == [3, 5, 7] and clf.predict_proba(X).shape == (30, 3)
    with pytest.raises(ValueError, match=r"y contains labels not seen in the classes \[3, 5, 7\]: \[9\]"):
        clf.partial_fit(X[:2], [3, 9])
    many = MLPClassifier(hidden_layer_sizes=(2,)).partial_fit(X[:2], [0, 1], classes=np.arange(1000))
    with pytest.raises(ValueError, match=re.escape("in the classes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 990 more]: "
                                                   "[1000, 1001]")):  # a message about 1,000 classes is one line
        many.partial_fit(X[:2], [1000, 1001])


def test_partial_fit_applies_settings_changed_by_set_params(digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(16,), optimizer="sgd", learning_rate=0.1, momentum=0.9, random_state=0)
    clf.partial_fit(X_tr, y_tr, classes=np.unique(y_tr)).partial_fit(X_tr, y_tr)
    before = [W.copy() for W in clf.coefs_]
    clf.set_params(learning_rate=1e-9).partial_fit(X_tr, y_tr)  # the velocity stays, its steps shrink with lr
    assert max(np.abs(W - W0).max() for W, W0 in zip(clf.coefs_, before)) < 1e-6
    clf.set_params(learning_rate=0.1, penalty="l1", alpha=0.05).partial_fit(X_tr, y_tr)
    assert np.mean(clf.coefs_[0] == 0) > 0.03  # the new penalty acts at once (exact zeros; none before)
    clf.set_params(dtype="float64").partial_fit(X_tr, y_tr)
    assert clf._updater_.optimizer.update.dtype == clf.coefs_[0].dtype == np.float64
    with pytest.raises(ValueError, match=r"learning_rate must be a float in \(0, inf\); got -1.0"):
        clf.set_params(learning_rate=-1.0).partial_fit(X_tr, y_tr)
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(8,\) does not match the fitted network's "
                                         r"hidden layers \(16,\); partial_fit continues that network"):
        clf.set_params(learning_rate=0.1, hidden_layer_sizes=(8,)).partial_fit(X_tr, y_tr)
    # weights the user sets with other shapes are continued (DESIGN.md), the parameter left as it was built
    clf.set_params(hidden_layer_sizes=(16,))
    clf.coefs_ = [np.zeros((64, 4), np.float32), np.zeros((4, 10), np.float32)]
    clf.intercepts_ = [np.zeros(4, np.float32), np.zeros(10, np.float32)]
    clf.partial_fit(X_tr, y_tr)
    assert [W.shape for W in clf.coefs_] == [(64, 4), (4, 10)]


# Not input dropout: on sparse X only the stored entries draw a mask (test_layers), so its draws differ.
SPARSE_CASES = [
    (LinearClassifier, dict(penalty="l1", alpha=1e-3)),
    (MLPClassifier, dict(hidden_layer_sizes=(16,), dropout=0.2)),
    (MLPClassifier, dict(hidden_layer_sizes=(16,), early_stopping=True, optimizer="sgd", penalty="elasticnet")),
    (MLPRegressor, dict(hidden_layer_sizes=(8,), max_norm=1.0)),
]


@pytest.mark.parametrize("cls,params", SPARSE_CASES)
def test_sparse_input_trains_as_the_same_dense_data(digits_split, cls, params):
    import scipy.sparse as sp

    X_tr, X_te, y_tr, _ = digits_split
    X_tr, X_te = np.where(X_tr > 0.5, X_tr, 0.0), np.where(X_te > 0.5, X_te, 0.0)  # about half zeros
    y = y_tr.astype(float) if cls is MLPRegressor else y_tr
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    fits = [cls(max_epochs=4, random_state=0, **params).fit(data, y, sample_weight=weight)
            for data in (X_tr, sp.csr_matrix(X_tr))]
    for W_sparse, W_dense in zip(fits[1].coefs_, fits[0].coefs_):
        np.testing.assert_allclose(W_sparse, W_dense, rtol=1e-4, atol=1e-5)  # float32 sums in another order
    np.testing.assert_allclose(fits[1].predict(sp.csc_matrix(X_te)), fits[0].predict(X_te), rtol=1e-3, atol=1e-4)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*partial_fit ignores early_stopping")  # tested on its own
        clf = fits[1].partial_fit(sp.csr_matrix(X_tr), y)
    assert np.isfinite(clf.coefs_[0]).all()


def test_input_dropout_on_sparse_data_learns_as_on_dense(digits_split):
    """Sparse X keeps input dropout sparse (other draws than dense X's, the same distribution): both
    fits reach the same accuracy, and prediction and Monte Carlo passes take sparse and dense X alike."""
    import scipy.sparse as sp

    X_tr, X_te, y_tr, y_te = digits_split
    X_tr, X_te = np.where(X_tr > 0.5, X_tr, 0.0), np.where(X_te > 0.5, X_te, 0.0)
    params = dict(hidden_layer_sizes=(32,), input_dropout=0.2, max_epochs=30, random_state=0)
    dense = MLPClassifier(**params).fit(X_tr, y_tr)
    sparse = MLPClassifier(**params).fit(sp.csr_matrix(X_tr), y_tr)
    assert abs(sparse.score(X_te, y_te) - dense.score(X_te, y_te)) < 0.03
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(X_te)), sparse.predict_proba(X_te), rtol=1e-5)
    mc = [sparse.predict_proba(data, mc_samples=3, random_state=0) for data in (sp.csr_matrix(X_te), X_te)]
    assert mc[0].shape == (len(X_te), 10) and np.isfinite(mc[0]).all() and np.abs(mc[0] - mc[1]).max() > 0


def test_linear_classifier_coef_shape_and_setter(digits_split):
    X_tr, _, y_tr, _ = digits_split
    lin = LinearClassifier(max_epochs=3).fit(X_tr, y_tr)
    assert lin.coef_.shape == (10, 64) and lin.intercept_.shape == (10,)
    lin.coef_ = np.zeros((10, 64))
    assert np.all(lin.coefs_[0] == 0) and lin.coefs_[0].shape == (64, 10)


def test_hinge_classifier_has_no_predict_proba(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    clf = LinearClassifier(loss="hinge", random_state=0).fit(X_tr, y_tr)
    assert not hasattr(clf, "predict_proba") and clf.score(X_te, y_te) > 0.93


def test_decision_function_orders_classes_as_predict(digits_split):
    X_tr, X_te, y_tr, _ = digits_split
    for clf in (LinearClassifier(loss="hinge", max_epochs=5, random_state=0),
                MLPClassifier(max_epochs=5, random_state=0)):
        scores = clf.fit(X_tr, y_tr).decision_function(X_te)
        assert scores.shape == (len(X_te), 10)
        np.testing.assert_array_equal(clf.classes_[scores.argmax(axis=1)], clf.predict(X_te))
    binary = LinearClassifier(max_epochs=5, random_state=0).fit(X_tr, np.where(y_tr < 5, "low", "high"))
    d = binary.decision_function(X_te)
    assert d.shape == (len(X_te),)  # scikit-learn's binary convention: score of classes_[1]
    np.testing.assert_array_equal(binary.classes_[(d > 0).astype(int)], binary.predict(X_te))
    p = binary.predict_proba(X_te).astype(np.float64)
    np.testing.assert_allclose(d, np.log(p[:, 1] / p[:, 0]), atol=1e-3)  # the log-odds


def test_hinge_classifier_works_with_score_based_tools():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import cross_val_score

    X, y = make_classification(n_samples=300, n_features=10, random_state=0)
    svm = make_pipeline(StandardScaler(), LinearClassifier(loss="hinge", max_epochs=20, random_state=0))
    assert cross_val_score(svm, X, y, cv=3, scoring="roc_auc", error_score="raise").min() > 0.8
    calibrated = CalibratedClassifierCV(svm, cv=3).fit(X, y)
    np.testing.assert_allclose(calibrated.predict_proba(X).sum(axis=1), 1)


def test_monte_carlo_dropout_prediction(digits_split):
    X_tr, X_te, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.5, max_epochs=20, random_state=0).fit(X_tr, y_tr)
    plain = clf.predict_proba(X_te)
    np.testing.assert_array_equal(plain, clf.predict_proba(X_te))  # deterministic without MC
    mc = clf.predict_proba(X_te, mc_samples=20, random_state=0)
    np.testing.assert_array_equal(mc, clf.predict_proba(X_te, mc_samples=20, random_state=0))
    assert np.abs(mc - plain).max() > 1e-2  # dropout on in every pass (not rounding of 20 equal passes)
    np.testing.assert_allclose(mc.sum(axis=1), 1, rtol=1e-5)
    assert np.mean(mc.argmax(1) == plain.argmax(1)) > 0.9
    np.testing.assert_array_equal(clf.predict(X_te, mc_samples=20, random_state=0), clf.classes_[mc.argmax(1)])
    np.testing.assert_allclose(clf.predict_log_proba(X_te, mc_samples=20, random_state=0), np.log(mc), rtol=1e-5)


@pytest.mark.parametrize("mc_samples", [0, 5])
def test_log_probabilities_stay_finite_where_probabilities_round_to_zero(digits_split, mc_samples):
    """A confident float32 model's smallest probabilities round to 0; their logarithms, computed by
    log-sum-exp from the scores, are finite and agree with float64 where the probabilities are not 0."""
    X_tr, X_te, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(32,), dropout=0.2, max_epochs=5, random_state=0).fit(X_tr, y_tr)
    clf.coefs_[-1] *= 200  # in place: scores hundreds apart
    proba = clf.predict_proba(X_te, mc_samples=mc_samples, random_state=0)
    assert (proba == 0).mean() > 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero in log
        log_proba = clf.predict_log_proba(X_te, mc_samples=mc_samples, random_state=0)
    assert log_proba.dtype == np.float32 and np.isfinite(log_proba).all()
    assert log_proba.min() < -200  # far below float32's smallest probability, not clipped
    shown = proba > 1e-30
    np.testing.assert_allclose(log_proba[shown], np.log(proba[shown].astype(np.float64)), rtol=1e-4, atol=1e-5)
    if not mc_samples:
        scores = clf.decision_function(X_te).astype(np.float64)
        expected = scores - scores.max(1, keepdims=True)
        expected -= np.log(np.exp(expected).sum(1, keepdims=True))
        np.testing.assert_allclose(log_proba, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_monte_carlo_dropout_refuses_a_bad_count_and_a_model_without_dropout(digits_split):
    X_tr, X_te, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(8,), dropout=0.5, max_epochs=2, random_state=0).fit(X_tr, y_tr)
    for bad in (-1, 2.5, "3", True):  # -1 gave NaN probabilities, 2.5 a TypeError from inside
        with pytest.raises(ValueError, match=re.escape(f"mc_samples must be an int >= 0 or None; got {bad!r}")):
            clf.predict_proba(X_te, mc_samples=bad)
    np.testing.assert_array_equal(clf.predict_proba(X_te, mc_samples=None), clf.predict_proba(X_te))
    plain = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="mc_samples=3 needs dropout: this model has none"):
        plain.predict(X_te, mc_samples=3)
    inputs_only = LinearClassifier(input_dropout=0.2, max_epochs=2, random_state=0).fit(X_tr, y_tr)
    assert inputs_only.predict(X_te, mc_samples=3, random_state=0).shape == (len(X_te),)


@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_dropout_modes_both_train_well(digits_split, mode):
    X_tr, X_te, y_tr, y_te = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.3, dropout_mode=mode, random_state=0,
                        learning_rate=0.01, max_epochs=50).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.95


def test_string_labels_and_regressor_multioutput():
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=3, random_state=0)
    labels = np.array(["cat", "dog", "eel"])[y]
    clf = MLPClassifier(learning_rate=0.01, max_epochs=50, random_state=0).fit(X, labels)
    assert set(clf.predict(X)) <= set(labels) and clf.score(X, labels) > 0.8
    Xr, yr = make_regression(n_samples=100, n_features=4, n_targets=2, random_state=0)
    reg = MLPRegressor(max_epochs=10, random_state=0).fit(Xr, yr / yr.std())
    assert reg.predict(Xr).shape == (100, 2)


@pytest.mark.parametrize(
    "kw,message",
    [
        (dict(dropout=1.0), r"dropout must be a float in \[0, 1\); got 1.0"),
        (dict(alpha=-1), r"alpha must be a float in \[0, inf\); got -1"),
        (dict(penalty="l3"), r"penalty must be None or one of 'l2', 'l1', 'elasticnet'; got 'l3'"),
        (dict(hidden_layer_sizes=(0,)), r"hidden_layer_sizes must be a tuple of ints >= 1; got \(0,\)"),
        (dict(optimizer="rmsprop"), r"optimizer must be one of 'sgd', 'adam'; got 'rmsprop'"),
        (dict(max_norm=0), r"max_norm must be None or a float in \(0, inf\); got 0"),
        (dict(dtype="int8"), r"dtype must be 'float32' or 'float64'; got 'int8'"),
    ],
)
def test_bad_parameters_name_parameter_expectation_and_value(digits_split, kw, message):
    X_tr, _, y_tr, _ = digits_split
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**kw).fit(X_tr, y_tr)


def test_documented_defaults():
    """DESIGN.md's defaults: changing one of them must fail here."""
    for est in (MLPClassifier(), MLPRegressor(), LinearClassifier()):
        p = est.get_params()
        assert p["l1_method"] == "proximal" and p["dropout_mode"] == "inverted" and p["dtype"] == "float32"
        assert p["beta_1"] == 0.9 and p["beta_2"] == 0.999 and p["epsilon"] == 1e-8
        assert p["weight_decay"] == 0.0 and p["restore_best_weights"] is True and p["shuffle"] is True
    from shrinkage import EarlyStopping

    es = EarlyStopping()
    assert (es.monitor, es.mode, es.patience, es.min_delta, es.baseline, es.start_from_epoch,
            es.restore_best_weights, es.criterion, es.strip) == ("val_loss", "min", 5, 0.0, None, 0, True,
                                                                 "patience", 5)


def test_warm_start_continues_from_the_current_weights(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_epochs=20, learning_rate=0.01, random_state=0).fit(X_tr, y_tr)
    before = [W.copy() for W in clf.coefs_]
    clf.set_params(warm_start=True, max_epochs=1, learning_rate=1e-9)
    clf.fit(X_tr, y_tr)
    for a, b in zip(before, clf.coefs_):
        np.testing.assert_allclose(a, b, atol=1e-5)  # a tiny step from where it was
    assert clf.n_epochs_ == len(clf.history_["loss"]) == 1  # the record is this fit's (documented)
    cold = MLPClassifier(hidden_layer_sizes=(32,), max_epochs=1, learning_rate=1e-9, random_state=0).fit(X_tr, y_tr)
    assert not np.allclose(cold.coefs_[0], before[0], atol=1e-3)
    clf.set_params(hidden_layer_sizes=(8,))  # other shapes: a fresh start
    assert clf.fit(X_tr, y_tr).coefs_[0].shape == (64, 8)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("mode", ["inverted", "classic"])
def test_network_gradients_with_dropout_for_every_activation(activation, mode):
    """The estimators' own layer stack (input and hidden dropout) against central differences,
    with the same dropout masks in every forward pass."""
    from conftest import numerical_grad
    from shrinkage.losses import SoftmaxCrossEntropy

    X, y = make_classification(n_samples=40, n_features=5, n_informative=3, n_classes=3, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(7, 6), activation=activation, dropout=0.5, input_dropout=0.2,
                        dropout_mode=mode, dtype="float64", max_epochs=1, batch_size=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    params = clf._parameters()
    # Biases away from 0: a unit whose inputs are all dropped then sits off ReLU's kink.
    params.data[params.n_weights:] = np.random.default_rng(1).uniform(0.1, 0.5, len(params.data) - params.n_weights)
    network, loss = clf._network(params), SoftmaxCrossEntropy()
    xb, yb = X[:8], np.searchsorted(clf.classes_, y[:8])
    objective = lambda: loss.value(network.forward(xb.copy(), training=True, rng=np.random.default_rng(3)), yb)  # noqa: E731
    _, grad = loss(network.forward(xb.copy(), training=True, rng=np.random.default_rng(3)), yb)
    network.backward(grad)
    analytic, numeric = params.grad.copy(), numerical_grad(objective, params.data)
    # Relative to the whole gradient: some entries are ~1e-7, below central differences' resolution.
    assert np.linalg.norm(analytic - numeric) < 1e-6 * np.linalg.norm(numeric)


# ------------------------------------------------------------ sample weights


def test_equal_sample_weights_change_nothing(digits_split):
    X_tr, _, y_tr, _ = digits_split
    kw = dict(hidden_layer_sizes=(16,), max_epochs=3, dropout=0.2, random_state=0)
    plain = MLPClassifier(**kw).fit(X_tr, y_tr)
    weighted = MLPClassifier(**kw).fit(X_tr, y_tr, sample_weight=np.full(len(y_tr), 3.0))
    for a, b in zip(plain.coefs_ + plain.intercepts_, weighted.coefs_ + weighted.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_scaling_every_sample_weight_changes_nothing_even_near_overflow(digits_split):
    X_tr, _, y_tr, _ = digits_split
    w = np.random.default_rng(0).uniform(0, 2, len(y_tr))
    fits = [LinearClassifier(max_epochs=3, random_state=0).fit(X_tr, y_tr, sample_weight=w * c) for c in (1, 1e306)]
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-5, atol=1e-7)
    assert np.isfinite(fits[1].history_["loss"]).all()


def test_sample_weights_shift_the_decision_towards_the_heavy_class():
    X, y = make_classification(n_samples=600, n_features=5, n_informative=3, weights=[0.85], class_sep=0.5,
                               random_state=0)
    weight = np.where(y == 1, (y == 0).sum() / (y == 1).sum(), 1.0)  # balance the two classes
    kw = dict(max_epochs=30, random_state=0)
    plain, weighted = (LinearClassifier(**kw).fit(X, y, sample_weight=w).predict(X) for w in (None, weight))
    assert np.mean(weighted[y == 1] == 1) > np.mean(plain[y == 1] == 1) + 0.2


def test_weighted_validation_loss_and_score(digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    w_val = np.random.default_rng(0).uniform(0, 2, len(y_te))
    clf = LinearClassifier(max_epochs=3, random_state=0).fit(X_tr, y_tr, validation_data=(X_te, y_te, w_val))
    assert clf.history_["val_score"][-1] == pytest.approx(clf.score(X_te, y_te, sample_weight=w_val))
    p = clf.predict_proba(X_te).astype(np.float64)[np.arange(len(y_te)), np.searchsorted(clf.classes_, y_te)]
    assert clf.history_["val_loss"][-1] == pytest.approx(np.average(-np.log(p), weights=w_val), rel=1e-4)


def test_sample_weight_with_early_stopping_and_partial_fit(digits_split):
    X_tr, _, y_tr, _ = digits_split
    w = np.random.default_rng(0).uniform(0.5, 2, len(y_tr))
    kw = dict(hidden_layer_sizes=(16,), max_epochs=20, early_stopping=True, random_state=0)
    weighted = MLPClassifier(**kw).fit(X_tr, y_tr, sample_weight=w)
    plain = MLPClassifier(**kw).fit(X_tr, y_tr)
    assert len(weighted.history_["val_loss"]) == weighted.n_epochs_
    assert abs(weighted.score(X_tr, y_tr) - plain.score(X_tr, y_tr)) < 0.03
    reg = MLPRegressor(hidden_layer_sizes=(8,), random_state=0)
    reg.partial_fit(X_tr, y_tr.astype(float), sample_weight=w).partial_fit(X_tr, y_tr.astype(float), sample_weight=w)
    assert reg.n_epochs_ == 2


@pytest.mark.parametrize(
    "kwargs,problem",
    [
        (dict(sample_weight=-np.ones(20)), "sample_weight must be non-negative; got a minimum of -1"),
        (dict(sample_weight=np.r_[-0.5, np.ones(19)]), "sample_weight must be non-negative; got a minimum of -0.5"),
        (dict(sample_weight=np.ones(19)), r"sample_weight must have shape \(20,\), one weight per sample; got "
                                          r"shape \(19,\)"),
        (dict(sample_weight=np.ones((20, 2))), r"got shape \(20, 2\)"),
        (dict(sample_weight=np.zeros(20)), "sample_weight must have a positive sum; got all zeros"),
        (dict(sample_weight=np.r_[np.nan, np.ones(19)]), "Input sample_weight contains NaN"),
        (dict(sample_weight=np.array(["1"] * 19 + ["heavy"])), "^sample_weight must contain only numbers; could not "
                                                               "convert string to float"),
        (dict(validation_data=(np.ones((4, 2)), [0, 1, 0, 1], ["1", "x", "1", "1"])),
         "^sample_weight_val must contain only numbers"),
        (dict(validation_data=np.ones((5, 2))), "validation_data must be a tuple .* got a ndarray"),
        (dict(validation_data=(np.ones((4, 2)), [0, 1, 0, 1], np.ones(4), None)),
         "validation_data must be a tuple"),
        (dict(validation_data=(np.ones((4, 3)), [0, 1, 0, 1])), r"^validation_data \(X_val, y_val\): X has 3 "
                                                                 "features, but LinearClassifier is expecting 2"),
        (dict(validation_data=(np.ones((4, 2)), [0, 1, 2, 1])),
         r"^validation_data \(X_val, y_val\): y contains labels not seen in the classes \[0, 1\]: \[2\]"),
        (dict(validation_data=(np.ones((3, 2)), [0, 1, 0, 1])), r"^validation_data \(X_val, y_val\): Found input "
                                                                 "variables with inconsistent numbers of samples"),
        (dict(validation_data=(np.ones((4, 2)), [0, 1, 0, 1], np.zeros(4))),
         "sample_weight_val must have a positive sum"),
    ],
)
def test_bad_sample_weight_names_the_problem(kwargs, problem):
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match=problem):
        LinearClassifier(max_epochs=1).fit(X, y, **kwargs)


def test_a_hold_out_that_takes_every_positive_weight_is_an_error():
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    weight = np.r_[1.0, 1.0, np.zeros(18)]
    clf = LinearClassifier(max_epochs=1, early_stopping=True, validation_fraction=0.5, random_state=2)
    with pytest.raises(ValueError, match=re.escape(
            "sample_weight is 0 on every sample left to train on beside the validation_fraction=0.5 held out for "
            "early stopping (positive weights: 2 of 20 samples, in classes 0, 1)")):
        clf.fit(X, y, sample_weight=weight)


def _same_weights(a, b):
    for W_a, W_b in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(W_a, W_b)


@pytest.mark.parametrize("cls", [MLPClassifier, LinearClassifier])
def test_class_weight_is_sample_weight_by_class(digits_split, cls):
    from sklearn.utils.class_weight import compute_sample_weight

    X_tr, X_te, y_tr, y_te = digits_split
    kw = dict(max_epochs=3, random_state=0, early_stopping=True, **({"hidden_layer_sizes": (16,)}
                                                                    if cls is MLPClassifier else {}))
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y_tr))
    _same_weights(cls(class_weight="balanced", **kw).fit(X_tr, y_tr),
                  cls(**kw).fit(X_tr, y_tr, sample_weight=compute_sample_weight("balanced", y_tr)))
    by_class = {3: 4.0, 7: 0.5}  # classes left out weigh 1; multiplies sample_weight
    factor = np.array([by_class.get(label, 1.0) for label in y_tr])
    _same_weights(cls(class_weight=by_class, **kw).fit(X_tr, y_tr, sample_weight=w),
                  cls(**kw).fit(X_tr, y_tr, sample_weight=w * factor))
    # user validation data is weighed by class too: the same validation loss as with explicit weights
    factor_te = np.array([by_class.get(label, 1.0) for label in y_te])
    a = cls(class_weight=by_class, **kw).fit(X_tr, y_tr, validation_data=(X_te, y_te))
    b = cls(**kw).fit(X_tr, y_tr, validation_data=(X_te, y_te, factor_te), sample_weight=factor)
    assert a.history_["val_loss"] == b.history_["val_loss"]


def test_class_weight_in_partial_fit_save_load_and_checkpoints(tmp_path, digits_split):
    from shrinkage import load, save

    X_tr, _, y_tr, _ = digits_split
    classes = np.unique(y_tr)
    by_class = {np.int64(0): 5.0}  # NumPy labels, as np.unique gives them
    a = MLPClassifier(hidden_layer_sizes=(8,), class_weight=by_class, random_state=0)
    b = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(2):
        a.partial_fit(X_tr, y_tr, classes=classes)
        b.partial_fit(X_tr, y_tr, classes=classes, sample_weight=np.where(y_tr == 0, 5.0, 1.0))
    _same_weights(a, b)
    with pytest.raises(ValueError, match="class_weight='balanced' needs the whole training set"):
        MLPClassifier(class_weight="balanced").partial_fit(X_tr, y_tr, classes=classes)
    save(a, tmp_path / "m.npz")
    assert load(tmp_path / "m.npz").class_weight == {0: 5.0}
    path = tmp_path / "ck.npz"
    first = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, class_weight=by_class, random_state=0)
    first.fit(X_tr, y_tr, checkpoint=path)
    again = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, class_weight=by_class, random_state=0)
    _same_weights(first, again.fit(X_tr, y_tr, checkpoint=path, resume=True))  # same parameters: resumed


@pytest.mark.parametrize("class_weight,message", [
    ({"seven": 2.0}, r"class_weight has labels that are not classes \(\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]\): "
                     r"\['seven'\]"),
    ({label: 0.0 for label in range(10)}, "class_weight must give some class a positive weight"),
])
def test_class_weight_errors(digits_split, class_weight, message):
    X_tr, _, y_tr, _ = digits_split
    with pytest.raises(ValueError, match=message):
        LinearClassifier(class_weight=class_weight, max_epochs=1).fit(X_tr, y_tr)


def test_partial_fit_says_that_it_ignores_early_stopping(digits_split):
    X_tr, _, y_tr, _ = digits_split
    classes = np.unique(y_tr)
    for est, kw in ((MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True), {"classes": classes}),
                    (LinearClassifier(early_stopping=True), {"classes": classes}),
                    (MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True), {})):
        target = y_tr.astype(float) if isinstance(est, MLPRegressor) else y_tr
        with pytest.warns(UserWarning, match=r"\.partial_fit ignores early_stopping=True") as record:
            est.partial_fit(X_tr, target, **kw)
        assert record[0].filename == __file__  # points at the caller's line
        assert est.stop_reason_ == "max_epochs" and "val_loss" not in est.history_  # trained on all of X
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MLPClassifier(hidden_layer_sizes=(8,)).partial_fit(X_tr, y_tr, classes=classes)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("check", ["check_estimator_cloneable", "check_estimator_repr", "check_get_params_invariance",
                                   "check_set_params", "check_estimators_overwrite_params",
                                   "check_dont_overwrite_parameters", "check_estimators_pickle",
                                   "check_fit_idempotent"])
def test_an_early_stopping_rule_as_a_parameter_passes_scikit_learn_parameter_checks(check):
    import sklearn.utils.estimator_checks as checks

    from shrinkage import EarlyStopping

    estimator = MLPClassifier(max_epochs=20, validation_fraction=0.2,
                              early_stopping=EarlyStopping(monitor="val_score", mode="max", patience=5))
    getattr(checks, check)(type(estimator).__name__, estimator)
