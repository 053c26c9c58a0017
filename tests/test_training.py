"""The training loop's own contract: what it reports per epoch, how callbacks stop it, batched inference."""

import re
import time

import numpy as np
import pytest

from shrinkage import MLPClassifier
from shrinkage.layers import Dense, Dropout, ReLU, Sequential
from shrinkage.losses import SoftmaxCrossEntropy
from shrinkage.training import Callback, loss_in_batches, predict_in_batches

rng = np.random.default_rng(5)
X = rng.normal(size=(96, 6)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(int)


class BatchLosses(Callback):
    def __init__(self):
        self.epochs = []

    def on_train_begin(self, n_epochs):
        self.epochs = []

    def on_batch_end(self, batch, loss):
        if batch == 0:
            self.epochs.append([])
        self.epochs[-1].append(loss)


@pytest.mark.parametrize("penalty", [None, "l2"])
def test_reported_loss_is_the_mean_batch_loss_plus_the_penalty_at_the_epochs_end(penalty):
    record = BatchLosses()
    clf = MLPClassifier(hidden_layer_sizes=(8,), penalty=penalty, alpha=0.01 if penalty else 0.0, batch_size=32,
                        max_epochs=3, random_state=0)  # 96 rows in three equal batches: row mean = batch mean
    clf.fit(X, y, callbacks=[record])
    penalty_value = 0.0 if penalty is None else 0.01 / 2 * sum(float(np.sum(W.astype(np.float64) ** 2))
                                                                 for W in clf.coefs_)
    assert len(record.epochs) == 3 and all(len(losses) == 3 for losses in record.epochs)
    assert clf.history_["loss"][-1] == pytest.approx(np.mean(record.epochs[-1]) + penalty_value, rel=1e-5)
    assert set(clf.history_) == {"loss", "time"}  # no validation: no val_* entries


def test_epoch_times_are_the_epochs_own():
    started = time.perf_counter()
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=4, random_state=0).fit(X, y)
    elapsed = time.perf_counter() - started
    assert all(0 < t for t in clf.history_["time"]) and sum(clf.history_["time"]) <= elapsed


def test_a_callback_stops_training_only_by_returning_true():
    class Quiet(Callback):  # overrides no on_epoch_end: never stops training
        def on_batch_end(self, batch, loss):
            pass

    class StopAtTwo(Callback):
        def on_epoch_end(self, epoch, logs):
            return epoch == 2

    assert MLPClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0).fit(
        X, y, callbacks=[Quiet()]).n_epochs_ == 5
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=5, random_state=0).fit(X, y, callbacks=[StopAtTwo()])
    assert (clf.n_epochs_, clf.stop_reason_) == (3, "callback")


def test_callbacks_and_a_checkpoint_path_are_checked_before_training(tmp_path):
    class OnlyEpochs:  # not a Callback: lacks the other hooks
        def on_epoch_end(self, epoch, logs):
            return False

    clf = MLPClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    with pytest.raises(TypeError, match="callbacks must be a list of Callback objects; got OnlyEpochs"):
        clf.fit(X, y, callbacks=OnlyEpochs())
    with pytest.raises(TypeError, match=r"callbacks\[0\] \(OnlyEpochs\) lacks on_train_begin, on_batch_end, "
                                        r"on_train_end: subclass shrinkage.training.Callback"):
        clf.fit(X, y, callbacks=[OnlyEpochs()])
    missing = tmp_path / "no such folder" / "ck.npz"
    with pytest.raises(ValueError, match=f"checkpoint {re.escape(str(missing))}: the folder .* does not exist"):
        clf.fit(X, y, checkpoint=missing)
    assert not hasattr(clf, "n_epochs_")  # refused before any epoch


