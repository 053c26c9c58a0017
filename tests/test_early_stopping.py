"""EarlyStopping on scripted sequences: Keras 3's decisions and Prechelt's definitions.

Each expected (stopped_epoch, best_epoch) is worked out by hand from Keras 3's
``EarlyStopping.on_epoch_end`` (wait += 1 first; an improvement returns without
stopping and resets wait only when the baseline is beaten too; stop when
wait >= patience and epoch > 0) and from Prechelt (1998).
"""

import math
import re

import numpy as np
import pytest

from shrinkage import EarlyStopping, LinearClassifier


def run(es, values, train_losses=None):
    """Feed ``values`` until the callback says stop; return (stopped_epoch, best_epoch)."""
    es.reset()
    for epoch, value in enumerate(values):
        logs = {es.monitor: value}
        if train_losses is not None:
            logs["loss"] = train_losses[epoch]
        if es.update(epoch, logs):
            return es.stopped_epoch, es.best_epoch
    return None, es.best_epoch


KERAS_CASES = [
    # (kwargs, values, stopped_epoch, best_epoch)
    (dict(patience=2), [1.0, 0.9, 0.95, 0.92, 0.91], 3, 1),
    (dict(patience=0), [1.0, 2.0], 1, 0),
    (dict(patience=0), [1.0], None, 0),  # never stops at epoch 0
    (dict(patience=3), [5, 4, 3, 2, 1, 0], None, 5),
    # min_delta: 0.97 is not below 1.0 - 0.05; best_epoch is the last *improving* epoch (2), not argmin (5)
    (dict(patience=3, min_delta=0.05), [1.0, 0.97, 0.93, 0.96, 0.90, 0.89], 5, 2),
    # baseline never beaten: improvements do not reset wait, the first non-improvement stops
    (dict(patience=2, baseline=0.5), [1.0, 0.9, 0.95, 0.4], 2, 1),
    # ... improving epochs never stop training, even with wait past patience
    (dict(patience=2, baseline=0.5), [1.0, 0.9, 0.8, 0.7, 0.75], 4, 3),
    # baseline beaten at epoch 1: wait resets
    (dict(patience=2, baseline=0.5), [1.0, 0.4, 0.6, 0.6], 3, 1),
    # warm-up: epochs 0-2 are ignored entirely
    (dict(patience=1, start_from_epoch=3), [0.1, 0.2, 0.3, 1.0, 0.9, 0.95], 5, 4),
    (dict(patience=1), [0.1, 0.2, 0.3, 1.0, 0.9, 0.95], 1, 0),
    (dict(patience=1, mode="max", monitor="val_score"), [0.5, 0.6, 0.6], 2, 1),
    # improvement is strict: a value equal to best - min_delta (exact in binary) does not improve
    (dict(patience=1), [1.0, 1.0], 1, 0),
    (dict(patience=1, min_delta=0.25), [1.0, 0.75], 1, 0),
    (dict(patience=1, min_delta=0.25, mode="max", monitor="val_score"), [0.5, 0.75], 1, 0),
]


@pytest.mark.parametrize("kwargs,values,stopped,best", KERAS_CASES)
def test_keras_decisions(kwargs, values, stopped, best):
    assert run(EarlyStopping(**kwargs), values) == (stopped, best)


def test_wait_and_stop_reason():
    es = EarlyStopping(patience=2)
    run(es, [1.0, 0.9, 0.95, 0.92])
    assert es.wait == 2 and es.stop_reason == "patience" and es.best == 0.9


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_stops_on_non_finite(bad):
    es = EarlyStopping(patience=10)
    assert run(es, [1.0, 0.5, bad, 0.1]) == (2, 1)
    assert es.stop_reason == "non-finite"


def test_gl_stops_when_generalization_loss_exceeds_alpha():
    es = EarlyStopping(criterion="gl", threshold=5.0)
    # GL: epoch 2: 100 * (0.82 / 0.8 - 1) = 2.5; epoch 3: 6.25 > 5
    assert run(es, [1.0, 0.8, 0.82, 0.85, 0.7]) == (3, 1)
    assert es.stop_reason == "gl"
    # Prechelt stops when GL exceeds alpha: 100 * (0.625 / 0.5 - 1) = 25 exactly does not.
    assert run(EarlyStopping(criterion="gl", threshold=25.0), [0.5, 0.625]) == (None, 0)


def test_gl_at_a_best_of_zero_is_infinite_only_above_it():
    # A monitored error of exactly 0 (GL's ratio is undefined there): staying at 0 is no loss, any rise is infinite.
    assert run(EarlyStopping(criterion="gl", threshold=5.0), [0.5, 0.0, 0.0, 0.0]) == (None, 1)
    es = EarlyStopping(criterion="gl", threshold=5.0)
    assert run(es, [0.5, 0.0, 0.0, 1e-6]) == (3, 1) and es.stop_reason == "gl"


