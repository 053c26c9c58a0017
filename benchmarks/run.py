"""Side-by-side training and prediction throughput: shrinkage, scikit-learn, PyTorch, and the BLAS bound.

    python -m benchmarks.run [--quick] [--workloads W1,W2,W3] [--json FILE]

Everything runs in this one process, after warm-up, on the same synthetic
float32 data and the same network, so the ratios compare peers under the same
BLAS mode and machine load. Run it in several fresh processes and quote the
median: on a 2-core machine BLAS lands per process in a fast or a slow mode.

* shrinkage: ``MLPClassifier`` with SGD, momentum 0.9, L2 ``alpha=1e-4``, dropout
  0.5 on the hidden units (W1, W2), float32.
* scikit-learn: ``MLPClassifier(solver="sgd")`` with the same architecture,
  momentum and ``alpha``, fed float32 (and, as a second row, float64, its
  default for NumPy data). It has no dropout, so it does less work.
* PyTorch eager CPU: ``nn.Sequential`` of ``Linear``/``ReLU``/``Dropout``,
  ``torch.optim.SGD(momentum=0.9, weight_decay=1e-4)``, float32, threads =
  cores. Needs the ``bench`` extra (``pip install -e '.[bench]'``).
* BLAS bound: the matrix products of one training step at the workload's shapes
  (forward, weight gradients, input gradients of hidden layers), timed alone
  with NumPy: no training can be faster.

Samples per second are medians over timed epochs; peak memory is the rise of
the process's peak resident size during the timed run (Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from dataclasses import dataclass

import numpy as np

CORES = os.cpu_count() or 1


@dataclass
class Workload:
    name: str
    sizes: tuple  # (n_in, *hidden, n_out)
    batch: int
    n_samples: int
    dropout: float

    @property
    def hidden(self):
        return self.sizes[1:-1]


WORKLOADS = {
    "W1": Workload("W1 digits-like 64-256-256-10", (64, 256, 256, 10), 64, 16384, 0.5),
    "W2": Workload("W2 MNIST-like 784-512-512-10", (784, 512, 512, 10), 128, 16384, 0.5),
    "W3": Workload("W3 CIFAR linear 3072-10", (3072, 10), 256, 16384, 0.0),
}


def make_data(w, n_samples):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, w.sizes[0]), dtype=np.float32)
    y = rng.integers(0, w.sizes[-1], n_samples)
    return X, y


# ------------------------------------------------------------- peak memory


def _status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return None


def peak_rise(fn):
    """Run ``fn``; return (its result, the rise of peak RSS in bytes, or None off Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset the peak resident size (VmHWM)
        before = _status("VmRSS:")
    except OSError:
        return fn(), None
    result = fn()
    return result, max(0, _status("VmHWM:") - before)


# ---------------------------------------------------------------- trainers


def bench_shrinkage(w, X, y, epochs):
    from shrinkage import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=w.hidden, optimizer="sgd", learning_rate=0.01, momentum=0.9,
                        penalty="l2", alpha=1e-4, dropout=w.dropout, batch_size=w.batch, max_epochs=epochs,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    times = clf.history_["time"][1:]  # the first epoch is warm-up
    return len(X) / statistics.median(times), clf


def bench_sklearn(w, X, y, epochs, dtype):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X = X.astype(dtype)
    clf = SkMLP(hidden_layer_sizes=w.hidden, solver="sgd", momentum=0.9, nesterovs_momentum=False,
                alpha=1e-4, batch_size=w.batch, learning_rate_init=0.01, shuffle=True, random_state=0)
    classes = np.unique(y)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            started = time.perf_counter()
            clf.partial_fit(X, y, classes=classes)  # one pass over the data
            times.append(time.perf_counter() - started)
    return len(X) / statistics.median(times[1:]), clf


def bench_torch(w, X, y, epochs):
    import torch
    from torch import nn

    torch.set_num_threads(CORES)
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(w.sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(w.dropout)] if w.dropout else [nn.ReLU()]
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    times = []
    model.train()
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), w.batch):
            idx = order[start:start + w.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - started)
    return len(X) / statistics.median(times[1:]), model


def blas_bound(w, repeats):
    """Samples/s if a training step were only its matrix products, timed with NumPy at these shapes."""
    rng = np.random.default_rng(1)
    b = w.batch
    Ws = [rng.standard_normal((m, n), dtype=np.float32) for m, n in zip(w.sizes[:-1], w.sizes[1:])]
    acts = [rng.standard_normal((b, m), dtype=np.float32) for m in w.sizes]
    grads = [rng.standard_normal((b, n), dtype=np.float32) for n in w.sizes[1:]]
    outs = [np.empty((b, n), np.float32) for n in w.sizes[1:]]
    dWs = [np.empty_like(W) for W in Ws]
    dXs = [np.empty((b, m), np.float32) for m in w.sizes[:-1]]

    def step():
        for k, W in enumerate(Ws):
            np.matmul(acts[k], W, out=outs[k])
        for k in reversed(range(len(Ws))):
            np.matmul(acts[k].T, grads[k], out=dWs[k])
            if k > 0:
                np.matmul(grads[k], Ws[k].T, out=dXs[k])

    for _ in range(20):
        step()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(20):
            step()
        samples.append((time.perf_counter() - started) / 20)
    return b / statistics.median(samples)


def predict_rate(predict, X, repeats=5):
    predict(X[:1024])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - started)
    return len(X) / statistics.median(times)


# ------------------------------------------------------------ micro-benchmarks


