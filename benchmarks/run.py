"""Side-by-side training and prediction throughput: shrinkage, scikit-learn, PyTorch, and the BLAS bound.

    python -m benchmarks.run [--quick] [--workloads W1,W2,W3] [--json FILE] [--processes N]

Everything runs in this one process, after warm-up, on the same synthetic
float32 data and the same network, so the ratios compare peers under the same
BLAS mode and machine load. Run it in several fresh processes and quote the
median: on a 2-core machine BLAS lands per process in a fast or a slow mode.
``--processes N`` does that: N runs one after another, each in a fresh
process, then the median and range of every ratio over them.

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

Epochs of the contenders are interleaved (one of each per round, a pause before
each so no library's idle threads still spin), so every round compares them
under the same conditions; the table gives median samples per second and the
median of the per-round ratios. Prediction (``predict_proba`` on the training
set) is timed the same way. Peak memory is what NumPy allocates during a
shrinkage epoch (tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

CORES = os.cpu_count() or 1
# Pause before each timed call: a library's idle threads keep spinning after it returns (OpenBLAS's for
# 2**28 cycles, about 0.1 s here) and would slow whoever runs next, above all a library with threads
# of its own (PyTorch).
PAUSE = 0.15


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


# The BLAS bound (samples/s) on the 2-core machine the speed targets were set on, in a fast phase. This
# machine has fast and slow phases (up to 2x apart, from load outside the process); the bound's share of
# these tells which phase a run met.
REFERENCE_BLAS_BOUND = {"W1": 286_000, "W2": 54_500, "W3": 610_000}


def make_data(w, n_samples):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_samples, w.sizes[0]), dtype=np.float32)
    y = rng.integers(0, w.sizes[-1], n_samples)
    return X, y


# ---------------------------------------------------------------- trainers
# Each maker returns (epoch, predict): ``epoch()`` trains one pass over the data.


def shrinkage_trainer(w, X, y, **overrides):
    """A fitted ``MLPClassifier`` and a Trainer that runs more epochs on it (same buffers and optimizer)."""
    from shrinkage import MLPClassifier

    settings = dict(hidden_layer_sizes=w.hidden, optimizer="sgd", learning_rate=0.01, momentum=0.9,
                    penalty="l2", alpha=1e-4, dropout=w.dropout, batch_size=w.batch, max_epochs=1,
                    random_state=0)
    clf = MLPClassifier(**{**settings, **overrides})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)  # builds the network, buffers and optimizer state
    trainer = clf._trainer(X, np.searchsorted(clf.classes_, y), None, None, None, epoch_offset=0,
                           init_updater=False)
    return clf, trainer


def one_epoch(trainer):
    trainer.epochs_done = 0
    trainer.run(1)


def make_shrinkage(w, X, y, **overrides):
    clf, trainer = shrinkage_trainer(w, X, y, **overrides)
    return partial(one_epoch, trainer), clf.predict_proba


def make_sklearn(w, X, y, dtype):
    from sklearn import config_context
    from sklearn.neural_network import MLPClassifier as SkMLP

    X = X.astype(dtype)
    clf = SkMLP(hidden_layer_sizes=w.hidden, solver="sgd", momentum=0.9, nesterovs_momentum=False,
                alpha=1e-4, batch_size=w.batch, learning_rate_init=0.01, shuffle=True, random_state=0)
    classes = np.unique(y)

    def epoch():
        with warnings.catch_warnings(), config_context(assume_finite=True):  # no finite check per call
            warnings.simplefilter("ignore")
            clf.partial_fit(X, y, classes=classes)  # one pass over the data

    return epoch, lambda A: clf.predict_proba(A.astype(dtype, copy=False))


def make_torch(w, X, y):
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

    def epoch():
        model.train()
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), w.batch):
            idx = order[start:start + w.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    def predict(A):
        model.eval()
        with torch.no_grad():
            return model(torch.from_numpy(A)).softmax(1).numpy()

    return epoch, predict


def make_blas_bound(w, n_samples):
    """An "epoch" of only the matrix products of the training steps, at the workload's shapes."""
    rng = np.random.default_rng(1)
    b = w.batch
    Ws = [rng.standard_normal((m, n), dtype=np.float32) for m, n in zip(w.sizes[:-1], w.sizes[1:])]
    acts = [rng.standard_normal((b, m), dtype=np.float32) for m in w.sizes]
    grads = [rng.standard_normal((b, n), dtype=np.float32) for n in w.sizes[1:]]
    outs = [np.empty((b, n), np.float32) for n in w.sizes[1:]]
    dWs = [np.empty_like(W) for W in Ws]
    dXs = [np.empty((b, m), np.float32) for m in w.sizes[:-1]]

    def epoch():
        for _ in range(n_samples // b):
            for k, W in enumerate(Ws):
                np.matmul(acts[k], W, out=outs[k])
            for k in reversed(range(len(Ws))):
                np.matmul(acts[k].T, grads[k], out=dWs[k])
                if k > 0:
                    np.matmul(grads[k], Ws[k].T, out=dXs[k])

    return epoch, None


def interleaved_times(calls, rounds):
    """``name -> [seconds]`` for ``name -> call``: rounds of one call each, the order rotated every
    round and a PAUSE before each call, so machine drifts hit every contender alike."""
    names = list(calls)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(PAUSE)
            times[name].append(timed(calls[name]))
    return times


def rates_and_ratios(times, n, kind=""):
    """Median samples/s per contender and, per other contender, the median over rounds of the
    per-round ratio of shrinkage's speed to its; keys ``name`` and ``ratio_name``, prefixed and
    suffixed with ``kind`` when given (``name_predict``, ``predict_ratio_name``)."""
    suffix, prefix = (f"_{kind}", f"{kind}_") if kind else ("", "")
    out = {name + suffix: n / statistics.median(ts) for name, ts in times.items()}
    for name, ts in times.items():
        if name != "shrinkage":
            out[f"{prefix}ratio_{name}"] = statistics.median([b / a for a, b in zip(times["shrinkage"], ts)])
    return out


# ------------------------------------------------------------ micro-benchmarks


def micro(repeats=200):
    """Dropout (mask and application) and the L1 proximal step against the W2 hidden layer they follow."""
    from shrinkage.layers import Dropout, keep_mask
    from shrinkage.penalties import soft_threshold

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 512), dtype=np.float32)
    W = rng.standard_normal((512, 512), dtype=np.float32)
    out = np.empty((128, 512), np.float32)

    def per_call(fn):
        fn()
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - started) / repeats

    dense = per_call(lambda: np.matmul(x, W, out=out))
    results = {"dense 128x512 @ 512x512 (s)": dense}
    for p in (0.5, 0.2):
        layer = Dropout(p)
        buf = x.copy()
        results[f"dropout p={p} forward+backward / dense"] = per_call(
            lambda: layer.backward(layer.forward(buf, training=True, rng=rng))) / dense
    Wc, scratch = W.copy(), np.empty_like(W)
    results["L1 prox (SGD threshold) / dense"] = per_call(
        lambda: soft_threshold(Wc, 1e-9, out=Wc, scratch=scratch)) / dense
    results["L1 prox in Adam's metric (extra over plain Adam) / dense"] = adam_prox_extra(per_call, W) / dense
    n = x.size
    for name, fn in {
        "uniform float32 < p": lambda: rng.random(n, dtype=np.float32) >= 0.5,
        "random bytes >= threshold (p = k/256)": lambda: keep_mask((n,), 0.25, rng),
        "random 16-bit words >= threshold (other p)": lambda: keep_mask((n,), 0.3, rng),
        "unpacked random bits (p = 0.5)": lambda: keep_mask((n,), 0.5, rng),
    }.items():
        results[f"mask: {name} (ns/element)"] = per_call(fn) / n * 1e9
    return results