def test_pq_checks_only_at_strip_ends():
    val = [1.0, 0.9, 0.8, 0.85, 0.9, 0.88, 0.88, 0.88, 0.88, 0.9, 0.95]
    train = [1.0, 0.9, 0.85, 0.84, 0.83, 0.82, 0.815, 0.81, 0.805, 0.80, 0.79]
    # t=5: GL = 12.5, P = 1000 * (4.42 / 4.15 - 1) = 65.06, PQ = 0.19; t=10: GL = 12.5, P = 12.5, PQ = 1.0
    es = EarlyStopping(criterion="pq", threshold=0.5, strip=5)
    assert run(es, val, train) == (9, 2)
    assert es.stop_reason == "pq"
    assert run(EarlyStopping(criterion="pq", threshold=1.5, strip=5), val, train) == (None, 2)


def test_pq_edge_cases():
    # The first test is at t = k, with exactly k training losses: GL = 100 * (0.625 / 0.5 - 1) = 25,
    # P = 1000 * (5.625 / (5 * 1.0) - 1) = 125, PQ = 0.2 exactly: stops above 0.19, not at 0.2 (strictly above).
    val, train = [0.5, 0.6, 0.6, 0.6, 0.625], [1.0, 1.0, 1.0, 1.0, 1.625]
    assert run(EarlyStopping(criterion="pq", threshold=0.19), val, train) == (4, 0)
    assert run(EarlyStopping(criterion="pq", threshold=0.2), val, train) == (None, 0)
    # A flat training strip (P = 0): PQ is infinite if GL > 0, and 0 when the validation loss is at its best.
    flat = [1.0] * 5
    assert run(EarlyStopping(criterion="pq", threshold=100.0), val, flat) == (4, 0)
    assert run(EarlyStopping(criterion="pq", threshold=0.0), [0.9, 0.8, 0.7, 0.6, 0.5], flat) == (None, 4)


def test_pq_at_a_training_loss_of_zero():
    # A hinge loss can reach 0, where P_k's min is 0: a strip flat at 0 made no progress (stops once GL > 0),
    # one that came down to 0 made unbounded progress (PQ = 0, no stop even at an infinite GL).
    val = [0.0, 0.0, 0.0, 0.0, 0.1]
    assert run(EarlyStopping(criterion="pq", threshold=100.0), val, [0.0] * 5) == (4, 0)
    assert run(EarlyStopping(criterion="pq", threshold=0.0), val, [0.4, 0.3, 0.2, 0.1, 0.0]) == (None, 0)
    assert run(EarlyStopping(criterion="pq", threshold=0.0), [0.0] * 5, [0.0] * 5) == (None, 0)  # GL = 0


def test_a_hinge_fit_that_reaches_zero_training_loss_runs_under_pq():
    X = np.random.default_rng(0).normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    X[:, 0] += np.where(y, 2.0, -2.0)  # separable with a margin: the hinge loss reaches exactly 0
    clf = LinearClassifier(loss="hinge", penalty=None, early_stopping=True, stopping_criterion="pq",
                           max_epochs=30, random_state=0).fit(X, y)
    assert clf.history_["loss"][-1] == 0.0 and clf.stop_reason_ == "max_epochs"


UP_VALUES = [1.0, 0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.52, 0.55, 0.62, 0.6, 0.61, 0.63, 0.64, 0.65]


def test_up_needs_s_successive_rising_strips():
    # Strip ends t = 5, 10, 15 hold 0.6, 0.62, 0.65: rises at t = 10 and t = 15
    assert run(EarlyStopping(criterion="up", threshold=2, strip=5), UP_VALUES) == (14, 6)
    assert run(EarlyStopping(criterion="up", threshold=1, strip=5), UP_VALUES) == (9, 6)
    assert run(EarlyStopping(criterion="up", threshold=3, strip=5), UP_VALUES) == (None, 6)


def test_up_resets_after_a_falling_strip():
    values = UP_VALUES[:14] + [0.61]  # t = 15 is below t = 10
    assert run(EarlyStopping(criterion="up", threshold=2, strip=5), values) == (None, 6)


def test_up_counts_only_a_strict_rise():
    level = [1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]  # strip ends t = 2, 4, 6: 0.9, 0.8, 0.8; equal is no rise
    assert run(EarlyStopping(criterion="up", threshold=1, strip=2), level) == (None, 2)


