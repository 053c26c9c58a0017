"""Bad parameters and bad data: one clear message naming what, expected and received."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning

from shrinkage import EarlyStopping, LinearClassifier, MLPClassifier, MLPRegressor
from shrinkage._inputs import _check_finite, _data_fingerprint

X = np.random.default_rng(0).normal(size=(40, 3))
y = np.arange(40) % 2

# (parameter, bad value, the full message)
BAD_VALUES = [
    ("hidden_layer_sizes", (10, 0), "hidden_layer_sizes must be a tuple of ints >= 1; got (10, 0)"),
    ("activation", "gelu", "activation must be one of 'relu', 'tanh', 'logistic', 'identity'; got 'gelu'"),
    ("loss", "log", None),  # per estimator, below
    ("penalty", "l3", "penalty must be None or one of 'l2', 'l1', 'elasticnet'; got 'l3'"),
    ("alpha", -0.1, "alpha must be a float in [0, inf); got -0.1"),
    ("l1_ratio", 1.5, "l1_ratio must be None or a float in [0, 1]; got 1.5"),
    ("l1_method", "lasso", "l1_method must be one of 'proximal', 'subgradient', 'cumulative'; got 'lasso'"),
    ("weight_decay", -1.0, "weight_decay must be a float in [0, inf); got -1.0"),
    ("dropout", 1.0, "dropout must be a float in [0, 1); got 1.0"),
    ("input_dropout", -0.2, "input_dropout must be a float in [0, 1); got -0.2"),
    ("dropout_mode", "scaled", "dropout_mode must be one of 'inverted', 'classic'; got 'scaled'"),
    ("max_norm", 0.0, "max_norm must be None or a float in (0, inf); got 0.0"),
    ("optimizer", "rmsprop", "optimizer must be one of 'sgd', 'adam'; got 'rmsprop'"),
    ("learning_rate", 0.0, "learning_rate must be a float in (0, inf); got 0.0"),
    ("momentum", 1.0, "momentum must be a float in [0, 1); got 1.0"),
    ("nesterov", "yes", "nesterov must be a bool; got 'yes'"),
    ("beta_1", 1.0, "beta_1 must be a float in [0, 1); got 1.0"),
    ("beta_2", -0.5, "beta_2 must be a float in [0, 1); got -0.5"),
    ("epsilon", 0.0, "epsilon must be a float in (0, inf); got 0.0"),
    ("batch_size", 0, "batch_size must be one of 'auto' or an int in [1, inf); got 0"),
    ("max_epochs", 0, "max_epochs must be an int in [1, inf); got 0"),
    ("early_stopping", 1, "early_stopping must be a bool or an EarlyStopping; got 1"),
    ("patience", -1, "patience must be None or an int in [0, inf); got -1"),
    ("min_delta", -0.01, "min_delta must be a float in [0, inf); got -0.01"),
    ("stopping_criterion", "never", "stopping_criterion must be one of 'patience', 'gl', 'pq', 'up'; got 'never'"),
    ("stopping_threshold", -1.0, "stopping_threshold must be None or a float in [0, inf); got -1.0"),
    ("validation_fraction", 1.0, "validation_fraction must be a float in (0, 1); got 1.0"),
    ("restore_best_weights", None, "restore_best_weights must be a bool; got None"),
    ("shuffle", "no", "shuffle must be a bool; got 'no'"),
    ("random_state", -3, "random_state must be None or an int in [0, 4294967295] or a Generator or RandomState "
                         "instance; got -3"),
    ("verbose", -1, "verbose must be an int in [0, inf) or a bool; got -1"),
    ("dtype", "float16", "dtype must be 'float32' or 'float64'; got 'float16'"),
    ("warm_start", "yes", "warm_start must be a bool; got 'yes'"),
    ("class_weight", {0: -1.0}, "class_weight must be None or one of 'balanced' or a dict of label: weight >= 0; "
                                "got {0: -1.0}"),
]
LOSS_MESSAGES = {
    MLPClassifier: "loss must be one of 'softmax', 'hinge'; got 'log'",
    LinearClassifier: "loss must be one of 'softmax', 'hinge'; got 'log'",
    MLPRegressor: "loss must be one of 'squared_error'; got 'log'",
}


def cases():
    for cls in (MLPClassifier, LinearClassifier, MLPRegressor):
        names = cls().get_params()
        covered = {name for name, _, _ in BAD_VALUES}
        assert set(names) <= covered, f"parameters without a bad-value case: {set(names) - covered}"
        for name, value, message in BAD_VALUES:
            if name in names:
                yield pytest.param(cls, name, value, message or LOSS_MESSAGES[cls], id=f"{cls.__name__}-{name}")


@pytest.mark.parametrize("cls,name,value,message", list(cases()))
def test_every_parameter_rejects_an_out_of_range_value(cls, name, value, message):
    with pytest.raises(ValueError) as info:
        cls(**{name: value}).fit(X, y)
    assert str(info.value) == message


RULES = [
    (dict(penalty=None, alpha=0.01),
     "alpha=0.01 is only used with penalty='l2', 'l1' or 'elasticnet'; got penalty=None"),
    (dict(penalty="l1", l1_ratio=0.3), "l1_ratio is only used with penalty='elasticnet'; got penalty='l1'"),
    (dict(patience=5), "patience is only used with early_stopping=True and stopping_criterion='patience'; "
                       "got early_stopping=False, stopping_criterion='patience'"),
    (dict(early_stopping=True, stopping_criterion="gl", patience=3),
     "patience is only used with early_stopping=True and stopping_criterion='patience'; "
     "got early_stopping=True, stopping_criterion='gl'"),
    (dict(stopping_threshold=5.0), "stopping_threshold is only used with early_stopping=True and stopping_criterion "
                                   "'gl', 'pq' or 'up'; got early_stopping=False, stopping_criterion='patience'"),
    (dict(penalty="l2", l1_method="cumulative"),
     "l1_method='cumulative' is only used with penalty='l1' or 'elasticnet'; got penalty='l2'"),
    (dict(stopping_criterion="gl"), "stopping_criterion='gl' is only used with early_stopping=True; "
                                    "got early_stopping=False"),
    (dict(min_delta=0.01), "min_delta=0.01 is only used with early_stopping=True; got early_stopping=False"),
    (dict(validation_fraction=0.2),
     "validation_fraction=0.2 is only used with early_stopping=True; got early_stopping=False"),
    (dict(restore_best_weights=False),
     "restore_best_weights=False is only used with early_stopping=True; got early_stopping=False"),
    (dict(nesterov=True), "nesterov=True needs optimizer='sgd' with momentum > 0; got optimizer='adam', momentum=0.9"),
    (dict(optimizer="sgd", momentum=0.0, nesterov=True),
     "nesterov=True needs optimizer='sgd' with momentum > 0; got optimizer='sgd', momentum=0.0"),
    (dict(momentum=0.5), "momentum=0.5 is only used with optimizer='sgd'; got optimizer='adam'"),
    (dict(optimizer="adam", momentum=0.0), "momentum=0.0 is only used with optimizer='sgd'; got optimizer='adam'"),
    (dict(optimizer="sgd", beta_1=0.8), "beta_1=0.8 is only used with optimizer='adam'; got optimizer='sgd'"),
    (dict(optimizer="sgd", beta_2=0.99), "beta_2=0.99 is only used with optimizer='adam'; got optimizer='sgd'"),
    (dict(optimizer="sgd", epsilon=1e-6), "epsilon=1e-06 is only used with optimizer='adam'; got optimizer='sgd'"),
    (dict(hidden_layer_sizes=(), dropout=0.5),
     "dropout=0.5 acts on hidden units, and hidden_layer_sizes=() has none; use input_dropout to drop input features"),
    (dict(hidden_layer_sizes=(), activation="tanh"),
     "activation='tanh' acts on hidden units, and hidden_layer_sizes=() has none"),
    (dict(dropout_mode="classic"),
     "dropout_mode='classic' is only used with dropout or input_dropout > 0; got dropout=0.0, input_dropout=0.0"),
    (dict(early_stopping=EarlyStopping(), patience=5),
     "patience=5 would be ignored: early_stopping is an EarlyStopping, which holds its own settings; "
     "leave patience at its default (None)"),
    (dict(early_stopping=EarlyStopping(), restore_best_weights=False),
     "restore_best_weights=False would be ignored: early_stopping is an EarlyStopping, which holds its own "
     "settings; leave restore_best_weights at its default (True)"),
    (dict(early_stopping=EarlyStopping(), stopping_criterion="gl"),
     "stopping_criterion='gl' would be ignored: early_stopping is an EarlyStopping, which holds its own "
     "settings; leave stopping_criterion at its default ('patience')"),
    (dict(early_stopping=EarlyStopping(monitor="val_accuracy", mode="max")),
     "early_stopping monitors 'val_accuracy', which the estimators do not log; they log 'loss', 'val_loss', "
     "'val_score'"),
    (dict(early_stopping=EarlyStopping(monitor="val_score")),
     "early_stopping monitors 'val_score' with mode='min'; val_score is better when higher: use mode='max'"),
    (dict(early_stopping=EarlyStopping(mode="max")),
     "early_stopping monitors 'val_loss' with mode='max'; val_loss is better when lower: use mode='min'"),
    (dict(early_stopping=EarlyStopping(monitor="loss"), validation_fraction=0.2),
     "validation_fraction=0.2 would be ignored: early_stopping monitors the training 'loss', so fit holds "
     "nothing out; leave validation_fraction at its default (0.1), or pass validation_data=(X_val, y_val) "
     "for validation values in history_"),
    (dict(batch_size=41), "batch_size must be at most the number of training samples (40); got 41"),
    (dict(early_stopping=True, stopping_threshold=5.0),
     "stopping_threshold is only used with early_stopping=True and stopping_criterion 'gl', 'pq' or 'up'; "
     "got early_stopping=True, stopping_criterion='patience'"),
    (dict(early_stopping=True, stopping_criterion="up", stopping_threshold=1.5),
     "stopping_threshold must be an int >= 1 with stopping_criterion='up'; got 1.5"),
    (dict(early_stopping=True, stopping_criterion="up", stopping_threshold=0),
     "stopping_threshold must be an int >= 1 with stopping_criterion='up'; got 0"),
]


def test_the_linear_classifier_names_its_own_dropout_settings():
    with pytest.raises(ValueError) as info:
        LinearClassifier(dropout_mode="classic").fit(X, y)
    assert str(info.value) == "dropout_mode='classic' is only used with input_dropout > 0; got input_dropout=0.0"
    LinearClassifier(dropout_mode="classic", input_dropout=0.2, max_epochs=2).fit(X, y)
    MLPClassifier(hidden_layer_sizes=(4,), dropout_mode="classic", dropout=0.2, max_epochs=2).fit(X, y)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor, LinearClassifier])
def test_the_rules_compare_with_the_estimators_own_defaults(cls):
    import inspect

    from shrinkage._estimator_params import DEFAULTS

    signature = inspect.signature(cls.__init__).parameters
    assert {name: signature[name].default for name in DEFAULTS if name in signature} == {
        name: default for name, default in DEFAULTS.items() if name in signature}


def test_alpha_zero_says_the_same_as_no_penalty():
    MLPClassifier(hidden_layer_sizes=(4,), penalty=None, alpha=0.0, max_epochs=1).fit(X, y)
    MLPClassifier(hidden_layer_sizes=(4,), penalty=None, max_epochs=1).fit(X, y)


def test_validation_fraction_beside_validation_data_is_an_error():
    clf = MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.3, max_epochs=2)
    with pytest.raises(ValueError) as info:
        clf.fit(X, y, validation_data=(X, y))
    assert str(info.value) == ("validation_fraction=0.3 is not used when validation_data is given; "
                               "leave it at its default (0.1)")
    assert not hasattr(clf, "coefs_")  # refused before any work
    clf.set_params(validation_fraction=0.1).fit(X, y, validation_data=(X, y))


@pytest.mark.parametrize("kw,message", RULES)
def test_rules_between_parameters(kw, message):
    with pytest.raises(ValueError) as info:
        MLPClassifier(**kw).fit(X, y)
    assert str(info.value) == message


@pytest.mark.parametrize("threshold", [None, 1, 2, 2.0])
def test_up_criterion_takes_its_default_or_a_whole_number_of_strips(threshold):
    clf = MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, stopping_criterion="up",
                        stopping_threshold=threshold, max_epochs=2).fit(X, y)
    assert clf.n_epochs_ == 2


def test_batch_size_is_checked_against_the_training_part_after_the_hold_out():
    with pytest.raises(ValueError, match=r"at most the number of training samples \(36\); got 40"):
        MLPClassifier(batch_size=40, early_stopping=True).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_hold_out_that_takes_every_sample_of_a_class_warns():
    X_c = np.random.default_rng(0).normal(size=(21, 3))
    y_c = np.array(["a"] * 10 + ["b"] * 10 + ["c"])  # "c": one sample, too few to split class by class
    clf = MLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, validation_fraction=0.5, max_epochs=1)
    with pytest.warns(UserWarning, match=r"validation_fraction=0.5 held out every sample of classes \['c'\]: "
                                         "the model never trains on them"):
        clf.set_params(random_state=1).fit(X_c, y_c)  # a seed whose split holds "c" out
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="validation_fraction")
        clf.set_params(random_state=0).fit(X_c, y_c)  # one whose split keeps "c" for training


def test_partial_fit_classes_of_mixed_types():
    with pytest.raises(ValueError, match="Mix of label input types"):
        MLPClassifier().partial_fit(X, y, classes=[0, "a"])


def test_resume_without_checkpoint():
    with pytest.raises(ValueError, match="resume=True needs a checkpoint path"):
        MLPClassifier().fit(X, y, resume=True)


BAD_DATA = [
    ("NaN in X", lambda: (np.where(X > 1.5, np.nan, X), y), "Input X contains NaN"),
    ("infinity in X", lambda: (np.where(X > 1.5, np.inf, X), y), "Input X contains infinity"),
    ("too large for float32", lambda: (X * 1e39, y), "Input X contains infinity or a value too large"),
    ("mismatched lengths", lambda: (X, y[:-1]), "inconsistent numbers of samples: [40, 39]"),
    ("empty", lambda: (X[:0], y[:0]), "Found array with 0 sample(s)"),
    ("single class", lambda: (X, y * 0), "needs samples of at least 2 classes in the data; got 1 class (0)"),
    ("strings", lambda: (np.full((40, 3), "a"), y), "X must contain only numbers; could not convert string"),
    ("continuous labels", lambda: (X, X[:, 0]), "Unknown label type: continuous"),
    ("mixed label types", lambda: (X, np.array(["a", 1] * 20, dtype=object)),
     "y must hold labels of one type (all strings or all numbers)"),
    ("1-D X", lambda: (X[:, 0], y), "Expected 2D array, got 1D array instead"),
    ("multilabel y", lambda: (X, np.c_[y, 1 - y]),
     "takes one label per sample, y of shape (n_samples,); got y of shape (40, 2), several labels per sample"),
]


@pytest.mark.parametrize("case,make,message", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_training_data(case, make, message):
    Xb, yb = make()
    with pytest.raises(ValueError, match=None) as info:
        MLPClassifier(max_epochs=1).fit(Xb, yb)
    assert message in str(info.value)


def test_nan_in_regression_targets():
    with pytest.raises(ValueError, match="Input y contains NaN"):
        MLPRegressor(max_epochs=1).fit(X, np.where(X[:, 0] > 1, np.nan, X[:, 0]))
    with pytest.raises(ValueError, match="Input y contains infinity"):
        MLPRegressor(max_epochs=1).fit(X, np.where(X[:, 0] > 1, np.inf, X[:, 0]))


def test_none_in_regression_targets_is_nan_not_a_diverged_fit():
    """scikit-learn's check of an object array lets None through, to become NaN after it; training then
    'diverged' on NaN targets with a warning about the learning rate."""
    target = X[:, 0].astype(object)
    target[5] = None
    for fit in (lambda: MLPRegressor(max_epochs=1).fit(X, target),
                lambda: MLPRegressor(max_epochs=1).fit(X, X[:, 0], validation_data=(X, target))):
        with pytest.raises(ValueError, match="Input y contains NaN"):
            fit()


@pytest.mark.parametrize("target,shown", [(np.array(["1.5", "x"] * 20), "'x' in row 1"),
                                          (np.array([["1", "2"], ["3", "b"]] * 20), "['3', 'b'] in row 1")])
def test_text_regression_targets_name_y(target, shown):
    with pytest.raises(ValueError) as info:
        MLPRegressor(max_epochs=1).fit(X, target)
    assert str(info.value) == ("y must hold numbers (MLPRegressor is a regressor; for class labels use a "
                               f"classifier); got {shown}")


def test_regression_targets_as_numeric_text_are_numbers():
    as_text = MLPRegressor(max_epochs=2, random_state=0).fit(X, X[:, 0].astype(str))
    as_numbers = MLPRegressor(max_epochs=2, random_state=0).fit(X, X[:, 0])
    np.testing.assert_array_equal(as_text.predict(X), as_numbers.predict(X))


def test_wrong_number_of_features_and_non_numeric_at_predict_time():
    clf = MLPClassifier(max_epochs=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but MLPClassifier is expecting 3 features"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="X must contain only numbers"):
        clf.predict(np.full((2, 3), "x"))


@pytest.fixture(scope="module")
def fitted_three():
    return [est.fit(X, y) for est in (MLPClassifier(max_epochs=2, dropout=0.2), LinearClassifier(max_epochs=2),
                                      MLPRegressor(max_epochs=2))]


def _rows_with(value, row, n_rows=32000):
    """Many rows of X's values (an MLP predicts them in four chunks), ``value`` at one place in ``row``."""
    Xb = np.tile(X, (n_rows // len(X), 1))
    Xb[row, 1] = value
    return Xb


@pytest.mark.parametrize("value,message", [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity"),
                                           (-np.inf, "Input X contains infinity")])
@pytest.mark.parametrize("row", [0, 16000, -1], ids=["first chunk", "middle chunk", "last row"])
def test_nan_and_infinity_at_predict_time_in_any_chunk(fitted_three, value, message, row):
    """Prediction looks for NaN and infinity chunk by chunk: each is found wherever it is, by every output
    method, with scikit-learn's message naming the estimator."""
    Xb = _rows_with(value, row)
    for est in fitted_three:
        methods = [est.predict] + [getattr(est, m) for m in ("predict_proba", "decision_function") if hasattr(est, m)]
        for method in methods:
            with pytest.raises(ValueError) as info:
                method(Xb)
            assert message in str(info.value)
            if value is np.nan:
                assert type(est).__name__ in str(info.value)


def test_nan_at_predict_time_is_found_in_sparse_input_and_under_mc_dropout(fitted_three):
    clf = fitted_three[0]
    Xs = sp.csr_matrix(_rows_with(np.nan, -1))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict(Xs)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict_proba(_rows_with(np.nan, -1), mc_samples=2, random_state=0)


def test_the_finite_check_itself_warns_of_nothing():
    """Its row sums may overflow or meet inf - inf: neither shows as a NumPy RuntimeWarning (an error here)."""
    _check_finite(np.full((2, 3), 3e38, np.float32), "MLPClassifier")  # finite: passes
    with pytest.raises(ValueError, match="Input X contains infinity"):
        _check_finite(np.array([[np.inf, -np.inf, 1.0]], np.float32), "MLPClassifier")


def test_large_finite_values_at_predict_time_are_not_refused(fitted_three):
    """Row sums are only a screen: a row of three 3e38s, whose sum overflows float32, is finite and predicted."""
    Xb = _rows_with(3e38, 7).astype(np.float32)
    Xb[7, :] = 3e38
    with np.errstate(over="ignore", invalid="ignore"):
        for est in fitted_three:
            assert est.predict(Xb).shape[0] == len(Xb)


def test_assume_finite_skips_the_check_at_predict_time(fitted_three):
    """scikit-learn's ``assume_finite`` setting turns the check off, as it does in scikit-learn."""
    with config_context(assume_finite=True), np.errstate(invalid="ignore"):
        proba = fitted_three[0].predict_proba(_rows_with(np.nan, 5))
    assert np.isnan(proba[5]).all() and np.isfinite(np.delete(proba, 5, axis=0)).all()


@pytest.mark.parametrize("labels", [np.array(["no", "yes"])[y], y + 10, (y * 2 - 1).astype(np.int8)])
def test_string_and_integer_labels(labels):
    clf = MLPClassifier(max_epochs=30, learning_rate=0.01, random_state=0).fit(X, labels)
    assert clf.predict(X).dtype == labels.dtype and set(clf.classes_) == set(labels)


def test_a_fingerprint_of_rows_is_that_of_the_rows_copied_out():
    """A checkpoint of an early-stopping fit fingerprints its training rows read block by block from X
    (no copy of them): the same identity as of the copy, so checkpoints written either way match."""
    data = np.random.default_rng(0).standard_normal((3000, 200), dtype=np.float32)  # 2.4 MB: 3 blocks
    rows = np.random.default_rng(1).permutation(3000)[:2700]
    target, weight = np.arange(2700) % 4, np.linspace(0.5, 2.0, 2700)
    assert _data_fingerprint(data, target, weight, rows) == _data_fingerprint(data[rows], target, weight)
    assert _data_fingerprint(data, target, weight, rows[::-1]) != _data_fingerprint(data[rows], target, weight)
    sparse = sp.csr_matrix(np.where(data > 1, data, 0))
    assert _data_fingerprint(sparse, target, None, rows) == _data_fingerprint(sparse[rows], target)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor, LinearClassifier])
