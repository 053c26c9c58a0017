import pickle

import numpy as np
import pytest
from sklearn.datasets import make_regression

from shrinkage import LinearClassifier, MLPClassifier, MLPRegressor, ModelFileError, load, save
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
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        if hasattr(est, "predict_proba"):
            np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))


def test_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([Exploit()], dtype=object))
    with pytest.raises(ModelFileError):
        load(path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Exploit()))
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
def test_pickle_payload_in_any_array_is_never_run(tmp_path, model_bytes, payload_slot):
    marker = tmp_path / "pwned"
    marker.unlink(missing_ok=True)

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    data, _ = model_bytes
    src = tmp_path / "src.npz"
    src.write_bytes(data)
    with np.load(src) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays[payload_slot] = np.array([Exploit()], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)
    with pytest.raises(ModelFileError):
        load(tmp_path / "evil.npz")
    assert not marker.exists()