def test_up_first_test_at_two_strips():
    rising = [float(i) for i in range(12)]
    es = EarlyStopping(criterion="up", threshold=1, strip=3)
    assert run(es, rising) == (5, 0)  # t = 6 = 2k compares with t = 3


def test_state_dict_continues_identically():
    values = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.85, 0.9, 0.95, 1.0]
    whole = EarlyStopping(patience=3, criterion="patience")
    expected = run(whole, values)
    first = EarlyStopping(patience=3)
    for epoch, v in enumerate(values[:4]):
        first.update(epoch, {"val_loss": v})
    second = EarlyStopping(patience=3)
    second.load_state_dict(first.state_dict())
    for epoch, v in enumerate(values[4:], start=4):
        if second.update(epoch, {"val_loss": v}):
            break
    assert (second.stopped_epoch, second.best_epoch) == expected


def test_reusable_across_fits():
    es = EarlyStopping(patience=1)
    assert run(es, [1.0, 2.0]) == (1, 0)
    assert run(es, [5.0, 4.0, 3.0]) == (None, 2)
    assert es.best == 3.0 and es.stop_reason is None


def test_missing_monitor_key_is_a_clear_error():
    with pytest.raises(KeyError, match="monitors 'val_loss', which is not in the logs"):
        EarlyStopping().update(0, {"loss": 1.0})


def test_pq_without_the_training_loss_is_a_clear_error():
    # PQ weighs the training loss: without logs["loss"] it could never stop, so it refuses.
    with pytest.raises(KeyError, match=r"criterion 'pq' weighs the training loss logs\['loss'\], which is not"):
        EarlyStopping(criterion="pq").update(0, {"val_loss": 1.0})


@pytest.mark.parametrize("epoch, logs, error, words", [
    (0, 0.3, TypeError, "logs must be a dict of the epoch's values, such as {'val_loss': 0.31}; got float"),
    (-1, {"val_loss": 0.3}, ValueError, "epoch must be an int >= 0 (epochs are counted from 0); got -1"),
    (1.0, {"val_loss": 0.3}, ValueError, "epoch must be an int >= 0 (epochs are counted from 0); got 1.0"),
    (0, {"val_loss": None}, TypeError, "logs['val_loss'] must be a number; got None"),
    (0, {"val_loss": "0.3"}, TypeError, "logs['val_loss'] must be a number; got '0.3'"),
    (0, {"val_loss": 0.3, "loss": [1.0]}, TypeError, "logs['loss'] must be a number; got [1.0]"),
])
def test_update_names_a_bad_epoch_or_log_value(epoch, logs, error, words):
    with pytest.raises(error, match=re.escape(words)):
        EarlyStopping().update(epoch, logs)


