"""Sweeps over regularization settings: a grid, scored by cross-validation, streamed to disk.

A sweep is the product of ``--param`` lists (``alpha=1e-6:1e-1:log:12``,
``dropout=0,0.2,0.5``). Every (point, fold or seed) pair is one task: fit an
``MLPClassifier`` on the training part, score accuracy on the held-out part.
Tasks run through joblib: worker processes on this machine, or the workers of a
Dask distributed cluster through Dask's joblib backend; each result is appended
to ``sweep.jsonl`` as it arrives, with the setting it was made under (data hash,
fixed model settings, splits, shrinkage's version), so an interrupted sweep
resumes by skipping the tasks already there, and a resume with other data or
settings is refused (more points on the same setting are fine). With
``warm_start``, each alpha path (the other parameters and the split fixed) is
one task that walks alpha from strong to weak, every fit starting from the
previous one's weights, as glmnet and scikit-learn's ``lasso_path`` do. The best
point (highest mean score; on a tie, the one with more exact-zero weights: the
same accuracy from a sparser model) is refitted on the whole training split and
saved.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from ._estimator_params import from_plain_values
from ._params import KEYWORDS, is_number, list_some
from ._runlog import code_version, data_id, differences, read_lines
from .estimators import MLPClassifier
from .network_estimator import fit_quietly
from .parameters import zero_fraction

__all__ = ["parse_param", "SweepSpec", "tasks_of", "run_sweep", "check_folds", "summarize_sweep", "check_choice",
           "CHOICES", "choice_sentence", "read_results"]


class SweepError(ValueError):
    """A sweep setting that cannot be used."""


def _number(text, name):
    """``text`` as an int (when written as one) or a float, for ``--param name``."""
    try:
        value = float(text)
    except ValueError:
        raise SweepError(f"--param {name}: expected a number; got {text!r}") from None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def parse_param(text):
    """``"name=start:stop:log|lin:count"`` or ``"name=v1,v2,..."`` -> ``(name, [values])``.

    >>> parse_param("alpha=1e-4:1e-2:log:3")
    ('alpha', [0.0001, 0.001, 0.01])
    >>> parse_param("dropout=0,0.5")
    ('dropout', [0, 0.5])
    >>> parse_param("early_stopping=true,false")
    ('early_stopping', [True, False])
    >>> parse_param("hidden_layer_sizes=(64,),(128,64)")
    ('hidden_layer_sizes', [[64], [128, 64]])
    """
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise SweepError(f"--param expects NAME=VALUES; got {text!r}")
    if ":" in spec:
        return name, _range(name, spec)
    values = []
    for item in _top_level_items(spec):
        if item.lower() in KEYWORDS:
            values.append(KEYWORDS[item.lower()])
        elif item[:1] in "([":
            values.append(_sequence(item, name))
        else:
            values.append(_number(item, name) if item[:1] in "-.0123456789" else item)
    return name, values


def _top_level_items(spec):
    """``spec`` split at the commas outside parentheses and brackets, each item stripped."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(spec):
        depth += (char in "([") - (char in ")]")
        if char == "," and depth == 0:
            items.append(spec[start:i].strip())
            start = i + 1
    return items + [spec[start:].strip()]