def adam_prox_extra(per_call, W):
    """Time Adam's proximal-L1 step adds on one weight matrix: its fused update minus the plain one,
    chunk by chunk as Adam runs it."""
    from shrinkage.optim import CHUNK, Adam

    n = min(CHUNK, W.size)
    adam = Adam()
    adam.init(W.reshape(-1)[:n])
    w, g, m = W.reshape(-1)[:n].copy(), np.ones(n, W.dtype), np.ones(n, W.dtype)
    denom = np.full(n, 2.0, W.dtype)

    def plain():
        np.divide(m, denom, out=g)
        w[:] -= g

    # A difference of two timings: the median of several pairs, so one hiccup cannot make it negative.
    extra = statistics.median(per_call(lambda: adam._update_with_prox(w, g, m, denom, 1e-9)) - per_call(plain)
                              for _ in range(5))
    return extra * W.size / n


# -------------------------------------------------------------------- main


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(workloads, quick):
    """Per workload: a warm-up epoch each, then rounds of one epoch per contender, interleaved, so each
    round's ratios compare the contenders under the same machine conditions."""
    rounds = 3 if quick else 7
    rows = []
    for key in workloads:
        w = WORKLOADS[key]
        n = w.n_samples // 4 if quick else w.n_samples
        X, y = make_data(w, n)
        contenders = {
            "shrinkage": make_shrinkage(w, X, y),
            "sklearn32": make_sklearn(w, X, y, np.float32),
            "sklearn64": make_sklearn(w, X, y, np.float64),
            "blas_bound": make_blas_bound(w, n),
        }
        try:
            contenders["torch"] = make_torch(w, X, y)
        except ImportError:
            pass
        for epoch, _ in contenders.values():
            epoch()  # warm-up
        times = interleaved_times({name: epoch for name, (epoch, _) in contenders.items()}, rounds)
        row = {"workload": w.name, "n_samples": n, "rounds": rounds,
               "params": sum(a * b + b for a, b in zip(w.sizes[:-1], w.sizes[1:])), "data_bytes": X.nbytes}
        row.update(rates_and_ratios(times, n))
        for name, ts in times.items():
            row[name + "_spread"] = (n / max(ts), n / min(ts))
        predictors = {name: predict for name, (_, predict) in contenders.items() if predict is not None}
        for predict in predictors.values():
            predict(X[:1024])  # warm-up
        predict_times = interleaved_times({name: partial(predict, X) for name, predict in predictors.items()},
                                          rounds)
        row.update(rates_and_ratios(predict_times, n, kind="predict"))
        row["shrinkage_peak_bytes"] = traced_peak(lambda: contenders["shrinkage"][0]())
        row["fit_peak_bytes"], row["fit_budget_bytes"] = fit_memory(w, X, y)
        rows.append(row)
    return rows