def test_the_parameter_check_sees_what_get_params_returns(cls):
    """fit and partial_fit check the parameters from names read once per class, not from get_params (which
    inspects the signature at every call): the two must agree."""
    from shrinkage.network_estimator import _param_names

    estimator = cls()
    assert {name: getattr(estimator, name) for name in _param_names(cls)} == estimator.get_params(deep=False)


def _outcomes(estimator, calls):
    """What each call returns (as a list) or raises or warns (as text), for comparing two code paths."""
    seen = []
    for call in calls:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = call(estimator)
                seen.append(np.asarray(result).tolist() if result is not estimator else
                            [W.tolist() for W in estimator.coefs_])
            except ValueError as error:
                seen.append(f"ValueError: {error}")
        seen.append([str(w.message) for w in caught if not issubclass(w.category, ConvergenceWarning)])
    return seen


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_arrays_that_need_no_conversion_are_checked_as_the_full_check_does(cls, monkeypatch):
    """A fitted model skips scikit-learn's conversion of a float32 2-D array (and of a classifier's 1-D
    integer labels, a regressor's finite float targets): predictions, partial_fit and every error and
    warning must be those of the full check."""
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4), dtype=np.float32)
    y = rng.integers(0, 3, 60) if cls is MLPClassifier else rng.standard_normal(60)
    frame = pd.DataFrame(X, columns=list("abcd"))
    with_nan = X.copy()
    with_nan[3, 1] = np.nan
    y_nan = y.astype(float)
    y_nan[5] = np.nan
    calls = [
        lambda e: e.predict(X),
        lambda e: e.predict(np.asfortranarray(X)[::2]),
        lambda e: e.predict(X[:, :3]),
        lambda e: e.predict(with_nan),
        lambda e: e.predict(X[:0]),
        lambda e: e.partial_fit(X, y),
        lambda e: e.partial_fit(X, y[:-1]),
        lambda e: e.partial_fit(X, y_nan),
        lambda e: e.partial_fit(X, y.reshape(-1, 1)),
        lambda e: e.fit(X, y, validation_data=(X[:20], y[:20])).history_["val_loss"],
    ]
    outcomes = {}
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(cls, "_converted", lambda self, X: False)
        plain = cls(hidden_layer_sizes=(5,), max_epochs=2, random_state=0).fit(X, y)
        named = cls(hidden_layer_sizes=(5,), max_epochs=2, random_state=0).fit(frame, y)
        outcomes[fast] = _outcomes(plain, calls) + _outcomes(named, calls[:2])
    assert outcomes[True] == outcomes[False]
    text = str(outcomes[True])
    assert "ValueError: X has 3 features" in text and "Input X contains NaN" in text and "feature names" in text
    assert "Input y contains NaN" in text