def _sequence(text, name):
    """``"(64, 32)"`` or ``"[64, 32]"`` as a list of numbers (layer sizes, for one): a list, as the sweep's
    log writes it back, so a resumed sweep finds its points again."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, (tuple, list)) or not all(is_number(v) for v in value):
        raise SweepError(f"--param {name}: expected a tuple of numbers such as (64, 32); got {text!r}")
    return list(value)


def _range(name, spec):
    """The values of ``START:STOP:log|lin:COUNT``, rounded to 6 significant digits."""
    parts = spec.split(":")
    if len(parts) != 4 or parts[2] not in ("log", "lin"):
        raise SweepError(f"--param {name}: expected START:STOP:log|lin:COUNT; got {spec!r}")
    lo, hi, count = float(_number(parts[0], name)), float(_number(parts[1], name)), _number(parts[3], name)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise SweepError(f"--param {name}: a range needs finite ends; got {spec!r}")
    if not (float(count).is_integer() and count >= 1):
        raise SweepError(f"--param {name}: COUNT must be a whole number >= 1; got {parts[3]!r}")
    count = int(count)
    if parts[2] == "log":
        if lo <= 0 or hi <= 0:
            raise SweepError(f"--param {name}: a log range needs positive ends; got {spec!r}")
        values = np.geomspace(lo, hi, count)
    else:
        values = np.linspace(lo, hi, count)
    return [float(f"{v:.6g}") for v in values]


@dataclass
class SweepSpec:
    data: str = "digits"
    target: str | None = None
    params: dict = field(default_factory=dict)  # name -> list of values
    model: dict = field(default_factory=dict)  # fixed MLPClassifier parameters
    cv: int | None = 3  # K folds, or None for one validation split per seed
    seeds: int = 1
    validation_fraction: float = 0.2
    warm_start: bool = False  # walk each alpha path from strong to weak, starting from the previous weights

    def points(self):
        names = list(self.params)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.params[n] for n in names))]

    def to_dict(self):
        return {"data": self.data, "target": self.target, "params": self.params, "model": self.model,
                "cv": self.cv, "seeds": self.seeds, "validation_fraction": self.validation_fraction,
                "warm_start": self.warm_start}


def tasks_of(spec):
    """Every (point, split) task with its key: ``split`` is a fold number (with ``cv``) or a seed."""
    splits = range(spec.cv) if spec.cv else range(spec.seeds)
    return [(point, split, task_key(point, split)) for point in spec.points() for split in splits]


def paths_of(spec, todo):
    """Group ``(point, split)`` tasks into alpha paths, strongest alpha first (for warm starts)."""
    paths = {}
    for point, split in todo:
        rest = json.dumps({k: v for k, v in point.items() if k != "alpha"} | {"_split": split}, sort_keys=True)
        paths.setdefault(rest, []).append((point, split))
    return [sorted(path, key=lambda task: -task[0]["alpha"]) for path in paths.values()]


def task_key(point, split):
    return json.dumps({"point": point, "split": split}, sort_keys=True)


def check_folds(spec, y):
    """Stratified ``spec.cv`` folds of the labels ``y``: a :class:`SweepError` when no class has that many
    rows; a warning, once, naming the classes with fewer, which some validation folds then lack."""
    labels, counts = np.unique(y, return_counts=True)
    if spec.cv > counts.max():
        raise SweepError(f"--cv {spec.cv}: more folds than the training rows of any class of {spec.data} (at most "
                         f"{counts.max()}); use fewer folds")
    few = labels[counts < spec.cv]
    if len(few):
        several = len(few) > 1
        warnings.warn(f"--cv {spec.cv}: class{'es' if several else ''} {list_some(few)} of {spec.data} "
                      f"{'have' if several else 'has'} fewer training rows than folds (as few as {counts.min()}), "
                      f"so some validation folds lack {'them' if several else 'it'}", UserWarning, stacklevel=3)


def _split_indices(spec, y, split):
    if spec.cv:
        folds = StratifiedKFold(n_splits=spec.cv, shuffle=True, random_state=0)
        with warnings.catch_warnings():  # a class with fewer rows than folds: check_folds said so once
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            return list(folds.split(np.zeros(len(y)), y))[split]
    idx = np.arange(len(y))
    return train_test_split(idx, test_size=spec.validation_fraction, stratify=y, random_state=split)


def fit_path(spec, path, X, y):
    """Fit a path of tasks in order, each starting from the previous one's weights; a list of results."""
    est, results = None, []
    for point, split in path:
        results.append(fit_task(spec, point, split, X, y, start_from=est))
        est = results[-1].pop("_estimator")
    return results


