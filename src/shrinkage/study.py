"""The comparison study: the same model under each regularizer, several seeds each.

:func:`run_study` trains every (configuration, seed) pair, in parallel
processes when asked, and returns plain dicts; :func:`summarize` turns them
into per-configuration statistics and one sentence per configuration saying
what it did relative to no regularization. Every run limits BLAS to one thread,
so ``--jobs 2`` and ``--jobs 1`` compute exactly the same numbers. Each run is
appended to a log (``runs.jsonl``) as it ends, keyed by everything it depends on
(the data's hash, the model, the configuration, the seed), so an interrupted
study resumes with :func:`finished_runs` and trains only what is missing. The
log only grows: a study with other settings, or run again without resuming,
adds its runs after the earlier ones, which stay there for a later resume.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.stats
from sklearn.model_selection import train_test_split

from . import _params as P
from ._estimator_params import from_plain_values
from ._runlog import code_version, data_id, differences, open_for_append, read_lines
from .datasets import BUILTIN, load_dataset
from .early_stopping import EarlyStopping
from .estimators import MLPClassifier
from .network_estimator import fit_quietly
from .parameters import prunable_fraction, zero_fraction
from .training import Callback

__all__ = ["Configuration", "StudySpec", "default_spec", "spec_from_toml", "run_study", "finished_runs", "summarize",
           "margin_note", "shows_margins"]


@dataclass
class Configuration:
    name: str
    params: dict
    description: str = ""


DEFAULT_MODEL = {
    "hidden_layer_sizes": (256, 256),
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "max_epochs": 200,
}

DEFAULT_CONFIGURATIONS = [
    Configuration("none", {"penalty": None}, "no regularization"),
    Configuration("l2", {"penalty": "l2", "alpha": 1e-3}, "coupled L2, alpha=1e-3"),
    Configuration("l1", {"penalty": "l1", "alpha": 1e-4, "l1_method": "proximal"}, "proximal L1, alpha=1e-4"),
    Configuration("elasticnet", {"penalty": "elasticnet", "alpha": 3e-4, "l1_ratio": 0.5},
                  "elastic net, alpha=3e-4, l1_ratio=0.5"),
    Configuration("weight_decay", {"penalty": None, "weight_decay": 0.5}, "decoupled weight decay 0.5 (AdamW)"),
    Configuration("dropout", {"penalty": None, "dropout": 0.5}, "dropout p=0.5 on hidden units"),
    Configuration("dropout_maxnorm", {"penalty": None, "dropout": 0.5, "max_norm": 2.0, "learning_rate": 3e-3},
                  "dropout p=0.5 with max-norm 2, which allows a 3x larger learning rate (Srivastava et al. 2014)"),
    Configuration("early_stopping", {"penalty": None, "early_stopping": True, "patience": 20},
                  "early stopping on validation loss, patience 20"),
    Configuration("early_stopping_acc",
                  {"penalty": None, "early_stopping": {"monitor": "val_score", "mode": "max", "patience": 20}},
                  "early stopping on validation accuracy, patience 20"),
    Configuration("dropout_l2", {"penalty": "l2", "alpha": 1e-3, "dropout": 0.5}, "dropout p=0.5 and L2 1e-3"),
]


@dataclass
class StudySpec:
    data: str = "mnist1d"
    target: str | None = None
    model: dict = field(default_factory=lambda: dict(DEFAULT_MODEL))
    configurations: list = field(default_factory=lambda: list(DEFAULT_CONFIGURATIONS))
    seeds: int = 3
    validation_fraction: float = 0.1

    def to_dict(self):
        return {
            "data": self.data,
            "target": self.target,
            "model": {k: list(v) if isinstance(v, tuple) else v for k, v in self.model.items()},
            "configurations": [{"name": c.name, "description": c.description, "params": c.params}
                               for c in self.configurations],
            "seeds": self.seeds,
            "validation_fraction": self.validation_fraction,
        }


def default_spec():
    return StudySpec()


class StudyConfigError(ValueError):
    """A study file or setting that cannot be used."""


SPEC_RULES = {"data": [P.Instance(str, description="a string")],
              "target": [P.NoneOK(), P.Instance(str, description="a string")], "seeds": [P.AtLeast(int, 1)],
              "validation_fraction": [P.Interval(float, 0, 1, "neither")]}
_ESTIMATOR_PARAMS = set(MLPClassifier().get_params())
_RUN_OWNED = {"random_state", "verbose"}


def _check_params(source, params):
    unknown = set(params) - _ESTIMATOR_PARAMS
    if unknown:
        raise StudyConfigError(f"{source}: unknown parameter(s) {P.unknown_names(unknown, _ESTIMATOR_PARAMS)}; "
                               f"MLPClassifier takes {sorted(_ESTIMATOR_PARAMS - _RUN_OWNED)}")
    owned = set(params) & _RUN_OWNED
    if owned:
        raise StudyConfigError(f"{source}: {sorted(owned)} are set by the study (seeds, --quiet)")
    if "validation_fraction" in params:  # every run validates on the study's one held-out split
        raise StudyConfigError(f"{source}: validation_fraction is the study's own setting; "
                               "give it at the top of the file, beside seeds")
    clean = {}
    for key, value in params.items():
        if value == "none":  # TOML has no null
            value = None
        if key == "hidden_layer_sizes" and isinstance(value, list):
            value = tuple(value)
        clean[key] = value
    _check_estimator_settings(source, {**DEFAULT_MODEL, **clean})
    return clean


def _check_estimator_settings(source, params):
    """Fail now, naming the parameter, not in the middle of the study: a StudyConfigError from ``source``."""
    try:
        MLPClassifier(**from_plain_values(params))._check_params()
    except ValueError as exc:
        raise StudyConfigError(f"{source}: {exc}") from None


def spec_from_toml(path):
    """Read a study file::

        data = "digits"          # a built-in name, or a path relative to this file's folder
        seeds = 2
        [model]                   # MLPClassifier parameters shared by every configuration
        hidden_layer_sizes = [64]
        max_epochs = 50
        [[configuration]]
        name = "none"
        penalty = "none"          # "none" stands for None
        [[configuration]]
        name = "dropout"
        dropout = 0.3
    """
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StudyConfigError(f"{path}: cannot read the study file ({exc})") from None
    except UnicodeDecodeError:
        raise StudyConfigError(f"{path}: not a study file: it is not UTF-8 text (TOML)") from None
    allowed = {"data", "target", "seeds", "validation_fraction", "model", "configuration"}
    if set(raw) - allowed:
        raise StudyConfigError(f"{path}: unknown key(s) {P.unknown_names(set(raw) - allowed, allowed)}; "
                               f"expected {sorted(allowed)}")
    spec = StudySpec()
    spec.data = raw.get("data", spec.data)
    spec.target = raw.get("target")
    spec.seeds = raw.get("seeds", spec.seeds)
    spec.validation_fraction = raw.get("validation_fraction", spec.validation_fraction)
    try:
        P.validate_params(vars(spec), SPEC_RULES)
    except ValueError as exc:
        raise StudyConfigError(f"{path}: {exc}") from None
    if spec.data not in BUILTIN:  # a file beside the study file works from any working folder
        spec.data = str(Path(path).parent / spec.data)
    spec.model = {**DEFAULT_MODEL, **_check_params(f"{path} [model]", raw.get("model", {}))}
    if "configuration" in raw:
        configs = []
        for i, entry in enumerate(raw["configuration"]):
            entry = dict(entry)
            name = entry.pop("name", None)
            if not isinstance(name, str) or not name:
                raise StudyConfigError(f"{path}: configuration {i + 1} needs a name")
            description = entry.pop("description", "")
            configs.append(Configuration(name, _check_params(f"{path} [{name}]", entry), description))
        names = [c.name for c in configs]
        if len(set(names)) != len(names) or not configs:
            raise StudyConfigError(f"{path}: configuration names must be unique and at least one; got {names}")
        spec.configurations = configs
    _check_merged(path, spec)
    return spec


def _check_merged(path, spec):
    """Each configuration as it runs, over the file's [model]: a [model] setting that a configuration
    leaves unused (such as alpha beside penalty = "none") fails now, not in the middle of the study."""
    for config in spec.configurations:
        _check_estimator_settings(f"{path}: configuration {config.name!r} over [model]",
                                  {**spec.model, **config.params})


# ------------------------------------------------------------------- running


HIST_EDGES = np.linspace(-8, 1, 37)  # log10 |w| bins; exact zeros are counted apart


def _weight_histogram(coefs):
    w = np.abs(np.concatenate([W.ravel() for W in coefs]))
    nonzero = w[w > 0]
    counts, _ = np.histogram(np.log10(np.clip(nonzero, 1e-8, 10)), bins=HIST_EDGES)
    return {"zeros": int(np.sum(w == 0)), "counts": counts.tolist()}


class _EpochTicker(Callback):
    def __init__(self, tick):
        self.tick = tick

    def on_epoch_end(self, epoch, logs):
        self.tick(1)


def _class_weight_labels(params, classes):
    """``params`` with class_weight's keys turned into the data's labels where they match as text: TOML
    keys are strings, so ``class_weight = {"1" = 3.0}`` must weigh the integer label 1."""
    weights = params.get("class_weight")
    if not isinstance(weights, dict):
        return params
    by_text = {str(c): c for c in classes}
    return {**params, "class_weight": {by_text.get(str(k), k): v for k, v in weights.items()}}


def run_one(model, config, seed, data, tick=None):
    """Train one (configuration, seed) pair; return a JSON-ready dict."""
    X_tr, y_tr, X_val, y_val, X_te, y_te = data
    params = _class_weight_labels({**model, **config.params, "random_state": seed}, np.unique(y_tr))
    est = MLPClassifier(**from_plain_values(params))
    started = time.perf_counter()
    callbacks = [_EpochTicker(tick)] if tick is not None else None
    try:
        fit_quietly(est, X_tr, y_tr, validation_data=(X_val, y_val), callbacks=callbacks)
    except ValueError as exc:  # a setting that only the data can refuse, such as an unknown class label
        raise StudyConfigError(f"configuration {config.name!r} cannot be trained on this data: {exc}") from None
    seconds = time.perf_counter() - started
    test_correct = est.predict(X_te) == y_te  # which test examples it got right, kept for the paired margins
    train_acc, test_acc = est.score(X_tr, y_tr), float(test_correct.mean())
    hidden_norms = np.concatenate([np.linalg.norm(W, axis=0) for W in est.coefs_[:-1]] or [np.zeros(0)])
    max_norm = params.get("max_norm")
    history = {k: [float(v) for v in vals] for k, vals in est.history_.items()}
    return {
        "config": config.name,
        "seed": seed,
        "test_accuracy": float(test_acc),
        "train_accuracy": float(train_acc),
        "gap": float(train_acc - test_acc),
        "best_val_loss": float(np.nanmin(history["val_loss"])),
        "zero_fraction": zero_fraction(est.coefs_),
        "prunable_units": prunable_fraction(est.coefs_),
        "max_hidden_norm": float(hidden_norms.max()) if hidden_norms.size else None,
        "at_max_norm": float(np.mean(hidden_norms >= 0.999 * max_norm)) if max_norm and hidden_norms.size else None,
        "epochs": int(est.n_epochs_),
        "best_epoch": est.best_epoch_,
        "stop_reason": est.stop_reason_,
        "seconds": seconds,
        "history": history,
        "weight_histogram": _weight_histogram(est.coefs_),
        "test_correct": np.packbits(test_correct).tobytes().hex(),
        "n_test": int(test_correct.size),
    }


def prepare_data(spec):
    """Load the data set and hold out a fixed, stratified validation split (seed 0).

    A batch size larger than the training split is lowered to the split's size
    (``spec.model`` is updated, so the report shows what ran).
    """
    ds = load_dataset(spec.data, target=spec.target)
    try:
        X_tr, X_val, y_tr, y_val = train_test_split(
            ds.X_train, ds.y_train, test_size=spec.validation_fraction, stratify=ds.y_train, random_state=0
        )
    except ValueError as exc:  # too few rows, or of some class, for a stratified split
        raise StudyConfigError(f"validation_fraction={spec.validation_fraction} cannot hold out a stratified "
                               f"validation split of {ds.name}'s {len(ds.y_train)} training rows: {exc}") from None
    batch_size = spec.model.get("batch_size", "auto")
    if batch_size != "auto" and batch_size > len(X_tr):
        spec.model["batch_size"] = len(X_tr)
    return ds, (X_tr, y_tr, X_val, y_val, ds.X_test, ds.y_test)


def _run_keys(spec, data):
    """``{(configuration name, seed): key}``; a key holds everything the run's result depends on, down to
    shrinkage's version."""
    data_key, version = data_id(*data), code_version()
    return {(c.name, seed): json.dumps({"data": data_key, "model": spec.model, "configuration": c.name,
                                        "params": c.params, "seed": seed, "version": version}, sort_keys=True)
            for c in spec.configurations for seed in range(spec.seeds)}


