"""Divergence, interruption, checkpoints and memory over long runs."""

import json
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from shrinkage import MLPClassifier, MLPRegressor, load
from shrinkage.checkpoint import read_checkpoint
from shrinkage.estimators import TrainingDivergedWarning
from shrinkage.training import Callback


@pytest.mark.parametrize("early_stopping", [False, True])
def test_divergence_stops_restores_finite_weights_and_warns_once(digits_split, early_stopping):
    X_tr, _, y_tr, _ = digits_split
    clf = MLPClassifier(hidden_layer_sizes=(64, 64), optimizer="sgd", learning_rate=1e4, max_epochs=50,
                        early_stopping=early_stopping, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X_tr, y_tr)
    assert clf.stop_reason_ == "diverged"
    assert [w.category for w in caught] == [TrainingDivergedWarning]
    assert "diverged" in str(caught[0].message) and "Lower learning_rate" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the user's fit line, not into the training loop
    assert all(np.isfinite(a).all() for a in clf.coefs_ + clf.intercepts_)
    assert np.isfinite(clf.predict_proba(X_tr)).all()
    assert clf.n_epochs_ == len(clf.history_["loss"]) and all(np.isfinite(clf.history_["loss"]))


def test_regressor_divergence_keeps_the_last_finished_epoch():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)), rng.normal(size=200) * 1e3
    reg = MLPRegressor(optimizer="sgd", learning_rate=10.0, max_epochs=20, random_state=0)
    with pytest.warns(TrainingDivergedWarning, match="the weights of the last finished epoch were restored"):
        reg.fit(X, y)
    assert reg.stop_reason_ == "diverged" and all(np.isfinite(w).all() for w in reg.coefs_)
    with pytest.warns(TrainingDivergedWarning, match="the initial weights were restored"):  # within epoch 0
        first = MLPRegressor(optimizer="sgd", learning_rate=1e6, batch_size=10, max_epochs=20, random_state=0)
        first.fit(X, y)
    assert first.n_epochs_ == 0 and first.history_["loss"] == []
    initial = MLPRegressor(max_epochs=1, random_state=0)
    initial._initialize_weights(5, 1, np.random.default_rng(0))
    for a, b in zip(first.coefs_, initial.coefs_):
        np.testing.assert_array_equal(a, b)


SCRIPT_HEADER = """
import json, signal, sys, time
import numpy as np
from sklearn.datasets import load_digits
from shrinkage import MLPClassifier
from shrinkage.training import Callback
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
"""


def run_script(tmp_path, body, *args):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_HEADER + textwrap.dedent(body))
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for_line(proc, prefix, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.stderr.read()}")
    raise AssertionError(f"no line starting with {prefix!r} within {timeout}s")


def test_sigint_ends_fit_cleanly_with_the_best_weights(tmp_path, sigint_delivered):
    proc = run_script(tmp_path, """
        recorded = []
        class Record(Callback):
            def on_epoch_end(self, epoch, logs):
                recorded.append([w.copy() for w in clf.coefs_])
                print(f"epoch {epoch}", flush=True)
                time.sleep(0.05)
        clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate=0.05, early_stopping=True, patience=10**6,
                            max_epochs=10**6, random_state=0)
        clf.fit(X, y, callbacks=[Record()])
        same = all(np.array_equal(a, b) for a, b in zip(clf.coefs_, recorded[clf.best_epoch_]))
        print(json.dumps({"stop_reason": clf.stop_reason_, "best_epoch": clf.best_epoch_,
                          "epochs": clf.n_epochs_, "best_restored": same}), flush=True)
        sys.exit(130 if clf.stop_reason_ == "interrupted" else 0)
    """)
    wait_for_line(proc, "epoch 8")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["stop_reason"] == "interrupted" and result["best_restored"] and result["epochs"] >= 9
    assert "Traceback" not in err


def test_cli_train_sigint_saves_the_model_and_exits_130(tmp_path, sigint_delivered):
    model = tmp_path / "m.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "shrinkage", "train", "--data", "digits", "--max-epochs", "1000000", "--verbose",
         "--early-stopping", "--set", "patience=1000000", "--learning-rate", "0.05", "--save", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, "epoch 3:")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    clf = load(model)
    assert clf.coefs_[0].shape == (64, 100)


