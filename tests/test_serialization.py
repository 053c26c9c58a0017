import pickle
import re

import numpy as np
import pytest
from sklearn.datasets import make_regression

from shrinkage import EarlyStopping, LinearClassifier, MLPClassifier, MLPRegressor, ModelFileError, load, save
from shrinkage.checkpoint import MAX_MEMBERS
from shrinkage.serialization import FORMAT_VERSION


@pytest.fixture(scope="module")
def fitted(digits_split):
    X_tr, X_te, y_tr, _ = digits_split
    labels = np.array([f"digit-{d}" for d in range(10)], dtype=object)
    Xr, yr = make_regression(n_samples=60, n_features=5, n_targets=2, random_state=0)
    return [
        (MLPClassifier(hidden_layer_sizes=(16, 8), max_epochs=3, random_state=0).fit(X_tr, labels[y_tr]), X_te),
        (LinearClassifier(max_epochs=3, dtype="float64").fit(X_tr, y_tr), X_te),
        (MLPRegressor(max_epochs=3, random_state=0).fit(Xr, yr), Xr),
        (MLPRegressor(max_epochs=3, random_state=0).fit(Xr, yr[:, 0]), Xr),
    ]


def test_round_trip_gives_identical_predictions(tmp_path, fitted):
    for i, (est, X) in enumerate(fitted):
        path = save(est, tmp_path / f"m{i}.npz")
        back = load(path)
        assert type(back) is type(est) and back.get_params() == est.get_params()
        if hasattr(est, "classes_"):  # object labels come back as objects, numbers as numbers
            assert back.classes_.dtype == est.classes_.dtype
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        if hasattr(est, "predict_proba"):
            np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_pickle_payload_is_refused_without_running_it(tmp_path, pickle_payload):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([pickle_payload(marker)], dtype=object))
    with pytest.raises(ModelFileError):
        load(path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(pickle_payload(marker)))
    with pytest.raises(ModelFileError):
        load(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_newer_version_truncated_and_foreign_files(tmp_path, fitted):
    est, _ = fitted[0]
    path = save(est, tmp_path / "m.npz")
    data = path.read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable shrinkage model file"):
        load(tmp_path / "t.npz")
    np.savez(tmp_path / "other.npz", X=np.ones(3))
    with pytest.raises(ModelFileError, match="no header"):
        load(tmp_path / "other.npz")
    import json

    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays["header"].tobytes())
    header["version"] = FORMAT_VERSION + 1
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "new.npz", **arrays)
    with pytest.raises(ModelFileError, match="newer than this shrinkage reads"):
        load(tmp_path / "new.npz")


def _header_text(header):
    import json

    return np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


def _edited(header, **changes):
    return _header_text({**header, **changes})


DAMAGES = {  # how a file is damaged -> the words the error must contain
    "header of another dtype": (lambda a, h: {"header": a["header"].astype(np.int64)}, "no header"),
    "header of two dimensions": (lambda a, h: {"header": a["header"][None, :]}, "no header"),
    "header a JSON list": (lambda a, h: {"header": _header_text([1, 2])}, "not a shrinkage model file"),
    "header of another format": (lambda a, h: {"header": _edited(h, format="other")}, "format 'other'"),
    "weights of another shape": (lambda a, h: {"coefs_0": a["coefs_0"][:-1]}, "'coefs_0' is missing or does not"),
    "weights of another dtype": (lambda a, h: {"coefs_0": a["coefs_0"].astype(np.float64)},
                                 "'coefs_0' is missing or does not"),
    "a standardization of other width": (
        lambda a, h: {"input_mean": a["input_mean"][:-1],
                      "header": _edited(h, arrays={**h["arrays"], "input_mean": [[63], "<f8"]})},
        "standardization does not match"),
    "a scale of other width": (
        lambda a, h: {"input_scale": a["input_scale"][:-1],
                      "header": _edited(h, arrays={**h["arrays"], "input_scale": [[63], "<f8"]})},
        "standardization does not match"),
}