def finished_runs(spec, data, log):
    """The runs in the log file ``log`` (see :func:`run_study`) that ``spec`` on ``data`` would train
    again identically: ``{(configuration name, seed): result}``. Runs of other data, another model or
    other settings or another version of shrinkage are not reused."""
    wanted = {key: task for task, key in _run_keys(spec, data).items()}
    return {wanted[line["key"]]: line["run"] for line in read_lines(log) if line.get("key") in wanted}


def why_not_reused(spec, data, log):
    """Why the runs in ``log`` of this study's configurations and seeds are not reused, as phrases such as
    "another max_epochs", "other settings of l2", "other data" or "another shrinkage version": for each run
    still to train, what differs from the logged run of its configuration and seed that comes closest.
    Empty when no such run is logged."""
    keys = _run_keys(spec, data)
    lines = read_lines(log)
    reused = {line.get("key") for line in lines}
    closest = {}
    for line in lines:
        try:
            logged = json.loads(line["key"])
            task = (logged["configuration"], logged["seed"])
            key = keys.get(task)
        except (KeyError, TypeError, ValueError):  # a line that is no run of a study
            continue
        if key is None or key in reused:
            continue
        differ = _differing(json.loads(key), logged)
        if task not in closest or len(differ) < len(closest[task]):
            closest[task] = differ
    return sorted(set().union(*closest.values()))