CHECKPOINTED_FIT = """
    class Slow(Callback):
        def on_epoch_end(self, epoch, logs):
            print(f"epoch {epoch}", flush=True)
            time.sleep(0.02)
    clf = MLPClassifier(hidden_layer_sizes=(128, 128), dropout=0.2, penalty="l1", l1_method="cumulative",
                        alpha=1e-4, early_stopping=True, patience=1000, max_epochs=40, random_state=7)
    clf.fit(X, y, checkpoint=sys.argv[1], resume=True, callbacks=[Slow()])
    np.savez(sys.argv[2], *clf.coefs_, *clf.intercepts_)
    print("done", flush=True)
"""


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    checkpoint, result = tmp_path / "ck.npz", tmp_path / "final.npz"
    rng = np.random.default_rng(0)
    for _ in range(3):  # kill it three times at varied moments
        proc = run_script(tmp_path, CHECKPOINTED_FIT, str(checkpoint), str(result))
        first = int(wait_for_line(proc, "epoch").split()[1])
        wait_for_line(proc, f"epoch {first + 2}")
        time.sleep(rng.uniform(0, 0.05))
        proc.kill()
        proc.wait()
        state = read_checkpoint(checkpoint)  # complete, never half-written
        assert state["trainer"]["epochs_done"] >= first + 1 and not state["finished"]
    proc = run_script(tmp_path, CHECKPOINTED_FIT, str(checkpoint), str(result))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "done" in out, err
    assert read_checkpoint(checkpoint)["finished"]

    # The same fit, never killed, in a process like the others (same BLAS threads, which set the rounding)
    whole = tmp_path / "whole.npz"
    proc = run_script(tmp_path, CHECKPOINTED_FIT, str(tmp_path / "fresh.npz"), str(whole))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "done" in out, err
    with np.load(result) as resumed, np.load(whole) as uninterrupted:
        assert resumed.files == uninterrupted.files
        for name in resumed.files:
            np.testing.assert_array_equal(resumed[name], uninterrupted[name])


def test_resume_refuses_a_checkpoint_of_other_parameters_or_data(tmp_path, digits_split):
    from shrinkage.checkpoint import CheckpointError

    X_tr, _, y_tr, _ = digits_split
    path = tmp_path / "ck.npz"
    MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X_tr, y_tr, checkpoint=path)
    with pytest.raises(CheckpointError, match="other parameters"):
        MLPClassifier(hidden_layer_sizes=(9,), max_epochs=2, random_state=0).fit(X_tr, y_tr, checkpoint=path,
                                                                                  resume=True)
    with pytest.raises(CheckpointError, match="other training data"):
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X_tr[1:], y_tr[1:],
                                                                                  checkpoint=path, resume=True)
    with pytest.raises(CheckpointError, match="other training data"):  # the same data, other sample weights
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(
            X_tr, y_tr, checkpoint=path, resume=True, sample_weight=np.r_[2.0, np.ones(len(y_tr) - 1)])
    done = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X_tr, y_tr, checkpoint=path,
                                                                                     resume=True)
    assert done.n_epochs_ == 2  # a finished checkpoint: nothing more to train



def fitted_arrays(clf):
    return clf.coefs_ + clf.intercepts_


def assert_same_fit(a, b):
    for x, y in zip(fitted_arrays(a), fitted_arrays(b)):
        np.testing.assert_array_equal(x, y)
    untimed = [{k: v for k, v in fit.history_.items() if k != "time"} for fit in (a, b)]
    assert untimed[0] == untimed[1]
    assert (a.n_epochs_, a.best_epoch_, a.stop_reason_) == (b.n_epochs_, b.best_epoch_, b.stop_reason_)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_finished_checkpoint_trains_on_to_a_larger_max_epochs_bit_for_bit(tmp_path, digits_split,
                                                                              early_stopping):
    # With early stopping the 3-epoch fit ends on its best epoch's weights; the longer fit must go on
    # from the weights the third epoch left, which the checkpoint keeps beside the restored ones.
    X_tr, _, y_tr, _ = digits_split
    settings = dict(hidden_layer_sizes=(16,), dropout=0.2, learning_rate=0.05, random_state=0,
                    **(dict(early_stopping=True, patience=100) if early_stopping else {}))
    path = tmp_path / "ck.npz"
    short = MLPClassifier(max_epochs=3, **settings).fit(X_tr, y_tr, checkpoint=path)
    assert read_checkpoint(path)["finished"]
    again = MLPClassifier(max_epochs=3, **settings).fit(X_tr, y_tr, checkpoint=path, resume=True)
    assert_same_fit(again, short)  # the same max_epochs: the finished fit, restore and all
    longer = MLPClassifier(max_epochs=6, verbose=0, **settings).fit(X_tr, y_tr, checkpoint=path, resume=True)
    whole = MLPClassifier(max_epochs=6, **settings).fit(X_tr, y_tr)
    assert_same_fit(longer, whole)
    assert longer.n_epochs_ == 6
    if early_stopping:  # the short fit really did restore other weights than its last epoch's
        assert short.best_epoch_ != 2 or not np.array_equal(short.coefs_[0], whole.coefs_[0])