def regularizer_overheads(quick):
    """Extra time per W2 epoch that dropout and the L1 proximal step add: one trainer, the piece switched
    off and on between epochs, so both arms share every buffer (two trainers differ by up to 7% from
    where their arrays lie); many short pairs in alternating order, so drifts in machine speed cancel.
    The median ratio with its interquartile range, and an A/A control (nothing switched) for the
    resolution."""
    w = WORKLOADS["W2"]
    n = w.n_samples // 8 if quick else w.n_samples // 2
    X, y = make_data(w, n)
    cases = {
        "dropout 0.5 on hidden units (SGD, W2 step with L2)": ({}, dropout_switch),
        "L1 proximal step (SGD, bare step)": ({"dropout": 0.0, "penalty": "l1"}, prox_switch),
        "L1 proximal step added to the W2 step (SGD, L2 + dropout)": (
            {"penalty": "elasticnet", "alpha": 2e-4, "l1_ratio": 0.5}, prox_switch),
        "L1 proximal step (Adam, bare step)": ({"dropout": 0.0, "optimizer": "adam", "penalty": "l1"},
                                               prox_switch),
        "A/A control: nothing switched (SGD, W2 step)": ({}, None),
    }
    results = {}
    for name, (settings, make_switch) in cases.items():
        _, trainer = shrinkage_trainer(w, X, y, **settings)
        switch = make_switch(trainer) if make_switch else (lambda on: None)
        epoch = partial(one_epoch, trainer)
        ratios = []
        for k in range(4 if quick else 16):
            times = {}
            for on in ((False, True) if k % 2 == 0 else (True, False)):
                switch(on)
                time.sleep(0.05)  # one library: no other threads to wait for
                times[on] = timed(epoch)
            ratios.append(times[True] / times[False])
        switch(True)
        q1, med, q3 = statistics.quantiles(ratios, n=4)
        results[f"W2 epoch time, {name}"] = f"{100 * (med - 1):+.1f}% [{100 * (q1 - 1):+.1f}, {100 * (q3 - 1):+.1f}]"
    return results