def fit_task(spec, point, split, X, y, start_from=None):
    """Fit one task; return a JSON-ready result (the seed is the split number, so reruns agree).

    ``start_from``: a fitted estimator whose weights this fit starts from (a warm start).
    """
    train, held_out = _split_indices(spec, y, split)
    est = MLPClassifier(**from_plain_values({**spec.model, **point, "random_state": split}))
    if start_from is not None:
        est.set_params(warm_start=True)
        est.coefs_, est.intercepts_ = start_from.coefs_, start_from.intercepts_
        est._n_outputs = start_from._n_outputs
    started = time.perf_counter()
    try:
        fit_quietly(est, X[train], y[train])  # one BLAS thread: the same numbers for any --jobs
    except ValueError as exc:  # a setting that only the data can refuse, such as an unknown class label
        raise SweepError(f"{format_point(point) or 'the model'} cannot be fitted on this data: {exc}") from None
    if est.stop_reason_ == "interrupted":  # Ctrl-C inside fit: a partial fit is not a result
        raise KeyboardInterrupt
    result = {"key": task_key(point, split), "point": point, "split": split,
              "score": float(est.score(X[held_out], y[held_out])),
              "zero_fraction": zero_fraction(est.coefs_), "epochs": int(est.n_epochs_),
              "stop_reason": est.stop_reason_, "seconds": time.perf_counter() - started}
    if spec.warm_start:
        result["_estimator"] = est  # for the next point of the path; removed before the result is stored
    return result


def _as_list(fn, *args):
    return [fn(*args)]


def read_results(path):
    """The results already in ``sweep.jsonl`` (a half-written last line, from a kill, is ignored)."""
    return read_lines(path)


def sweep_setting(spec, X, y):
    """What a fit's result depends on besides its point and split: the data, the fixed model settings and
    how the splits are drawn (with warm starts, also the alpha path walked), and shrinkage's version."""
    setting = {"data": data_id(X, y), "model": spec.model, "cv": spec.cv,
               "validation_fraction": None if spec.cv else spec.validation_fraction, "warm_start": spec.warm_start,
               "version": code_version()}
    if spec.warm_start:
        setting["alpha_path"] = sorted(spec.params.get("alpha", []), reverse=True)
    return setting


@contextmanager
def _backend(scheduler, jobs):
    """joblib's process backend with ``jobs`` workers, or Dask's joblib backend on ``scheduler``."""
    from joblib import parallel_config

    if scheduler is None:
        with parallel_config(backend="loky", n_jobs=jobs):
            yield
        return
    try:
        from distributed import Client
    except ImportError:
        raise SweepError("--scheduler needs the dask extra: pip install 'shrinkage[dask]'") from None
    try:
        client = Client(scheduler)
    except (OSError, ValueError) as exc:  # a malformed address, or no scheduler answering there
        raise SweepError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler ({exc})") from None
    with client, parallel_config(backend="dask", n_jobs=-1):
        try:
            client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            raise SweepError(f"--scheduler {scheduler}: no worker joined the scheduler within 60 s") from None
        yield


def run_sweep(spec, X, y, out_dir, jobs=1, resume=False, on_result=None, scheduler=None):
    """Run the tasks not yet in ``out_dir/sweep.jsonl``; without ``resume`` that file must hold no fits
    (a :class:`SweepError` says so rather than overwrite them).

    ``scheduler``: the address of a Dask distributed scheduler; the fits then run
    on its workers through Dask's joblib backend (a lost worker's tasks are
    rerun elsewhere by Dask). Returns ``(results, interrupted)``; results are
    appended to the file as each task ends.
    """
    from joblib import Parallel, delayed

    if spec.cv:
        check_folds(spec, y)
    path = Path(out_dir) / "sweep.jsonl"
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    done = read_results(path)
    if done and not resume:  # starting afresh would throw these fits away
        raise SweepError(f"{path} holds {len(done)} fit(s) of an earlier sweep; continue it with --resume, "
                         "or give another --out")
    setting = sweep_setting(spec, X, y)
    for r in done:  # reusing fits of other data or another model would report them as this sweep's
        if "setting" not in r:
            raise SweepError(f"{path} holds fits from an earlier version of shrinkage, which did not record "
                             "their data and settings, so they cannot be checked; give another --out")
        if differ := differences(setting, r["setting"]):
            verb = "differ" if len(differ) > 1 else "differs"
            made_by = ""
            if "version" in differ:  # a version is not in the command line: name both
                old = r["setting"].get("version")
                made_by = f", made by shrinkage {old}" if old else ", made by an earlier shrinkage"
                made_by += f"; this is {setting['version']}"
            raise SweepError(f"{path} holds fits made with other settings ({', '.join(differ)} {verb}{made_by}); "
                             "resume it with the data and settings it was started with, or give another --out")
    # Start the file afresh with only the complete results: a line half-written by a kill is dropped.
    path.write_text("".join(json.dumps(r) + "\n" for r in done))
    seen = {r["key"] for r in done}
    todo = [(point, split) for point, split, key in tasks_of(spec) if key not in seen]
    results, interrupted = list(done), False
    try:
        with open(path, "a") as handle, _backend(scheduler, jobs):
            runner = Parallel(return_as="generator_unordered")
            if spec.warm_start and "alpha" in spec.params:  # one task per alpha path
                batches = runner(delayed(fit_path)(spec, chain, X, y) for chain in paths_of(spec, todo))
            else:
                batches = runner(delayed(_as_list)(fit_task, spec, p, s, X, y) for p, s in todo)
            for batch in batches:
                for result in batch:
                    result.pop("_estimator", None)
                    result["setting"] = setting
                    handle.write(json.dumps(result) + "\n")
                    handle.flush()
                    results.append(result)
                    if on_result:
                        on_result(result)
    except KeyboardInterrupt:
        interrupted = True
    return results, interrupted