def _differing(wanted, logged):
    phrases = set()
    for name in differences(wanted, logged):
        if name == "model":
            phrases.update(f"another {key}" for key in differences(wanted["model"], logged.get("model")))
        elif name == "params":
            phrases.add(f"other settings of {wanted['configuration']}")
        else:
            phrases.add({"data": "other data", "version": "another shrinkage version"}.get(name, f"another {name}"))
    return phrases


def run_study(spec, data, jobs=1, on_result=None, on_epoch=None, log=None, finished=None):
    """Train every (configuration, seed) not in ``finished``; ``on_result(result)`` is called as each run ends.

    With ``jobs > 1`` the runs go to that many worker processes (joblib).
    ``on_epoch(n)`` reports finished epochs (only with ``jobs=1``).
    ``log``: a file that gets every new run appended as it ends, one JSON line each; earlier lines
    (among them the ``finished`` runs, from :func:`finished_runs`) stay.
    Returns ``(results, interrupted)``: on Ctrl-C the runs finished so far,
    in order, and ``True``.
    """
    from joblib import Parallel, delayed

    keys = _run_keys(spec, data)
    finished = finished or {}
    tasks = [(c, seed) for c in spec.configurations for seed in range(spec.seeds)]
    todo = [(c, seed) for c, seed in tasks if (c.name, seed) not in finished]
    results, interrupted = list(finished.values()), False
    handle = None

    def write(result):
        nonlocal handle
        if log is None:
            return
        if handle is None:
            handle = open_for_append(log)
        line = json.dumps({"key": keys[(result["config"], result["seed"])], "run": result}) + "\n"
        handle.write(line.encode("utf-8"))
        handle.flush()

    def keep(result):
        results.append(result)
        write(result)
        if on_result:
            on_result(result)

    try:
        if jobs == 1:
            for config, seed in todo:
                result = run_one(spec.model, config, seed, data, tick=on_epoch)
                if result["stop_reason"] == "interrupted":  # Ctrl-C inside fit: drop the partial run
                    interrupted = True
                    break
                keep(result)
        else:
            runner = Parallel(n_jobs=jobs, return_as="generator_unordered")
            for result in runner(delayed(run_one)(spec.model, c, s, data) for c, s in todo):
                keep(result)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if handle is not None:
            handle.close()
    order = {(c.name, s): i for i, (c, s) in enumerate(tasks)}
    return sorted(results, key=lambda r: order[(r["config"], r["seed"])]), interrupted