def test_predict_in_batches_equals_one_pass_at_inference():
    """Chunked prediction (large inputs) gives the one-pass output, with dropout off in every chunk (to float32
    rounding: a BLAS may round a one-row product, a matrix-vector one, differently from a many-row one)."""
    W1, b1 = rng.normal(size=(6, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    W2, b2 = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    net = Sequential([Dense(W1, b1), ReLU(), Dropout(0.5), Dense(W2, b2)])
    whole = net.forward(X.copy(), training=False)
    for batch_size in (7, 32, 95, 96, 200):
        np.testing.assert_allclose(predict_in_batches(net, X, batch_size=batch_size), whole, rtol=1e-6, atol=1e-6)


def test_predict_in_batches_checks_every_chunk_before_the_network_sees_it():
    W, b = rng.normal(size=(6, 3)).astype(np.float32), np.zeros(3, np.float32)
    net = Sequential([Dense(W, b)])
    seen = []
    out = predict_in_batches(net, X, batch_size=32, check=lambda chunk: seen.append(chunk.copy()))
    np.testing.assert_array_equal(np.concatenate(seen), X)
    assert [len(c) for c in seen] == [32, 32, 32] and out.shape == (len(X), 3)
    seen.clear()
    predict_in_batches(net, X, batch_size=len(X), check=seen.append)  # one chunk: the whole of X
    assert len(seen) == 1 and seen[0] is X


def test_loss_in_batches_equals_the_loss_of_one_pass():
    W1, b1 = rng.normal(size=(6, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    W2, b2 = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    net = Sequential([Dense(W1, b1), ReLU(), Dropout(0.5), Dense(W2, b2)])
    target = np.arange(len(X)) % 3
    weight = np.linspace(0.5, 1.5, len(X))
    loss = SoftmaxCrossEntropy()
    for w in (None, weight):
        whole = loss.value(net.forward(X.copy(), training=False), target, w)
        for batch_size in (7, 95, 96, 200):
            assert loss_in_batches(net, loss, X, target, w, batch_size) == pytest.approx(whole, rel=1e-5)
    rows = np.arange(len(X))[::-3]  # a part of X, in another order: the loss of X[rows]
    part = loss.value(net.forward(X[rows], training=False), target[rows], weight[rows])
    assert loss_in_batches(net, loss, X, target[rows], weight[rows], 7, rows) == pytest.approx(part, rel=1e-5)


def test_early_stopping_trains_on_its_part_of_X_without_copying_it():
    """The hold-out split trains on row indices of X: a fit allocates the validation part (a tenth) and
    buffers, not a second X."""
    import tracemalloc

    data = np.random.default_rng(0).standard_normal((4000, 500), dtype=np.float32)
    labels = np.arange(4000) % 3
    clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_epochs=2, random_state=0)
    tracemalloc.start()
    try:
        clf.fit(data, labels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 8 MB of X: the validation tenth and the buffers come to about 0.3 of it, a copy of the training
    # part alone to 0.9
    assert peak < 0.5 * data.nbytes


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_keeps_the_best_or_the_last_weights_as_asked(restore):
    class Weights(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, epoch, logs):
            self.seen.append([W.copy() for W in clf.coefs_])

    record = Weights()
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate=0.05, early_stopping=True, patience=2,
                        restore_best_weights=restore, max_epochs=200, random_state=0)
    clf.fit(X, y, callbacks=[record])
    assert clf.stop_reason_ == "patience" and clf.best_epoch_ < clf.n_epochs_ - 1
    kept = record.seen[clf.best_epoch_ if restore else -1]
    for W, expected in zip(clf.coefs_, kept):
        np.testing.assert_array_equal(W, expected)


def test_verbose_prints_one_line_per_epoch(capsys):
    MLPClassifier(hidden_layer_sizes=(8,), max_epochs=3, early_stopping=True, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"epoch {k}: loss=") for k, line in enumerate(lines))
    assert "val_loss=" in lines[0] and "val_score=" in lines[0]


def test_stop_on_sigint_leaves_an_ignored_sigint_ignored():
    import signal

    from shrinkage.training import stop_on_sigint

    class Stub:
        stop_requested = False

        def request_stop(self):
            self.stop_requested = True

    previous = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a job a shell started in the background
        with stop_on_sigint(Stub()):
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        signal.signal(signal.SIGINT, signal.default_int_handler)
        trainer = Stub()
        with stop_on_sigint(trainer):
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # the first Ctrl-C asks for a stop
            assert trainer.stop_requested
        assert signal.getsignal(signal.SIGINT) == signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