def _shrunk(name):
    """Drop the last row of array ``name``, in the file and in its header, so only the layer check sees it."""
    def edit(arrays, header):
        shrunk = arrays[name][:-1]
        listed = {**header["arrays"], name: [list(shrunk.shape), shrunk.dtype.str]}
        return {name: shrunk, "header": _edited(header, arrays=listed)}
    return edit


CHAIN = "layer shapes do not chain from the inputs to the outputs"
DAMAGES.update({
    "layers that do not chain": (_shrunk("coefs_1"), CHAIN),
    "a bias of another width": (_shrunk("intercepts_0"), CHAIN),
    "another number of features": (
        lambda a, h: {"header": _edited(h, attributes={**h["attributes"], "n_features_in_": 63})}, CHAIN),
    "another number of outputs": (
        lambda a, h: {"header": _edited(h, attributes={**h["attributes"], "n_outputs": 9})}, CHAIN),
})


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_each_damaged_part_is_named(tmp_path, fitted, damage):
    import json

    est, X = fitted[0]
    path = save(est, tmp_path / "m.npz", input_mean=np.zeros(X.shape[1]), input_scale=np.ones(X.shape[1]))
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(arrays["header"].tobytes())
    edit, words = DAMAGES[damage]
    np.savez(tmp_path / "damaged.npz", **{**arrays, **edit(arrays, header)})
    with pytest.raises(ModelFileError, match=re.escape(words)):
        load(tmp_path / "damaged.npz")


def test_an_archive_of_too_many_members_is_refused_before_reading(tmp_path):
    np.savez(tmp_path / "many.npz", **{f"a{i}": np.zeros(1) for i in range(MAX_MEMBERS + 1)})
    with pytest.raises(ModelFileError, match="implausible archive layout"):
        load(tmp_path / "many.npz")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_save_needs_a_fitted_shrinkage_estimator(tmp_path):
    from sklearn.neural_network import MLPClassifier as SkMLP

    sklearns = SkMLP(max_iter=2).fit(np.eye(4), [0, 1, 0, 1])  # fitted, and of the same class name
    weights_only = LinearClassifier()
    weights_only.coef_, weights_only.intercept_ = np.zeros((2, 4)), np.zeros(2)  # set, never fitted: no classes
    for estimator, got in [(MLPClassifier(), "an unfitted MLPClassifier"),
                           (weights_only, "an unfitted LinearClassifier"),
                           (sklearns, "sklearn.neural_network._multilayer_perceptron.MLPClassifier")]:
        with pytest.raises(TypeError, match=f"save expects a fitted shrinkage estimator; got {re.escape(got)}$"):
            save(estimator, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_save_to_a_path_that_cannot_be_written_names_it(tmp_path):
    clf = LinearClassifier(max_epochs=1, random_state=0).fit(np.eye(4), [0, 1, 0, 1])
    (tmp_path / "taken").mkdir()
    for path, problem in [(tmp_path / "missing" / "m.npz", "the folder .*missing does not exist"),
                          (tmp_path / "taken", "is a folder; give a file path")]:
        with pytest.raises(ValueError, match=f"^path {re.escape(str(path))}: {problem}$"):
            save(clf, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temporary file left behind


# ---------------------------------------------------------------- fuzzing load

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), np.arange(30) % 3
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_epochs=2, random_state=0).fit(X, y)
    path = save(clf, tmp_path_factory.mktemp("m") / "m.npz")
    return path.read_bytes(), clf


def load_or_error(tmp_path, data, original):
    """A damaged file must end in ModelFileError, or (damage in ignored bytes) load the original model."""
    path = tmp_path / "fuzz.npz"
    path.write_bytes(data)
    try:
        back = load(path)
    except ModelFileError:
        return
    for a, b in zip(back.coefs_ + back.intercepts_, original.coefs_ + original.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.classes_, original.classes_)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated_files(tmp_path, model_bytes, cut):
    data, original = model_bytes
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: int(cut * len(data))])
    with pytest.raises(ModelFileError):
        load(path)