def finished_part(spec, results):
    """The spec restricted to the configurations that have results (after an interruption)."""
    done = {r["config"] for r in results}
    return replace(spec, configurations=[c for c in spec.configurations if c.name in done])


# ----------------------------------------------------------------- summaries

REGULARIZATION_PARAMS = {"penalty", "alpha", "l1_ratio", "l1_method", "weight_decay", "dropout", "input_dropout",
                         "dropout_mode", "max_norm", "early_stopping", "patience", "min_delta", "stopping_criterion",
                         "stopping_threshold", "validation_fraction", "restore_best_weights"}
METRICS = ("test_accuracy", "train_accuracy", "gap", "best_val_loss", "zero_fraction", "epochs", "seconds")


def _rank(row):
    """Best mean test accuracy; among equal accuracies (common on small test sets), the lower mean best
    validation loss, a finer measure of the same generalization (NaN, from a diverged run, ranks last)."""
    val_loss = row["best_val_loss"]["mean"]
    return row["test_accuracy"]["mean"], -val_loss if np.isfinite(val_loss) else -np.inf


def summarize(spec, results):
    """Per configuration: mean and std of every metric, and a sentence of what it did."""
    rows = []
    for config in spec.configurations:
        runs = [r for r in results if r["config"] == config.name]
        row = {"config": config.name, "description": config.description, "params": config.params,
               "n_runs": len(runs)}
        for metric in METRICS:
            values = np.array([r[metric] for r in runs], dtype=float)
            row[metric] = {"mean": float(values.mean()), "std": float(values.std())}
        rows.append(row)
    best = max(rows, key=_rank)["config"]
    baseline = next((r for r in rows if r["config"] == "none"), rows[0])
    on_accuracy = next((r["config"] for r in rows if _monitor(r["params"]) == "val_score"), None)
    for row in rows:
        row["finding"] = _finding(row, baseline, results, on_accuracy)
    return rows, best


