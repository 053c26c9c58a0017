import os

# scikit-learn's common checks include array-API dispatch with NumPy inputs; they run only when
# SciPy is imported with this set (before any import of scipy or sklearn).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def numerical_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar function ``f`` at ``x`` (float64)."""
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        g[i] = (up - down) / (2 * eps)
    return grad


def relative_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


@pytest.fixture(scope="session")
def digits_split():
    """Digits, stratified 50/50 split, standardized with training statistics."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


class _PicklePayload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # unpickling calls open(marker, "w"): the file appears only if code ran
        return (open, (self.marker, "w"))


@pytest.fixture
def pickle_payload():
    """``pickle_payload(marker)``: an object whose unpickling creates the file ``marker``."""
    return _PicklePayload


@pytest.fixture
def sigint_delivered():
    """Child processes that receive SIGINT: a test run started in the background by a shell ignores SIGINT,
    and children inherit an ignored signal (a handled one is reset to the default when they start)."""
    import signal

    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
