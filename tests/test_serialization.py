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
