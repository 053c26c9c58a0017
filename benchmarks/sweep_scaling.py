"""Wall-clock time of a 24-point sweep with 1 and 2 local worker processes, and of an alpha path with
and without warm starts.

    python -m benchmarks.sweep_scaling

Each fit runs on one BLAS thread (as in every sweep), so two workers can use
both cores; the speed-up is bounded by the cores and by the per-task overhead
(process start-up, shipping the data to the workers, importing shrinkage).
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from shrinkage.datasets import load_dataset
from shrinkage.sweep import SweepSpec, run_sweep, summarize_sweep

MODEL = {"hidden_layer_sizes": (100,), "max_epochs": 200, "penalty": "l1"}
# Along the path, training stops on validation loss, so a good starting point can save epochs.
PATH_MODEL = {**MODEL, "early_stopping": True, "patience": 5}


def timed_sweep(spec, X, y, **kwargs):
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        results, _ = run_sweep(spec, X, y, out, **kwargs)
        return time.perf_counter() - started, results


def main():
    ds = load_dataset("digits")
    X, y = ds.X_train, ds.y_train
    grid = SweepSpec(data="digits", params={"alpha": list(np.geomspace(1e-6, 1e-1, 12)), "dropout": [0.0, 0.3]},
                     cv=2, model=MODEL)
    one, _ = timed_sweep(grid, X, y, jobs=1)
    two, _ = timed_sweep(grid, X, y, jobs=2)
    print(f"24 points x 2 folds = 48 fits: 1 worker {one:.1f} s, 2 workers {two:.1f} s, speed-up {one / two:.2f}x")
    path = SweepSpec(data="digits", params={"alpha": [float(f"{a:.3g}") for a in np.geomspace(1e-6, 1e-1, 12)]},
                     cv=3, model=MODEL)
    for hidden in [(100,), ()]:
        model = {**PATH_MODEL, "hidden_layer_sizes": hidden}
        print(f"\nL1 path, hidden_layer_sizes={hidden}, early stopping (patience 5), 3-fold CV, 2 workers:")
        print(f"{'alpha':>10} {'cold acc %':>10} {'cold zeros':>10} {'warm acc %':>10} {'warm zeros':>10}")
        runs = {}
        for warm in (False, True):
            spec = SweepSpec(data="digits", params=path.params, cv=3, model=model, warm_start=warm)
            seconds, results = timed_sweep(spec, X, y, jobs=2)
            runs[warm] = (seconds, summarize_sweep(spec, results)[0])
        for cold_row, warm_row in zip(runs[False][1], runs[True][1]):
            print(f"{cold_row['point']['alpha']:>10.3g} {100 * cold_row['score']:>10.1f} "
                  f"{100 * cold_row['zero_fraction']:>9.1f}% {100 * warm_row['score']:>10.1f} "
                  f"{100 * warm_row['zero_fraction']:>9.1f}%")
        print(f"time: cold {runs[False][0]:.1f} s, warm {runs[True][0]:.1f} s")


if __name__ == "__main__":
    main()