def _points(x):
    return f"{100 * x:.1f}"


def _monitor(params):
    """What a configuration's early stopping watches (``early_stopping=True`` watches ``val_loss``)."""
    rule = from_plain_values(params).get("early_stopping")
    return rule.monitor if isinstance(rule, EarlyStopping) else "val_loss"


def _finding(row, base, results, on_accuracy=None):
    """One sentence of what ``row``'s configuration did against ``base``; ``on_accuracy`` names a configuration
    that stops early on validation accuracy, if the study has one."""
    name = row["config"]
    acc, gap = row["test_accuracy"], row["gap"]
    if row is base:
        return (f"Baseline: test accuracy {_points(acc['mean'])}% with train accuracy "
                f"{_points(row['train_accuracy']['mean'])}%, a train-test gap of {_points(gap['mean'])} points.")
    delta = acc["mean"] - base["test_accuracy"]["mean"]
    paired = paired_margin(results, name, base["config"])
    if paired is not None:
        margin, within = paired, "noise"
    else:  # runs logged without their test examples: the seeds' spread alone, when there are seeds
        margin = math.hypot(acc["std"], base["test_accuracy"]["std"]) if row["n_runs"] > 1 else None
        within = "seed-to-seed noise"
    if abs(delta) < 0.0005:
        parts = ["left test accuracy unchanged"]
    elif margin is not None and abs(delta) <= margin:
        # only the paired margin is a "±", which margin_note explains; the seeds' spread is named as such
        size = f"±{margin * 100:.1f}" if paired is not None else f"spread {margin * 100:.1f} points"
        parts = [f"changed test accuracy by {delta * 100:+.1f} points, within {within} ({size})"]
    else:
        verb = "raised" if delta > 0 else "lowered"
        before, after = _points(base["test_accuracy"]["mean"]), _points(acc["mean"])
        shown = abs(float(after) - float(before)) or abs(delta) * 100  # the rounded figures' own difference
        margin_text = f"; ±{paired * 100:.1f}" if paired is not None else ""
        parts = [f"{verb} test accuracy by {shown:.1f} points ({before}% → {after}%{margin_text})"]
    gap_before, gap_after = base["gap"]["mean"], gap["mean"]
    # The gap moves with test accuracy, so its noise is at least test accuracy's: a move within that is not news.
    if abs(gap_after - gap_before) > max(0.01, paired or 0.0):
        # by its size: a gap of -2 (test above train) that becomes -5 widened; one that changes sign moved
        verb = ("moved" if (gap_before < 0) != (gap_after < 0) else
                "narrowed" if abs(gap_after) < abs(gap_before) else "widened")
        parts.append(f"{verb} the train-test gap from {_points(gap_before)} to {_points(gap_after)} points")
    zeros = row["zero_fraction"]["mean"]
    if zeros > 0.01:
        parts.append(f"set {zeros * 100:.0f}% of the weights exactly to zero" + _prunable_note(name, results))
    sentence = f"{name}: " + "; ".join(parts) + "."
    sentence += _max_norm_note(name, results)
    others = {k: v for k, v in row["params"].items() if k not in REGULARIZATION_PARAMS}
    if others:
        settings = ", ".join(f"{k}={v}" for k, v in others.items())
        sentence += f" It also sets {settings}, so not all of the difference is the regularizer's."
    stops = _early_stop_note(name, base["config"], results, _monitor(row["params"]), on_accuracy)
    return sentence + (" " + stops if stops else "")