def micro(repeats=200):
    """Dropout (mask and application) and the L1 proximal step against the W2 hidden layer they follow."""
    from shrinkage.layers import Dropout
    from shrinkage.penalties import soft_threshold

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 512), dtype=np.float32)
    W = rng.standard_normal((512, 512), dtype=np.float32)
    out = np.empty((128, 512), np.float32)

    def timed(fn):
        fn()
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - started) / repeats

    dense = timed(lambda: np.matmul(x, W, out=out))
    results = {"dense 128x512 @ 512x512 (s)": dense}
    for p in (0.5, 0.2):
        layer = Dropout(p)
        buf = x.copy()
        results[f"dropout p={p} forward+backward / dense"] = timed(
            lambda: layer.backward(layer.forward(buf, training=True, rng=rng))) / dense
    Wc = W.copy()
    results["L1 prox (SGD threshold) / dense"] = timed(lambda: soft_threshold(Wc, 1e-9, out=Wc)) / dense
    per_weight = np.full_like(W, 1e-9)
    results["L1 prox (Adam per-weight threshold) / dense"] = timed(
        lambda: soft_threshold(Wc, per_weight, out=Wc)) / dense
    n = x.size
    for name, fn in {
        "uniform float32 < p": lambda: rng.random(n, dtype=np.float32) >= 0.5,
        "random bytes >= threshold": lambda: np.frombuffer(rng.bytes(n), np.uint8) >= 128,
        "unpacked random bits": lambda: np.unpackbits(np.frombuffer(rng.bytes(n // 8), np.uint8)),
    }.items():
        results[f"mask: {name} (ns/element)"] = timed(fn) / n * 1e9
    return results


# -------------------------------------------------------------------- main


def run(workloads, quick):
    epochs = 3 if quick else 5
    rows = []
    for key in workloads:
        w = WORKLOADS[key]
        n = w.n_samples // 4 if quick else w.n_samples
        X, y = make_data(w, n)
        bound = blas_bound(w, repeats=5 if quick else 15)
        row = {"workload": w.name, "n_samples": n, "blas_bound": bound}
        (rate, clf), mem = peak_rise(lambda: bench_shrinkage(w, X, y, epochs))
        row["shrinkage"], row["shrinkage_mem"] = rate, mem
        row["shrinkage_predict"] = predict_rate(clf.predict_proba, X)
        (rate, sk), mem = peak_rise(lambda: bench_sklearn(w, X, y, epochs, np.float32))
        row["sklearn32"], row["sklearn32_mem"] = rate, mem
        row["sklearn_predict"] = predict_rate(sk.predict_proba, X)
        row["sklearn64"], _ = bench_sklearn(w, X, y, epochs, np.float64)
        try:
            import torch

            (rate, model), mem = peak_rise(lambda: bench_torch(w, X, y, epochs))
            row["torch"], row["torch_mem"] = rate, mem
            model.eval()
            with torch.no_grad():
                row["torch_predict"] = predict_rate(lambda A: model(torch.from_numpy(A)).softmax(1), X)
        except ImportError:
            row["torch"] = None
        params = sum(a * b + b for a, b in zip(w.sizes[:-1], w.sizes[1:]))
        row["params"] = params
        row["data_bytes"] = X.nbytes
        rows.append(row)
    return rows


def _fmt(v, unit=""):
    return "-" if v is None else f"{v:,.0f}{unit}"


def report(rows, micro_results):
    mib = 2**20
    print(f"{'workload':32} {'shrinkage':>10} {'sklearn32':>10} {'sklearn64':>10} {'torch':>10} {'BLAS':>10}"
          f" {'/sk32':>6} {'/sk64':>6} {'/torch':>6} {'%BLAS':>6}")
    for r in rows:
        s = r["shrinkage"]
        ratio = lambda other: "-" if not other else f"{s / other:.2f}"  # noqa: E731
        print(f"{r['workload']:32} {_fmt(s):>10} {_fmt(r['sklearn32']):>10} {_fmt(r['sklearn64']):>10} "
              f"{_fmt(r['torch']):>10} {_fmt(r['blas_bound']):>10} {ratio(r['sklearn32']):>6} "
              f"{ratio(r['sklearn64']):>6} {ratio(r['torch']):>6} {100 * s / r['blas_bound']:>5.0f}%")
    print("\nprediction (samples/s):")
    for r in rows:
        print(f"  {r['workload']:32} shrinkage {_fmt(r['shrinkage_predict'])}, scikit-learn "
              f"{_fmt(r['sklearn_predict'])}, torch {_fmt(r.get('torch_predict'))}")
    print("\npeak resident memory rise during training (MiB; data set size for scale):")
    for r in rows:
        mem = lambda k: "-" if r.get(k) is None else f"{r[k] / mib:.1f}"  # noqa: E731
        print(f"  {r['workload']:32} shrinkage {mem('shrinkage_mem')}, scikit-learn {mem('sklearn32_mem')}, "
              f"torch {mem('torch_mem')}; data {r['data_bytes'] / mib:.1f}, params {4 * r['params'] / mib:.2f}")
    print("\nmicro-benchmarks:")
    for k, v in micro_results.items():
        print(f"  {k:48} {v:.3g}")
    print(f"\nnote: scikit-learn has no dropout, so its rows do less work on W1/W2. "
          f"Machine: {CORES} cores; load average {os.getloadavg()[0]:.2f}.")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data and fewer epochs (< 1 min)")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run([k.strip() for k in args.workloads.split(",")], args.quick)
    micro_results = micro(50 if args.quick else 200)
    report(rows, micro_results)
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "micro": micro_results, "load": os.getloadavg()[0]}, handle, indent=1)


if __name__ == "__main__":
    main()