@FUZZ
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flipped_files(tmp_path, model_bytes, flips):
    data, original = model_bytes
    damaged = bytearray(data)
    for where, bit in flips:
        damaged[int(where * len(damaged))] ^= 1 << bit
    load_or_error(tmp_path, bytes(damaged), original)


@FUZZ
@given(data=st.binary(max_size=4096), zip_magic=st.booleans())
def test_random_files(tmp_path, model_bytes, data, zip_magic):
    path = tmp_path / "random.npz"
    path.write_bytes((b"PK\x03\x04" if zip_magic else b"") + data)
    with pytest.raises(ModelFileError):
        load(path)


@FUZZ
@given(payload_slot=st.sampled_from(["header", "coefs_0", "classes_"]))
def test_pickle_payload_in_any_array_is_never_run(tmp_path, model_bytes, pickle_payload, payload_slot):
    marker = tmp_path / "pwned"
    marker.unlink(missing_ok=True)
    data, _ = model_bytes
    src = tmp_path / "src.npz"
    src.write_bytes(data)
    with np.load(src) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays[payload_slot] = np.array([pickle_payload(marker)], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ModelFileError):
        load(tmp_path / "evil.npz")
    assert not marker.exists()


def test_a_loaded_model_continues_with_partial_fit(tmp_path, digits_split):
    X_tr, X_te, y_tr, y_te = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, max_epochs=10, random_state=0).fit(X_tr, y_tr)
    back = load(save(clf, tmp_path / "m.npz"))
    before = [W.copy() for W in back.coefs_]
    back.partial_fit(X_tr, y_tr)  # its generator is not in the file: a fresh one from random_state
    assert all(np.abs(W - W0).max() > 0 for W, W0 in zip(back.coefs_, before))
    assert back.score(X_te, y_te) > 0.5
    # Neither are Adam's moments (the module's notes): every loaded copy starts them afresh, the same
    # way, and so steps elsewhere than the saved estimator, which continues its own.
    twin = load(tmp_path / "m.npz").partial_fit(X_tr, y_tr)
    assert all(np.array_equal(W, W_twin) for W, W_twin in zip(back.coefs_, twin.coefs_))
    clf.partial_fit(X_tr, y_tr)
    assert not np.array_equal(back.coefs_[0], clf.coefs_[0])


RECORD = ("history_", "n_epochs_", "best_epoch_", "stop_reason_", "loss_curve_", "validation_scores_",
          "best_validation_score_", "best_loss_")


@pytest.mark.filterwarnings("ignore:MLPClassifier.partial_fit ignores early_stopping")
@pytest.mark.parametrize("early_stopping", [False, True, EarlyStopping(monitor="val_score", mode="max", patience=2)])
def test_the_training_record_and_column_names_survive_a_round_trip(tmp_path, digits_split, early_stopping):
    import pandas as pd

    X_tr, _, y_tr, _ = digits_split
    frame = pd.DataFrame(X_tr, columns=[f"pixel{i}" for i in range(X_tr.shape[1])])
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=6, early_stopping=early_stopping, patience=2
                        if early_stopping is True else None, random_state=0).fit(frame, y_tr)
    back = load(save(clf, tmp_path / "m.npz"))
    for name in RECORD:
        assert getattr(back, name) == getattr(clf, name), name
    np.testing.assert_array_equal(back.feature_names_in_, clf.feature_names_in_)
    if early_stopping:
        assert back.early_stopping_.state_dict() == clf.early_stopping_.state_dict()
        assert back.early_stopping_.get_config() == clf.early_stopping_.get_config()
    else:
        assert back.early_stopping_ is None
    with pytest.raises(ValueError, match="feature names should match"):  # columns in another order
        back.predict(frame[frame.columns[::-1]])
    back.partial_fit(frame, y_tr)  # the epoch count goes on
    assert back.n_epochs_ == clf.n_epochs_ + 1 == len(back.history_["loss"])


def _saved_header(tmp_path, est):
    import json

    path = save(est, tmp_path / "m.npz")
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return arrays, json.loads(arrays["header"].tobytes())