def test_a_fit_that_early_stopping_ended_stays_ended_with_a_larger_max_epochs(tmp_path, digits_split):
    X_tr, _, y_tr, _ = digits_split
    settings = dict(hidden_layer_sizes=(16,), early_stopping=True, patience=1, min_delta=10.0, random_state=0)
    path = tmp_path / "ck.npz"
    ended = MLPClassifier(max_epochs=50, **settings).fit(X_tr, y_tr, checkpoint=path)
    assert ended.stop_reason_ == "patience" and ended.n_epochs_ < 50
    resumed = MLPClassifier(max_epochs=80, **settings).fit(X_tr, y_tr, checkpoint=path, resume=True)
    assert_same_fit(resumed, ended)


def test_a_diverged_checkpoint_resumes_to_the_same_finite_weights(tmp_path, digits_split):
    X_tr, _, y_tr, _ = digits_split
    settings = dict(hidden_layer_sizes=(32,), optimizer="sgd", learning_rate=1e4, random_state=0)
    path = tmp_path / "ck.npz"
    with pytest.warns(TrainingDivergedWarning) as first:
        diverged = MLPClassifier(max_epochs=20, **settings).fit(X_tr, y_tr, checkpoint=path)
    with pytest.warns(TrainingDivergedWarning) as again:
        resumed = MLPClassifier(max_epochs=40, **settings).fit(X_tr, y_tr, checkpoint=path, resume=True)
    assert diverged.stop_reason_ == "diverged"
    assert str(again[0].message) == str(first[0].message)  # "diverged (training loss nan at epoch 0); ..."
    assert_same_fit(resumed, diverged)
    assert all(np.isfinite(a).all() for a in fitted_arrays(resumed))


def test_resume_names_the_changed_parameter_and_refuses_fewer_epochs_than_done(tmp_path, digits_split):
    from shrinkage.checkpoint import CheckpointError

    X_tr, _, y_tr, _ = digits_split
    path = tmp_path / "ck.npz"
    MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X_tr, y_tr, checkpoint=path)
    changed = r"with other parameters \(alpha=0\.001 there, 0\.01 here; hidden_layer_sizes=\[8\] there, \[9\] here\)"
    with pytest.raises(CheckpointError, match=changed + ".*only max_epochs and verbose may differ"):
        MLPClassifier(hidden_layer_sizes=(9,), alpha=1e-2, max_epochs=3, random_state=0).fit(
            X_tr, y_tr, checkpoint=path, resume=True)
    with pytest.raises(CheckpointError, match="holds 3 finished epochs, more than max_epochs=2"):
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X_tr, y_tr, checkpoint=path,
                                                                                  resume=True)
    with pytest.raises(CheckpointError, match="written by a MLPClassifier; resume needs the same estimator"):
        MLPRegressor(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X_tr, y_tr.astype(float),
                                                                                 checkpoint=path, resume=True)