def optimizer_step_in_epoch(quick):
    """The W2 optimizer step (SGD, momentum, L2), timed inside training epochs and alone, in us: the
    matrix products between two steps push the parameters, gradient and velocity (three arrays of
    2.6 MiB) out of cache, so in an epoch a step over the whole buffer after the backward pass reads
    them back from memory; alone it finds them in cache."""
    w = WORKLOADS["W2"]
    n = w.n_samples // 8 if quick else w.n_samples // 2
    X, y = make_data(w, n)
    _, trainer = shrinkage_trainer(w, X, y)
    step, params, scale = trainer.updater.step, trainer.parameters, trainer.updater.gradient_scale
    in_epoch = []

    def timed_step(parameters, grad_scale):
        started = time.perf_counter()
        step(parameters, grad_scale)
        in_epoch.append(time.perf_counter() - started)

    trainer.updater.step = timed_step
    alone = []
    for _ in range(2 if quick else 4):
        one_epoch(trainer)
        alone.append(timed(lambda: [step(params, scale) for _ in range(n // w.batch)]) / (n // w.batch))
    trainer.updater.step = step
    return {"W2 SGD step (momentum, L2) in a training epoch (us)": 1e6 * statistics.median(in_epoch),
            "W2 SGD step (momentum, L2) alone, repeated (us)": 1e6 * statistics.median(alone)}


def dropout_switch(trainer):
    """``switch(on)``: the network's Dropout layers at their p, or at p = 0 (the identity)."""
    from shrinkage.layers import Dropout

    layers = [layer for layer in trainer.network.layers if isinstance(layer, Dropout)]
    assert layers, "no dropout to switch"
    ps = [layer.p for layer in layers]

    def switch(on):
        for layer, p in zip(layers, ps):
            layer.p = p if on else 0.0
    return switch


def prox_switch(trainer):
    """``switch(on)``: the trainer's updater, or one without its proximal L1 piece, both on the same
    optimizer object (its buffers are shared)."""
    from shrinkage.optim import ProximalL1, Updater

    full = trainer.updater
    lean = Updater(full.optimizer, [r for r in full.regularizers if not isinstance(r, ProximalL1)])
    assert len(lean.regularizers) < len(full.regularizers), "no proximal step to switch"
    lean.init(trainer.parameters)  # fresh optimizer state, then the full updater's init takes it over
    full.init(trainer.parameters)

    def switch(on):
        trainer.updater = full if on else lean
    return switch


def fit_memory(w, X, y):
    """Peak NumPy memory of a whole one-epoch ``fit`` beyond the data set, and the budget of issue 5:
    1.5 x (parameters + optimizer state (momentum) + one batch's activations)."""
    from shrinkage import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=w.hidden, optimizer="sgd", momentum=0.9, penalty="l2", alpha=1e-4,
                        dropout=w.dropout, batch_size=w.batch, max_epochs=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peak = traced_peak(lambda: clf.fit(X, y))
    params = sum(a * b + b for a, b in zip(w.sizes[:-1], w.sizes[1:]))
    activations = w.batch * sum(w.sizes)
    return peak, 1.5 * 4 * (params + params + activations)


def traced_peak(fn):
    """Peak bytes NumPy allocates while ``fn`` runs (tracemalloc; the data set is allocated before)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _fmt(v, unit=""):
    return "-" if v is None else f"{v:,.0f}{unit}"


def _ratio(row, key):
    return "-" if key not in row else f"{row[key]:.2f}"


def report(rows, micro_results):
    mib = 2**20
    print(f"{'training samples/s':32} {'shrinkage':>10} {'sklearn32':>10} {'sklearn64':>10} {'torch':>10} "
          f"{'BLAS':>10} {'/sk32':>6} {'/sk64':>6} {'/torch':>6} {'%BLAS':>6}")
    for r in rows:
        print(f"{r['workload']:32} {_fmt(r['shrinkage']):>10} {_fmt(r['sklearn32']):>10} "
              f"{_fmt(r['sklearn64']):>10} {_fmt(r.get('torch')):>10} {_fmt(r['blas_bound']):>10} "
              f"{_ratio(r, 'ratio_sklearn32'):>6} {_ratio(r, 'ratio_sklearn64'):>6} {_ratio(r, 'ratio_torch'):>6} "
              f"{100 * r['ratio_blas_bound']:>5.0f}%")
    print("(medians over interleaved rounds; ratios are per-round shrinkage/other speed, median over rounds)")
    phase = ", ".join(f"{r['workload'][:2]} {100 * r['blas_bound'] / REFERENCE_BLAS_BOUND[r['workload'][:2]]:.0f}%"
                      for r in rows if r["workload"][:2] in REFERENCE_BLAS_BOUND)
    print(f"(machine phase: this run's BLAS bound is {phase} of the reference fast-phase bound; well under "
          "100% means a slow phase, which slows shrinkage's memory-bound work more than PyTorch's)")
    print(f"\n{'prediction samples/s':32} {'shrinkage':>10} {'sklearn32':>10} {'sklearn64':>10} {'torch':>10} "
          f"{'':>10} {'/sk32':>6} {'/sk64':>6} {'/torch':>6}")
    for r in rows:
        print(f"{r['workload']:32} {_fmt(r['shrinkage_predict']):>10} {_fmt(r['sklearn32_predict']):>10} "
              f"{_fmt(r['sklearn64_predict']):>10} {_fmt(r.get('torch_predict')):>10} {'':>10} "
              f"{_ratio(r, 'predict_ratio_sklearn32'):>6} {_ratio(r, 'predict_ratio_sklearn64'):>6} "
              f"{_ratio(r, 'predict_ratio_torch'):>6}")
    print("(predict_proba on the whole training set, same interleaved rounds)")
    print("\npeak memory NumPy allocates during a shrinkage epoch, beyond the data set (tracemalloc):")
    for r in rows:
        print(f"  {r['workload']:32} {r['shrinkage_peak_bytes'] / mib:.2f} MiB; parameters "
              f"{4 * r['params'] / mib:.2f} MiB, data {r['data_bytes'] / mib:.1f} MiB; whole fit "
              f"{r['fit_peak_bytes'] / mib:.2f} MiB vs budget {r['fit_budget_bytes'] / mib:.2f} MiB "
              f"(1.5 x (params + momentum + one batch's activations))")
    print("\nmicro-benchmarks:")
    for k, v in micro_results.items():
        print(f"  {k:60} {v:.4g}" if isinstance(v, float) else f"  {k:60} {v}")
    print(f"\nnote: scikit-learn has no dropout, so its rows do less work on W1/W2. "
          f"Machine: {CORES} cores; load average {os.getloadavg()[0]:.2f}.")


def environment():
    """Versions and BLAS libraries this run used, for the JSON and the report's last line."""
    import platform

    import sklearn
    from threadpoolctl import threadpool_info

    blas = [f"{i.get('internal_api')} {i.get('version')} from {Path(i['filepath']).parent.name} "
            f"({i.get('num_threads')} threads, {i.get('architecture')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    env = {"python": platform.python_version(), "numpy": np.__version__, "scikit-learn": sklearn.__version__,
           "cores": CORES, "blas": blas}
    try:
        import torch

        env["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        pass
    return env


# ------------------------------------------------------- several processes

# (label, row key, format) of the figures summarized over processes
SUMMARY = [("/sk32", "ratio_sklearn32", "{:.2f}"), ("/sk64", "ratio_sklearn64", "{:.2f}"),
           ("/torch", "ratio_torch", "{:.2f}"), ("%BLAS", "ratio_blas_bound", "{:.0%}"),
           ("predict /torch", "predict_ratio_torch", "{:.2f}")]


def run_processes(n, args):
    """Run this benchmark ``n`` times, each in a fresh process (its own BLAS mode), printing each run's
    report; return their JSON results."""
    forwarded = (["--quick"] if args.quick else []) + ["--workloads", args.workloads]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for k in range(n):
            path = Path(folder) / f"run{k}.json"
            print(f"--- process {k + 1} of {n}", flush=True)
            subprocess.run([sys.executable, "-m", "benchmarks.run", *forwarded, "--json", str(path)], check=True)
            results.append(json.loads(path.read_text()))
    return results


def _median_and_range(values, fmt):
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


def summarize_processes(results):
    """Median [min, max] over the runs of each ratio per workload, and of each overhead measurement."""
    print(f"\nover {len(results)} processes, median [min, max]:")
    print(f"{'':32}" + "".join(f"{label:>22}" for label, _, _ in SUMMARY))
    for i, row in enumerate(results[0]["rows"]):
        cells = []
        for _, key, fmt in SUMMARY:
            values = [r["rows"][i][key] for r in results if key in r["rows"][i]]
            cells.append(_median_and_range(values, fmt) if values else "-")
        print(f"{row['workload']:32}" + "".join(f"{c:>22}" for c in cells))
    for name, first in results[0]["micro"].items():
        if isinstance(first, str):  # an overhead: "+4.1% [+2.8, +6.0]"; its median is the first number
            values = [float(r["micro"][name].split("%")[0]) for r in results]
            print(f"  {name:80} {_median_and_range(values, '{:+.1f}%')}")
    loads = ", ".join(f"{r['load']:.2f}" for r in results)
    print(f"(load average at the end of each run: {loads})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data and fewer epochs (< 1 min)")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="run N times, each in a fresh process, and summarize the ratios over the runs")
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error(f"--processes must be at least 1; got {args.processes}")
    if args.processes > 1:
        results = run_processes(args.processes, args)
        summarize_processes(results)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
        return
    started = time.perf_counter()
    rows = run([k.strip() for k in args.workloads.split(",")], args.quick)
    micro_results = micro(50 if args.quick else 200)
    micro_results.update(regularizer_overheads(args.quick))
    micro_results.update(optimizer_step_in_epoch(args.quick))
    report(rows, micro_results)
    env = environment()
    print("environment: " + ", ".join(f"{k} {'; '.join(v) if isinstance(v, list) else v}" for k, v in env.items()))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "micro": micro_results, "load": os.getloadavg()[0], "environment": env},
                      handle, indent=1)


if __name__ == "__main__":
    main()