@pytest.mark.parametrize("change, words", [
    ({"feature_names_in_": ["a", "b"]}, "feature_names_in_ is not 64 column names"),
    ({"feature_names_in_": list(range(64))}, "feature_names_in_ is not 64 column names"),
    ({"history_": {"loss": [1.0, 0.5], "time": [0.1]}}, "training record"),  # curves of other lengths
    ({"history_": {"loss": [1.0, "x", 0.5]}}, "training record"),  # three epochs, as the fit ran
    ({"history_": {"loss": [1.0, True, 0.5]}}, "training record"),
    ({"history_": [[1.0, 0.9, 0.5]]}, "training record"),
    ({"best_epoch_": 3}, "training record"),  # one past the last epoch
    ({"best_epoch_": -1}, "training record"),
    ({"n_epochs_": -1}, "training record"),
    ({"n_epochs_": True}, "training record"),
    ({"stop_reason_": 1}, "training record"),
    ({"early_stopping_": {"best": 1.0}}, "early-stopping state that the model's settings do not explain"),
    ({"input_columns": ["a", "b"]}, "input_columns is not 64 distinct column names"),
    ({"input_columns": ["a"] * 64}, "input_columns is not 64 distinct column names"),
])
def test_a_damaged_training_record_is_named(tmp_path, digits_split, change, words):
    import pandas as pd

    X_tr, _, y_tr, _ = digits_split
    frame = pd.DataFrame(X_tr, columns=[f"pixel{i}" for i in range(X_tr.shape[1])])
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, early_stopping=True, random_state=0).fit(frame, y_tr)
    arrays, header = _saved_header(tmp_path, clf)
    arrays["header"] = _edited(header, attributes={**header["attributes"], **change})
    np.savez(tmp_path / "damaged.npz", **arrays)
    with pytest.raises(ModelFileError, match=re.escape(words)):
        load(tmp_path / "damaged.npz")


def test_every_epoch_of_the_history_can_be_the_best(tmp_path, fitted):
    est, _ = fitted[0]
    arrays, header = _saved_header(tmp_path, est)
    for best in (0, len(est.history_["loss"]) - 1):
        arrays["header"] = _edited(header, attributes={**header["attributes"], "best_epoch_": best})
        np.savez(tmp_path / "edited.npz", **arrays)
        assert load(tmp_path / "edited.npz").best_epoch_ == best


def test_an_early_stopping_state_in_a_model_without_early_stopping_is_refused(tmp_path, fitted):
    est, _ = fitted[0]
    arrays, header = _saved_header(tmp_path, est)
    state = EarlyStopping().state_dict()
    arrays["header"] = _edited(header, attributes={**header["attributes"], "early_stopping_": state})
    np.savez(tmp_path / "damaged.npz", **arrays)
    with pytest.raises(ModelFileError, match="an early-stopping state that the model's settings do not explain"):
        load(tmp_path / "damaged.npz")


@pytest.mark.filterwarnings("ignore::shrinkage.network_estimator.TrainingDivergedWarning")
def test_a_model_that_diverged_in_its_first_epoch_round_trips(tmp_path, digits_split):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(8,), optimizer="sgd", learning_rate=50.0, early_stopping=True,
                        random_state=0).fit(X_tr * 1e3, y_tr)
    assert clf.stop_reason_ == "diverged" and clf.n_epochs_ == 0 and clf.best_epoch_ is None
    back = load(save(clf, tmp_path / "m.npz"))
    assert (back.n_epochs_, back.best_epoch_, back.stop_reason_, back.history_) == (0, None, "diverged", clf.history_)


def test_a_file_without_the_training_record_still_loads(tmp_path, fitted):
    est, X = fitted[0]
    arrays, header = _saved_header(tmp_path, est)
    record = {*RECORD[:4], "feature_names_in_", "early_stopping_"}
    kept = {k: v for k, v in header["attributes"].items() if k not in record}  # as written before
    arrays["header"] = _edited(header, attributes=kept)
    np.savez(tmp_path / "old.npz", **arrays)
    back = load(tmp_path / "old.npz")
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert not hasattr(back, "history_")