def test_update_takes_numpy_numbers():
    es = EarlyStopping()
    assert es.update(np.int64(0), {"val_loss": np.float32(0.5), "loss": np.float64(0.4)}) is False
    assert es.best == 0.5 and type(es.best) is float


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(mode="best"), "mode must be 'min' or 'max'; got 'best'"),
        (dict(criterion="gl", mode="max"), "criterion 'gl' needs mode='min'"),
        (dict(patience=-1), "patience must be an int >= 0; got -1"),
        (dict(criterion="xx"), "criterion must be one of"),
        (dict(start_from_epoch=float("inf")), "start_from_epoch must be an int >= 0; got inf"),
        (dict(start_from_epoch=1.5), "start_from_epoch must be an int >= 0; got 1.5"),
        (dict(min_delta="abc"), "min_delta must be a finite number >= 0; got 'abc'"),
        (dict(baseline=float("nan")), "baseline must be a finite number; got nan"),
        (dict(criterion="gl", threshold=-1.0), "threshold must be a finite number >= 0; got -1.0"),
        (dict(criterion="up", threshold=2.5), "threshold must be an int >= 1; got 2.5"),
        (dict(strip=0), "strip must be an int >= 1; got 0"),
        (dict(monitor=None), "monitor must be the name of a logged value"),
        (dict(restore_best_weights="no"), "restore_best_weights must be a bool; got 'no'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EarlyStopping(**kwargs)


def test_numpy_integers_and_whole_floats_are_accepted_where_ints_are_due():
    es = EarlyStopping(patience=np.int64(3), start_from_epoch=np.int32(1), criterion="up", threshold=3.0)
    assert (es.patience, es.start_from_epoch, es.threshold) == (3, 1, 3)
    assert type(es.patience) is int and type(es.threshold) is int
    assert type(EarlyStopping(criterion="up", threshold=np.int64(2)).threshold) is int  # plain: JSON stores it
    assert type(EarlyStopping(criterion="gl", threshold=np.float32(2)).threshold) is float


def test_restored_weights_are_those_of_best_epoch_when_epochs_run_out():
    from shrinkage.layers import Dense, Sequential
    from shrinkage.losses import SquaredError
    from shrinkage.optim import SGD, Updater
    from shrinkage.parameters import Parameters
    from shrinkage.training import Callback, train

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    X_val, y_val = rng.normal(size=(20, 3)), rng.normal(size=(20, 1)) + 5.0  # val loss goes its own way
    params = Parameters([(3, 1)], dtype=np.float64)
    net = Sequential([Dense(*params.layer(0))])

    class Record(Callback):
        weights = []

        def on_epoch_end(self, epoch, logs):
            self.weights.append([p.copy() for p in net.params])

    updater = Updater(SGD(0.05))
    updater.init(params)
    es = EarlyStopping(patience=1000)
    outcome = train(net, params, SquaredError(), updater, X, y, max_epochs=15, batch_size=8, rng=rng,
                    validation=(X_val, y_val), early_stopping=es, callbacks=[Record()])
    assert outcome.stop_reason == "max_epochs" and outcome.restored
    assert 0 <= es.best_epoch < 14  # the best epoch is not the last one here
    for p, best in zip(net.params, Record.weights[es.best_epoch]):
        np.testing.assert_array_equal(p, best)


# ------------------------------------------------- an EarlyStopping given to an estimator


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_settings_survive_get_config_and_repr_names_what_differs():
    es = EarlyStopping(monitor="val_score", mode="max", patience=3, baseline=0.5, start_from_epoch=4,
                       criterion="patience")
    assert EarlyStopping(**es.get_config()).get_config() == es.get_config()
    assert repr(es) == "EarlyStopping(monitor='val_score', mode='max', patience=3, baseline=0.5, start_from_epoch=4)"
    assert repr(EarlyStopping()) == "EarlyStopping()"
    assert repr(EarlyStopping(criterion="gl", threshold=2)) == "EarlyStopping(criterion='gl', threshold=2.0)"


def test_an_estimator_stops_by_the_given_rule_on_the_validation_score_after_a_warm_up():
    from shrinkage import MLPClassifier
    from shrinkage.training import Callback

    X, y = _digits()

    class Weights(Callback):
        seen = []

        def on_epoch_end(self, epoch, logs):
            self.seen.append([W.copy() for W in clf.coefs_])

    def rule(start_from_epoch):
        return EarlyStopping(monitor="val_score", mode="max", patience=0, start_from_epoch=start_from_epoch)

    unwarmed = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=rule(0), random_state=0).fit(X, y)
    assert unwarmed.stop_reason_ == "patience" and unwarmed.n_epochs_ < 20
    given = rule(20)
    clf = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=given, max_epochs=200, random_state=0)
    clf.fit(X, y, callbacks=[Weights()])
    scores = clf.history_["val_score"]
    assert clf.stop_reason_ == "patience" and 22 <= clf.n_epochs_ < 200  # nothing watched before epoch 20
    assert clf.best_epoch_ == 20 + int(np.argmax(scores[20:]))  # the highest score, first reached
    for W, best in zip(clf.coefs_, Weights.seen[clf.best_epoch_]):  # its weights are restored
        np.testing.assert_array_equal(W, best)
    assert clf.early_stopping_ is not given and clf.early_stopping_.best == max(scores[20:])
    assert given.best is None and given.best_epoch is None  # the user's object is a setting: fit leaves it alone


def test_an_early_stopping_parameter_is_cloned_saved_and_checkpointed(tmp_path):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from shrinkage import MLPClassifier, load, save

    X, y = _digits()
    given = EarlyStopping(monitor="val_score", mode="max", patience=2, baseline=0.1)
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=given, max_epochs=30, random_state=0)
    copy = clone(clf)
    assert copy.early_stopping is not given and copy.early_stopping.get_config() == given.get_config()
    clf.fit(X, y, checkpoint=tmp_path / "ck.npz")
    save(clf, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert isinstance(loaded.early_stopping, EarlyStopping)
    assert loaded.early_stopping.get_config() == given.get_config()
    resumed = clone(clf).fit(X, y, checkpoint=tmp_path / "ck.npz", resume=True)  # same parameters: accepted
    assert resumed.n_epochs_ == clf.n_epochs_
    for a, b in zip(resumed.coefs_, clf.coefs_):
        np.testing.assert_array_equal(a, b)
    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0),
                          {"early_stopping": [False, given]}, cv=2, error_score="raise").fit(X, y)
    assert len(search.cv_results_["params"]) == 2