def shows_margins(rows):
    """Whether any finding of :func:`summarize`'s ``rows`` shows a margin (±), which :func:`margin_note`
    explains."""
    return any("±" in row["finding"] for row in rows)


def margin_note(seeds):
    """What the ± of the findings means, for a study of ``seeds`` seeds per configuration."""
    note = ("± is a 95% margin for the difference from the baseline, paired on the same test examples and "
            "seeds: a difference within it could vanish or reverse on another test set or other seeds.")
    if seeds == 1:
        note += " With one seed it covers the test examples only, not training randomness: use more seeds."
    return note


def _test_correct(run):
    bits = np.frombuffer(bytes.fromhex(run["test_correct"]), dtype=np.uint8)
    return np.unpackbits(bits, count=run["n_test"]).astype(np.int8)


def paired_margin(results, name, base_name):
    """A 95% margin for the difference in test accuracy between configuration ``name`` and ``base_name``,
    paired on the same test examples and seeds: two standard errors over the test examples (of the
    per-example difference, averaged over seeds: what another test set would change) combined in
    quadrature with Student's t over the seeds (of the per-seed difference: what other seeds would
    change; t, not 2, because a few seeds estimate their spread loosely). With one seed, the test
    examples alone. None when a run lacks its test examples (a log written before they were recorded)
    or no seed has both."""
    base = {r["seed"]: r for r in results if r["config"] == base_name}
    pairs = [(r, base[r["seed"]]) for r in results if r["config"] == name and r["seed"] in base]
    if not pairs or any("test_correct" not in r for pair in pairs for r in pair):
        return None
    diff = np.array([_test_correct(r) - _test_correct(b) for r, b in pairs], dtype=float)  # seeds x examples
    per_example, per_seed = diff.mean(axis=0), diff.mean(axis=1)
    square = 4 * per_example.var(ddof=1) / per_example.size if per_example.size > 1 else 0.0
    if per_seed.size > 1:
        t = scipy.stats.t.ppf(0.975, per_seed.size - 1)
        square += t * t * per_seed.var(ddof=1) / per_seed.size
    return math.sqrt(square)