CHOICES = ("best", "1se")


def check_choice(spec, choose):
    """Whether ``spec`` can be summarized by the rule ``choose``; a SweepError says why not."""
    if choose not in CHOICES:
        raise SweepError(f"--choose must be one of {', '.join(CHOICES)}; got {choose!r}")
    if choose == "1se":
        if "alpha" not in spec.params:
            raise SweepError("--choose 1se walks the alpha path: sweep alpha (--param alpha=...)")
        if (spec.cv or spec.seeds) < 2:
            raise SweepError("--choose 1se needs a standard error: score each point on several splits "
                             "(--cv K, or --cv 0 with --seeds N >= 2)")


def summarize_sweep(spec, results, choose="best"):
    """Per point: mean, std and standard error of the score, and the mean zero fraction; the chosen point.

    ``choose="best"``: the best mean score (on a tie, the sparser point). ``"1se"``: the one-standard-error
    rule (Hastie, Tibshirani & Friedman, glmnet's ``lambda.1se``): along the alpha path through the best
    point (its other parameters fixed), the largest alpha whose mean score is within one standard error
    of the best point's, the simplest model the data cannot tell apart from the best.
    """
    rows = []
    for point in spec.points():
        runs = [r for r in results if r["point"] == point]
        if not runs:
            continue
        scores = np.array([r["score"] for r in runs])
        zeros = np.array([r["zero_fraction"] for r in runs])
        se = float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else float("nan")
        rows.append({"point": point, "n": len(runs), "score": float(scores.mean()),
                     "score_std": float(scores.std()), "score_se": se, "zero_fraction": float(zeros.mean()),
                     "seconds": float(sum(r["seconds"] for r in runs))})
    best = max(rows, key=lambda r: (r["score"], r["zero_fraction"])) if rows else None
    if choose == "1se" and best is not None:
        best = _one_standard_error(rows, best)
    return rows, best


def _one_standard_error(rows, top):
    """The row with the largest alpha among those on ``top``'s alpha path that score within one standard
    error of it; it records the rule's figures for the report."""
    others = {k: v for k, v in top["point"].items() if k != "alpha"}
    floor = top["score"] - (top["score_se"] if math.isfinite(top["score_se"]) else 0.0)  # one split: no SE
    path = [r for r in rows if {k: v for k, v in r["point"].items() if k != "alpha"} == others]
    chosen = max((r for r in path if r["score"] >= floor), key=lambda r: r["point"]["alpha"])
    return {**chosen, "rule": {"top": top["point"], "top_score": top["score"], "floor": floor}}


def choice_sentence(chosen):
    """How the chosen point was chosen, when by the one-standard-error rule; else empty."""
    rule = chosen.get("rule")
    if rule is None:
        return ""
    se = rule["top_score"] - rule["floor"]
    return (f"Chosen by the one-standard-error rule: the largest alpha scoring at least {100 * rule['floor']:.1f}%, "
            f"one standard error ({100 * se:.1f} points: the std over splits / sqrt(n - 1)) below the best point "
            f"({format_point(rule['top'])}, {100 * rule['top_score']:.1f}%).")