def test_an_older_finished_checkpoint_without_its_last_weights_is_not_continued(tmp_path, digits_split):
    from shrinkage.checkpoint import CheckpointError, write_checkpoint

    X_tr, _, y_tr, _ = digits_split
    settings = dict(hidden_layer_sizes=(8,), early_stopping=True, patience=100, random_state=0)
    path = tmp_path / "ck.npz"
    done = MLPClassifier(max_epochs=3, **settings).fit(X_tr, y_tr, checkpoint=path)
    state = read_checkpoint(path)
    del state["live_weights"]  # as written before it was kept: the weights after the restore
    state["weights"] = np.concatenate([a.ravel() for a in fitted_arrays(done)]).astype(state["weights"].dtype)
    write_checkpoint(path, state)
    same = MLPClassifier(max_epochs=3, **settings).fit(X_tr, y_tr, checkpoint=path, resume=True)
    assert_same_fit(same, done)
    with pytest.raises(CheckpointError, match="kept only its restored best weights.*max_epochs=5"):
        MLPClassifier(max_epochs=5, **settings).fit(X_tr, y_tr, checkpoint=path, resume=True)


def test_a_checkpoint_holding_a_pickle_payload_is_refused_without_running_it(tmp_path, pickle_payload):
    from shrinkage.checkpoint import CheckpointError, write_checkpoint

    marker = tmp_path / "ran"
    path = tmp_path / "ck.npz"
    write_checkpoint(path, {"epochs_done": 1, "weights": np.array([pickle_payload(marker)], dtype=object)})
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        MLPClassifier(max_epochs=1).fit(np.eye(4), [0, 1, 0, 1], checkpoint=path, resume=True)
    assert not marker.exists()


def test_a_damaged_checkpoint_is_refused_by_what_is_wrong(tmp_path):
    # Read as model files are: not as a pickle (NumPy's fallback for a file that is not a zip), and not
    # trusting the archive's sizes.
    from shrinkage.checkpoint import MAX_MEMBERS, CheckpointError

    (tmp_path / "text.npz").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"text.npz: not a readable checkpoint \(BadZipFile") as info:
        read_checkpoint(tmp_path / "text.npz")
    assert "pickle" not in str(info.value)
    np.savez(tmp_path / "many.npz", **{f"a{i}": np.zeros(1) for i in range(MAX_MEMBERS + 1)})
    with pytest.raises(CheckpointError, match=r"many.npz: not a checkpoint \(implausible archive layout\)"):
        read_checkpoint(tmp_path / "many.npz")


@pytest.mark.parametrize("header", [{"format": "shrinkage-checkpoint", "version": 2, "tree": {}},
                                    {"format": "shrinkage-model", "version": 1, "tree": {}},
                                    ["shrinkage-checkpoint", 1]])
def test_a_checkpoint_of_another_format_or_version_is_refused(tmp_path, header):
    from shrinkage.checkpoint import CheckpointError

    path = tmp_path / "ck.npz"
    np.savez(path, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with pytest.raises(CheckpointError, match="not a shrinkage checkpoint of version 1"):
        read_checkpoint(path)

def rss_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def test_memory_stays_flat_over_a_long_run(digits_split):
    X_tr, _, y_tr, _ = digits_split
    marks = {}

    class Measure(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch in (20, 199):
                marks[epoch] = rss_bytes()

    MLPClassifier(hidden_layer_sizes=(256, 256), dropout=0.3, penalty="l1", early_stopping=True, patience=10**6,
                  max_epochs=200, random_state=0).fit(X_tr, y_tr, callbacks=[Measure()])
    growth = marks[199] / marks[20] - 1
    print(f"RSS epoch 20: {marks[20] / 2**20:.1f} MiB, epoch 199: {marks[199] / 2**20:.1f} MiB ({growth:+.2%})")
    assert abs(growth) < 0.03


def test_checkpoints_of_sparse_data_resume_and_refuse_other_sparse_data(tmp_path, digits_split):
    import scipy.sparse as sp

    from shrinkage.checkpoint import CheckpointError

    X_tr, _, y_tr, _ = digits_split
    X = sp.csr_matrix(np.where(X_tr > 0.5, X_tr, 0.0))
    path = tmp_path / "ck.npz"
    whole = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X, y_tr)
    MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X, y_tr, checkpoint=path)
    with pytest.raises(CheckpointError, match="other training data"):
        changed = X.copy()
        changed.data[0] += 1.0
        MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(changed, y_tr, checkpoint=path,
                                                                                  resume=True)
    resumed = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, random_state=0).fit(X, y_tr, checkpoint=path,
                                                                                        resume=True)
    for a, b in zip(resumed.coefs_, whole.coefs_):
        np.testing.assert_array_equal(a, b)
