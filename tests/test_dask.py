"""Sweeps and grid searches on a Dask distributed cluster (worker processes on loopback)."""

import os
import signal
import threading

import numpy as np
import pytest
from distributed import Client, LocalCluster
from joblib import parallel_config
from sklearn.model_selection import GridSearchCV

from shrinkage import MLPClassifier
from shrinkage.cli import main
from shrinkage.datasets import load_dataset
from shrinkage.sweep import SweepSpec, read_results, run_sweep

SPEC = dict(params={"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}, cv=2,
            model={"hidden_layer_sizes": (32,), "max_epochs": 60, "penalty": "l1", "learning_rate": 0.01})


@pytest.fixture(scope="module")
def cluster():
    # Starting worker processes sets OPENBLAS_NUM_THREADS=1 and the like in this process's environment too;
    # put it back, or later tests' subprocesses would run single-threaded BLAS, which rounds differently.
    environ = dict(os.environ)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(environ)


@pytest.fixture(scope="module")
def wine():
    ds = load_dataset("wine")
    return ds.X_train, ds.y_train


def outcome(results):
    return sorted((r["key"], r["score"], r["zero_fraction"]) for r in results)


def test_sweep_through_scheduler_equals_the_local_run(tmp_path, cluster):
    args = ["sweep", "--data", "wine", "--param", "alpha=1e-4:1e-1:log:4", "--penalty", "l1", "--set",
            "hidden_layer_sizes=(32,)", "--epochs", "60", "--cv", "2", "--quiet"]
    assert main([*args, "--jobs", "1", "--out", str(tmp_path / "local")]) == 0
    assert main([*args, "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")]) == 0
    local, remote = (read_results(tmp_path / d / "sweep.jsonl") for d in ("local", "dask"))
    assert outcome(remote) == outcome(local) and len(remote) == 8
    assert (tmp_path / "dask" / "best.npz").exists() and (tmp_path / "dask" / "sweep.html").exists()


def test_a_killed_worker_does_not_lose_fits(tmp_path, cluster, wine):
    X, y = wine
    spec = SweepSpec(data="wine", **{**SPEC, "model": {**SPEC["model"], "max_epochs": 300}})
    first_result = threading.Event()
    box = {}

    def sweep():
        box["results"], box["interrupted"] = run_sweep(spec, X, y, tmp_path, on_result=lambda r: first_result.set(),
                                                       scheduler=cluster.scheduler_address)

    worker = threading.Thread(target=sweep)
    worker.start()
    assert first_result.wait(120)
    with Client(cluster.scheduler_address) as client:
        pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)
    worker.join(300)
    assert not worker.is_alive() and not box["interrupted"]
    assert len(box["results"]) == 8 and len({r["key"] for r in box["results"]}) == 8


def test_grid_search_cv_with_the_dask_joblib_backend(cluster, wine):
    X, y = wine
    grid = {"alpha": [1e-4, 1e-2], "dropout": [0.0, 0.3]}
    with Client(cluster.scheduler_address), parallel_config(backend="dask"):
        search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(16,), max_epochs=50, learning_rate=0.01,
                                            random_state=0), grid, cv=2, n_jobs=-1).fit(X, y)
    assert search.best_score_ > 0.8 and len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.best_estimator_.coefs_[0]).all()