def format_point(point):
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) and not math.isnan(v) else f"{k}={v}"
                     for k, v in point.items())


# ------------------------------------------------------------------- report


def _spans_decades(values):
    numbers = [v for v in values if isinstance(v, (int, float))]
    return len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 100


def plot_param(spec, rows, best, name):
    """Mean validation score (error bars: std over folds/seeds) against ``name``, one line per setting
    of the other parameters; the chosen point is marked."""
    import matplotlib.pyplot as plt

    from .report import png_base64

    others = [n for n in spec.params if n != name]
    values = spec.params[name]
    numeric = all(is_number(v) for v in values)

    def x_of(point):  # a number on its own axis; other values (l1, None, True) in the order given
        return point[name] if numeric else values.index(point[name])

    fig, (ax_score, ax_zero) = plt.subplots(1, 2, figsize=(10, 3.6))
    groups = {}
    for row in rows:  # keyed by JSON: a value may be a list (layer sizes)
        groups.setdefault(json.dumps([row["point"][n] for n in others]), []).append(row)
    for group in groups.values():
        group = sorted(group, key=lambda r: x_of(r["point"]))
        xs = [x_of(r["point"]) for r in group]
        legend = ", ".join(f"{n}={group[0]['point'][n]}" for n in others) or None
        ax_score.errorbar(xs, [r["score"] for r in group], yerr=[r["score_std"] for r in group], capsize=3,
                          marker="o", label=legend)
        ax_zero.plot(xs, [r["zero_fraction"] for r in group], marker="o", label=legend)
    bx = x_of(best["point"])
    ax_score.plot([bx], [best["score"]], marker="*", markersize=16, color="gold", markeredgecolor="k",
                  linestyle="none", label="chosen")
    for ax, ylabel in ((ax_score, "validation accuracy"), (ax_zero, "fraction of exact-zero weights")):
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        elif _spans_decades(values):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(ylabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return png_base64(fig, trim=False)


def write_sweep_report(out_dir, spec, rows, best, meta):
    import html

    import matplotlib

    from .report import CSS, mean_and_spread

    matplotlib.use("Agg")
    e = html.escape
    plots = "".join(
        f"<h2>{e(name)}</h2><img alt=\"validation score and sparsity against {e(name)}\" "
        f"src=\"data:image/png;base64,{plot_param(spec, rows, best, name)}\">"
        for name in spec.params
    )
    best_attr, star = ' class="best"', "★ "
    body = "".join(
        f"<tr{best_attr if row['point'] == best['point'] else ''}><td>{star if row['point'] == best['point'] else ''}"
        f"{e(format_point(row['point']))}</td>"
        f"<td>{mean_and_spread(row['score'], row['score_std'], row['n'], scale=100)}</td>"
        f"<td>{100 * row['zero_fraction']:.1f}%</td><td>{row['n']}</td></tr>"
        for row in rows
    )
    scoring = f"{spec.cv}-fold cross-validation" if spec.cv else f"a validation split per seed ({spec.seeds})"
    if spec.warm_start:
        scoring += ", each alpha path walked from strong to weak with warm starts"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>shrinkage sweep: {e(spec.data)}</title><style>{CSS}</style></head>
<body>
<h1>Regularization path on {e(meta['dataset'])}</h1>
<p>{len(rows)} points scored by {e(scoring)}; fixed model settings <code>{e(json.dumps(spec.model))}</code>.
Chosen point: <b>{e(format_point(best['point']))}</b>, validation accuracy {100 * best['score']:.1f}%,
test accuracy after refitting on the whole training split {100 * meta['test_accuracy']:.1f}%.
{e(choice_sentence(best))}</p>
{plots}
<h2>All points</h2>
<table><tr><th>point</th><th>validation acc % (± std over splits)</th><th>zero weights</th><th>fits</th></tr>
{body}</table>
<p>Generated by shrinkage {e(meta['version'])}; every fit is in sweep.jsonl.</p>
</body>
</html>
"""
    path = Path(out_dir) / "sweep.html"
    path.write_text(page, encoding="utf-8")
    return path