def _prunable_note(name, results):
    """``", leaving 6% of the hidden units prunable (...)"`` when the zeros cut whole units off; runs from an
    older log (without the count) or without hidden units say nothing."""
    shares = [r.get("prunable_units") for r in results if r["config"] == name]
    if not shares or any(share is None for share in shares):
        return ""
    share = float(np.mean(shares))
    if share < 0.01:
        return ""
    return f", leaving {share * 100:.0f}% of the hidden units prunable (no nonzero incoming or outgoing weight)"


def _max_norm_note(name, results):
    runs = [r for r in results if r["config"] == name and r.get("at_max_norm") is not None]
    if not runs:
        return ""
    held = np.mean([r["at_max_norm"] for r in runs])
    if held == 0:
        largest = max(r["max_hidden_norm"] for r in runs)
        return f" Max-norm never bound: the largest hidden-unit norm was {largest:.2f}."
    return f" Max-norm held {held * 100:.0f}% of the hidden units at the bound at the end of training."


def _early_stop_note(name, base_name, results, monitor="val_loss", on_accuracy=None):
    """When and why ``name``'s runs stopped; for a rule on validation loss, whether the unregularized runs'
    validation accuracy still rose after that point (then ``on_accuracy``, a configuration that watches
    accuracy, or the study-file line for one, is named)."""
    runs = [r for r in results if r["config"] == name and r["stop_reason"] not in ("max_epochs", None)]
    if not runs:
        return ""
    stopped = sorted(r["epochs"] - 1 for r in runs)
    span = f"epoch {stopped[0]}" if stopped[0] == stopped[-1] else f"epochs {stopped[0]}–{stopped[-1]}"
    note = f"Training stopped at {span} ({runs[0]['stop_reason']})"
    if monitor != "val_loss":
        return note + f" watching {'validation accuracy' if monitor == 'val_score' else 'the training loss'}."
    # Was validation accuracy still rising? Look at the unregularized runs with the same seeds,
    # which kept training past the stopping point.
    rising = []
    for r in runs:
        base = next((b for b in results if b["config"] == base_name and b["seed"] == r["seed"]), None)
        if base is None or "val_score" not in base["history"]:
            continue
        scores = base["history"]["val_score"]
        stop = r["epochs"] - 1
        if stop + 1 < len(scores):
            later_best = int(np.argmax(scores[stop:])) + stop
            if scores[later_best] > scores[stop] + 0.005:
                rising.append((scores[stop], scores[later_best], later_best))
    if rising and len(rising) * 2 >= len(runs):
        a = np.mean([x[0] for x in rising])
        b = np.mean([x[1] for x in rising])
        last = int(np.median([x[2] for x in rising]))
        note += (f" while validation accuracy was still rising: without regularization it went on from "
                 f"{_points(a)}% to {_points(b)}% (around epoch {last}) even as validation loss rose, "
                 f"so stopping on validation loss ended training too early")
        note += (f"; {on_accuracy} watches validation accuracy instead" if on_accuracy else
                 "; a study file can watch validation accuracy instead: "
                 'early_stopping = {monitor = "val_score", mode = "max", patience = 20}')
    return note + "."
