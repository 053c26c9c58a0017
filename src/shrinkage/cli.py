"""The ``shrinkage`` command: study, train, predict, datasets."""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import __version__
from ._estimator_params import from_plain_values
from ._params import KEYWORDS, list_some, unknown_names
from .checkpoint import check_output_dir, check_output_file

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class CommandError(Exception):
    """An error to print as one line and exit with status 2."""


def _check_output(check, path, flag):
    """``check_output_file`` or ``check_output_dir`` (refuse, before any work, a path that could not be
    written at the end) with its error as a CommandError."""
    try:
        check(path, flag)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


@contextmanager
def _warnings_said(command):
    """Around a fit: ConvergenceWarning is ignored (the command prints epochs and stop reasons or scores
    itself); every other warning (learned nothing, diverged, a hold-out without a class, too few rows for
    the folds, scikit-learn's) is printed as it comes, once, as ``shrinkage COMMAND: warning: ...``, not as
    Python's file:line report."""
    from sklearn.exceptions import ConvergenceWarning

    from .network_estimator import LearnedNothingWarning

    said = set()

    def say(message, category, filename, lineno, file=None, line=None):
        if str(message) not in said:
            said.add(str(message))
            print(f"shrinkage {command}: warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():  # restores showwarning too
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("always", LearnedNothingWarning)  # a ConvergenceWarning that is news
        warnings.showwarning = say
        yield


# -------------------------------------------------------------------- study


def _progress(quiet, total_runs, epochs_per_run):
    """``(on_result, on_epoch, close)``: a rich progress bar on a terminal, log lines otherwise."""
    if quiet:
        return None, None, lambda: None
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        runs = bar.add_task("runs", total=total_runs)
        epochs = bar.add_task("epochs", total=total_runs * epochs_per_run)
        bar.start()
        seen = {"epochs": 0}

        def on_result(result):
            bar.advance(runs)
            seen["epochs"] += epochs_per_run  # an early stop finishes the run's budget
            bar.update(epochs, completed=seen["epochs"])

        def on_epoch(n):
            bar.advance(epochs, n)

        return on_result, on_epoch, bar.stop
    count = {"done": 0}

    def log(result):
        count["done"] += 1
        print(f"[{count['done']}/{total_runs}] {result['config']} seed {result['seed']}: "
              f"test {100 * result['test_accuracy']:.1f}%, {result['epochs']} epochs, "
              f"{result['seconds']:.1f}s", flush=True)

    return log, None, lambda: None


def cmd_study(args):
    from .datasets import DataError
    from .report import render_table, write_outputs
    from .study import (StudyConfigError, default_spec, finished_part, finished_runs, margin_note, prepare_data,
                        run_study, shows_margins, spec_from_toml, summarize, why_not_reused)

    _check_output(check_output_dir, args.out, "--out")
    try:
        spec = spec_from_toml(args.config) if args.config else default_spec()
    except StudyConfigError as exc:
        raise CommandError(str(exc)) from None
    if args.data:
        spec.data, spec.target = args.data, args.target
    if args.seeds is not None:
        spec.seeds = args.seeds
    if args.epochs is not None:
        spec.model["max_epochs"] = args.epochs
    try:
        dataset, data = prepare_data(spec)
    except (DataError, StudyConfigError) as exc:
        raise CommandError(str(exc)) from None
    jobs = args.jobs or os.cpu_count() or 1
    log = Path(args.out) / "runs.jsonl"
    reusable = finished_runs(spec, data, log)
    finished = reusable if args.resume else {}
    n_runs = len(spec.configurations) * spec.seeds
    on_result, on_epoch, close = _progress(args.quiet, n_runs - len(finished), spec.model["max_epochs"])
    if not args.quiet:
        if finished:
            rest = (f"training the other {n_runs - len(finished)}" if len(finished) < n_runs
                    else "writing the report")
            print(f"shrinkage study: {len(finished)} of {n_runs} runs already in {log}; {rest}", flush=True)
        elif reusable:
            print(f"shrinkage study: {len(reusable)} of {n_runs} runs with these settings are already in {log}; "
                  "training them again (--resume would reuse them; the log keeps both)", flush=True)
        if args.resume and len(finished) < n_runs and (differ := why_not_reused(spec, data, log)):
            print(f"shrinkage study: runs in {log} made with {' or '.join(differ)} are not reused",
                  flush=True)
        if not sys.stdout.isatty():
            print(f"shrinkage study: {len(spec.configurations)} configurations x {_count(spec.seeds, 'seed')} "
                  f"on {dataset.name}, {jobs} job(s)", flush=True)

    started = time.perf_counter()
    try:
        results, interrupted = run_study(spec, data, jobs=jobs, on_result=on_result,
                                         on_epoch=on_epoch if jobs == 1 else None, log=log, finished=finished)
    except StudyConfigError as exc:  # the runs that finished are in the log, for --resume once mended
        raise CommandError(str(exc)) from None
    finally:
        close()
    seconds = time.perf_counter() - started
    if interrupted:
        spec = finished_part(spec, results)
        if not results:
            print("shrinkage study: interrupted before any run finished; nothing written", file=sys.stderr)
            return EXIT_INTERRUPTED
    rows, best = summarize(spec, results)
    X_tr, _, X_val, _, X_te, _ = data
    meta = {"dataset": dataset.name, "dataset_description": dataset.description, "n_train": len(X_tr),
            "n_val": len(X_val), "n_test": len(X_te), "n_features": dataset.n_features, "seconds": seconds,
            "jobs": jobs, "version": __version__}
    try:
        paths = write_outputs(args.out, spec, rows, best, results, meta)
    except KeyboardInterrupt:
        print(f"shrinkage study: interrupted while writing the report; the runs are in {log} "
              "(the same command with --resume writes it without training again)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        console = _console()
        render_table(rows, best, console,
                     title=f"shrinkage study on {dataset.name} ({_count(spec.seeds, 'seed')}, {seconds:.0f}s)")
        for row in rows:
            console.print(f"• {row['finding']}", highlight=False, markup=False)
        if shows_margins(rows):
            console.print(margin_note(spec.seeds), highlight=False, markup=False)
        console.print(f"Report: {paths['report']}  Data: {paths['results']}, {paths['history']}",
                      highlight=False, markup=False)
    if interrupted:
        print(f"shrinkage study: interrupted; wrote the {len(results)} finished run(s) to {args.out} "
              "(run the same command with --resume to train only the rest)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


# -------------------------------------------------------------------- train


def _parsed_as(convert, expected):
    """An argparse type: ``convert(text)``; a text it cannot read is an error saying what was expected."""
    def parse(text):
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
    return parse


_NUMBER = _parsed_as(float, "a number")
_INTEGER = _parsed_as(int, "an integer")

_TRAIN_FLAGS = {  # flag -> (estimator parameter, argparse type, help); the estimator checks the values
    "hidden": ("hidden_layer_sizes",
               _parsed_as(lambda s: tuple(int(v) for v in s.split(",") if v), "comma-separated integers"),
               "hidden layer sizes, such as 256,256 ('' for none)"),
    "penalty": ("penalty", lambda s: None if s == "none" else s, "none, l2, l1 or elasticnet"),
    "alpha": ("alpha", _NUMBER, "penalty strength: alpha/2*sum(W**2) for L2, alpha*sum(|W|) for L1"),
    "l1_method": ("l1_method", str, "proximal (exact zeros; the default), subgradient or cumulative"),
    "weight_decay": ("weight_decay", _NUMBER, "decoupled decay, w -= lr*weight_decay*w as in AdamW"),
    "dropout": ("dropout", _NUMBER, "probability of dropping each hidden unit, in [0, 1)"),
    "max_norm": ("max_norm", _NUMBER, "largest norm of a hidden unit's incoming weights"),
    "optimizer": ("optimizer", str, "sgd or adam"),
    "learning_rate": ("learning_rate", _NUMBER, "step size"),
    "batch_size": ("batch_size", _parsed_as(lambda s: s if s == "auto" else int(s), "an integer or auto"),
                   "samples per step"),
    "max_epochs": ("max_epochs", _INTEGER, "most passes over the training data"),
    "random_state": ("random_state", _INTEGER, "seed: the same seed gives bit-identical results on one machine"),
}


def _parse_set(items):
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--set expects KEY=VALUE; got {item!r}")
        if key in params:
            raise CommandError(f"--set {key} given more than once")
        if value.lower() in KEYWORDS:
            params[key] = KEYWORDS[value.lower()]
            continue
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value  # a bare string such as adam
    return params


_HIDDEN_ONLY = {  # parameters of the hidden layers, which LinearClassifier has none of
    "hidden_layer_sizes": "a linear model has no hidden layers",
    "dropout": "a linear model has no hidden units to drop (input_dropout drops its inputs)",
}


def _checked_estimator(cls, params):
    """``cls(**params)`` with every parameter known and valid, or a CommandError that names it."""
    unknown = set(params) - set(cls().get_params())
    if unknown and unknown <= _HIDDEN_ONLY.keys():
        raise CommandError(f"{cls.__name__} has no parameter(s) {sorted(unknown)}: "
                           f"{'; '.join(_HIDDEN_ONLY[name] for name in sorted(unknown))}")
    if unknown:
        raise CommandError(f"{cls.__name__} has no parameter(s) {unknown_names(unknown, cls().get_params())}")
    try:
        est = cls(**from_plain_values(params))
        est._check_params()
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return est


def _count(n, noun):
    """``"1 seed"``, ``"3 seeds"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _console():
    """A rich console: the terminal's width, or 150 columns when the output is a file or pipe."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=150)


def _with_set(flags, settings):
    """The parameters given by flags plus those of ``--set``; one given both ways is an error."""
    extra = _parse_set(settings)
    if both := sorted(set(flags) & set(extra)):
        raise CommandError(f"{', '.join(both)}: given both as a flag and with --set; give each parameter once")
    return {**flags, **extra}


def _estimator_from_args(args):
    from .estimators import LinearClassifier, MLPClassifier

    cls = LinearClassifier if args.model == "linear" else MLPClassifier
    params = {name: getattr(args, flag) for flag, (name, _, _) in _TRAIN_FLAGS.items() if hasattr(args, flag)}
    if args.early_stopping:
        params["early_stopping"] = True
    if args.verbose:
        params["verbose"] = 1
    return _checked_estimator(cls, _with_set(params, args.set))


def cmd_train(args):
    from .checkpoint import CheckpointError
    from .datasets import DataError, load_dataset
    from .parameters import zero_fraction
    from .serialization import save

    est = _estimator_from_args(args)
    if args.resume and not args.checkpoint:
        raise CommandError("--resume needs --checkpoint PATH")
    for flag in ("save", "checkpoint"):  # a path that cannot be written would lose the training
        if getattr(args, flag) is not None:
            _check_output(check_output_file, getattr(args, flag), f"--{flag}")
    try:
        ds = load_dataset(args.data, target=args.target)
    except DataError as exc:
        raise CommandError(str(exc)) from None
    with _warnings_said("train"):
        try:
            est.fit(ds.X_train, ds.y_train, checkpoint=args.checkpoint, resume=args.resume)
        except (CheckpointError, ValueError) as exc:  # also settings only the data can refuse
            raise CommandError(str(exc)) from None
    if not args.quiet:
        zeros = zero_fraction(est.coefs_)
        print(f"{type(est).__name__} on {ds.name}: train accuracy {est.score(ds.X_train, ds.y_train):.4f}, "
              f"test accuracy {est.score(ds.X_test, ds.y_test):.4f}, {est.n_epochs_} epochs "
              f"({est.stop_reason_})" + (f", {100 * zeros:.1f}% of the weights exactly zero" if zeros else ""),
              flush=True)
    if args.save is not None:
        save(est, args.save, input_mean=ds.mean, input_scale=ds.scale, input_columns=ds.feature_names)
        if not args.quiet:
            print(f"saved {args.save}", flush=True)
    if est.stop_reason_ == "interrupted":
        print("shrinkage train: interrupted; kept the weights so far" +
              (f" in {args.save}" if args.save else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


# -------------------------------------------------------------------- sweep


def cmd_sweep(args):
    from rich.table import Table

    from .datasets import DataError, load_dataset
    from .serialization import save
    from .sweep import (SweepError, SweepSpec, check_choice, choice_sentence, format_point, parse_param, run_sweep,
                        summarize_sweep, write_sweep_report)
    from .report import mean_and_spread

    if args.scheduler and args.jobs:
        raise CommandError("give --jobs (local processes) or --scheduler (a Dask cluster), not both")
    _check_output(check_output_dir, args.out, "--out")
    try:
        parsed = [parse_param(text) for text in args.param]
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    names = [name for name, _ in parsed]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise CommandError(f"--param {', '.join(twice)} given more than once; list all its values in one --param")
    params = dict(parsed)
    flags = {}
    if args.penalty is not None:
        flags["penalty"] = None if args.penalty == "none" else args.penalty
    if args.epochs is not None:
        flags["max_epochs"] = args.epochs
    model = _with_set(flags, args.set)
    if both := sorted(set(params) & set(model)):
        raise CommandError(f"{', '.join(both)}: both swept (--param) and fixed (--set, --penalty or --epochs); "
                           "give each parameter one way")
    spec = SweepSpec(data=args.data, target=args.target, params=params, model=model,
                     cv=args.cv or None, seeds=args.seeds, warm_start=args.warm_start)
    try:
        check_choice(spec, args.choose)
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    from .estimators import MLPClassifier

    for point in spec.points():  # every point must be valid before any fit starts
        _checked_estimator(MLPClassifier, {**model, **point})
    try:
        ds = load_dataset(args.data, target=args.target)
    except DataError as exc:
        raise CommandError(str(exc)) from None
    n_tasks = len(spec.points()) * (spec.cv or spec.seeds)

    def log(result):
        if not args.quiet:
            print(f"{format_point(result['point'])} split {result['split']}: score {result['score']:.4f}, "
                  f"{100 * result['zero_fraction']:.1f}% zeros, {result['seconds']:.1f}s"
                  + (", diverged" if result.get("stop_reason") == "diverged" else ""), flush=True)

    if not args.quiet:
        print(f"shrinkage sweep: {_count(len(spec.points()), 'point')} x {_count(spec.cv or spec.seeds, 'split')} = "
              f"{_count(n_tasks, 'fit')} on {ds.name}", flush=True)
    try:
        with _warnings_said("sweep"):
            results, interrupted = run_sweep(spec, ds.X_train, ds.y_train, args.out, jobs=args.jobs or -1,
                                             resume=args.resume, on_result=log, scheduler=args.scheduler)
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    if interrupted:
        print(f"shrinkage sweep: interrupted; {len(results)} fit(s) are in {args.out}/sweep.jsonl "
              "(run again with --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    rows, best = summarize_sweep(spec, results, args.choose)
    final = _checked_estimator(MLPClassifier, {**model, **best["point"], "random_state": 0})
    with _warnings_said("sweep"):
        final.fit(ds.X_train, ds.y_train)
    test_accuracy = final.score(ds.X_test, ds.y_test)
    save(final, Path(args.out) / "best.npz", input_mean=ds.mean, input_scale=ds.scale,
         input_columns=ds.feature_names)
    report = write_sweep_report(args.out, spec, rows, best, {"dataset": ds.name, "test_accuracy": test_accuracy,
                                                            "version": __version__})
    if not args.quiet:
        table = Table(title=f"sweep on {ds.name}")
        for col in ("point", "validation acc % (± std over splits)", "zero weights"):
            table.add_column(col, justify="left" if col == "point" else "right")
        for row in rows:
            mark = "★ " if row["point"] == best["point"] else ""
            table.add_row(mark + format_point(row["point"]),
                          mean_and_spread(row["score"], row["score_std"], row["n"], scale=100),
                          f"{100 * row['zero_fraction']:.1f}%")
        _console().print(table)
        print(f"chosen: {format_point(best['point'])}; refitted on the training split: test accuracy "
              f"{test_accuracy:.4f}; saved {Path(args.out) / 'best.npz'}; report {report}")
        if best.get("rule"):
            print(choice_sentence(best))
    return 0


# ------------------------------------------------------------------ predict


def cmd_predict(args):
    from .datasets import BUILTIN, DataError, load_dataset, read_features, standardize
    from .serialization import ModelFileError, load_with_preprocessing

    if args.out is not None:
        _check_output(check_output_file, args.out, "--out")
    try:
        est, prep = load_with_preprocessing(args.model)
    except (ModelFileError, OSError) as exc:
        raise CommandError(str(exc)) from None
    try:
        if args.data in BUILTIN:  # its test split, standardized as in training
            ds = load_dataset(args.data)
            X, y = ds.X_test, ds.y_test
            if ds.n_features != est.n_features_in_:
                raise CommandError(f"{args.model} expects {est.n_features_in_} features; the built-in data set "
                                   f"{args.data} has {ds.n_features}")
        else:
            X, y = read_features(args.data, est.n_features_in_, args.target, prep and prep["columns"])
            X = standardize(X, prep["mean"], prep["scale"]) if prep and prep["mean"] is not None \
                else X.astype(np.float32)
    except DataError as exc:
        raise CommandError(str(exc)) from None
    header, rows = _predictions(est, X, args)
    if args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            _write_csv(handle, header, rows)
    else:
        _write_csv(sys.stdout, header, rows)
    if y is not None and len(y) == len(rows[0]):
        line = _accuracy_line(rows[0], y, est.classes_) if hasattr(est, "classes_") else _regression_line(rows, y)
        if line:
            print(line, file=sys.stderr)
    return 0


def _as_labels_of(values, classes):
    """``values`` in the kind of the model's ``classes``: numbers when the classes are numbers, so that a
    file's ``1.0`` is the class ``1`` (a label that is no number becomes NaN, which matches no class); else
    text."""
    text = np.asarray(values).astype(str)
    if np.asarray(classes).dtype.kind not in "iuf":
        return text
    try:
        return text.astype(np.float64)
    except ValueError:
        return np.array([_number_or_nan(label) for label in text])


def _number_or_nan(text):
    try:
        return float(text)
    except ValueError:
        return np.nan


def _accuracy_line(pred, y, classes):
    """The accuracy of ``pred`` on the rows that have a label in ``y`` (not empty, not NaN), saying how many
    labels the model never saw; or, when it knows none of them, that there is no accuracy to give (a 0 would
    blame the model). None when no row has a label."""
    from .datasets import missing_labels

    y = np.asarray(y)
    labelled = ~missing_labels(y)
    if not labelled.any():
        return None
    pred, y = np.asarray(pred)[labelled], y[labelled]
    text = y.astype(str)
    labels = _as_labels_of(y, classes)
    unseen = ~np.isin(labels, _as_labels_of(classes, classes))
    if unseen.all():
        return (f"no accuracy: no row's label ({list_some(np.unique(text))}) is a class of the model "
                f"({list_some(np.asarray(classes).astype(str))})")
    line = f"accuracy {np.mean(_as_labels_of(pred, classes) == labels):.4f} on {len(labels)} labelled rows"
    if unseen.any():
        line += f" ({unseen.sum()} of them with labels the model never saw: {list_some(np.unique(text[unseen]))})"
    return line


def _regression_line(columns, y):
    """R² and RMSE of a regressor's predictions (a column per output) on the rows whose targets in ``y`` are
    all numbers; None when fewer than two are, or ``y`` has another number of outputs."""
    from sklearn.metrics import mean_squared_error, r2_score

    pred = np.column_stack(columns)
    y = np.asarray(y)
    target = y.astype(np.float64) if y.dtype.kind in "biuf" else np.vectorize(_number_or_nan, otypes=[float])(y)
    target = target.reshape(len(target), -1)
    if target.shape != pred.shape:
        return None
    labelled = np.isfinite(target).all(axis=1)
    if labelled.sum() < 2:
        return None
    target, pred = target[labelled], pred[labelled]
    return (f"R² {r2_score(target, pred):.4f}, RMSE {np.sqrt(mean_squared_error(target, pred)):.4g} on "
            f"{labelled.sum()} labelled rows")


def _predictions(est, X, args):
    """``(header, columns)``: the predictions, then with ``--proba`` each class's probability."""
    mc = {"mc_samples": args.mc_samples, "random_state": 0} if args.mc_samples else {}
    if args.proba and not hasattr(est, "predict_proba"):
        raise CommandError(f"--proba needs a classifier with probabilities; {args.model} holds a "
                           f"{type(est).__name__}" + (" with the hinge loss" if hasattr(est, "classes_") else ""))
    try:
        if not args.proba:
            pred = est.predict(X, **mc)
            if pred.ndim == 2:  # a regressor of several outputs: a column each
                return [f"prediction_{k}" for k in range(pred.shape[1])], list(pred.T)
            return ["prediction"], [pred]
        proba = est.predict_proba(X, **mc)
    except ValueError as exc:  # --mc-samples on a model without dropout
        raise CommandError(f"{args.model}: {exc}") from None
    header = ["prediction", *(f"p({c})" for c in est.classes_)]
    return header, [est.classes_[proba.argmax(axis=1)], *proba.T]


def _write_csv(handle, header, columns):
    """One column per array: numbers to float32's 7 significant digits, labels as they are."""
    import csv

    def cells(column):
        return [f"{v:.7g}" for v in column.tolist()] if column.dtype.kind == "f" else column.tolist()

    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*(cells(c) for c in columns)))


# ----------------------------------------------------------------- datasets


def cmd_datasets(args):
    from rich.table import Table

    from .datasets import describe_builtin

    table = Table(title="Built-in data sets (features standardized with training statistics)")
    for col in ("name", "train", "test", "features", "classes"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for row in describe_builtin():
        table.add_row(*(str(v) for v in row))
    _console().print(table)
    print("Also: a CSV file (UTF-8, comma-separated, a header row, numeric features; --target names the label "
          "column, default the last), an .npz with X and y (and X_test, y_test for a test split of its own), or "
          "a folder with CIFAR-10's binary files. Files are split 80/20, stratified, unless they bring a test "
          "split; features are standardized with the training split's statistics.")
    return 0


# -------------------------------------------------------------------- parser


def build_parser():
    parser = argparse.ArgumentParser(
        prog="shrinkage",
        description="Train linear models and MLPs with L2, L1, elastic net, dropout, max-norm and early "
                    "stopping, and see what each regularizer does.",
    )
    parser.add_argument("--version", action="version", version=f"shrinkage {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    study = sub.add_parser("study", help="train one model under each regularizer and write a report",
                           description="Train the same MLP under each regularizer, several seeds each; print "
                                       "a table and write report.html, results.json and history.csv; runs.jsonl "
                                       "logs each run as it ends, for --resume.")
    study.add_argument("--data", help="built-in data set name or a CSV/.npz path/CIFAR-10 folder (default: mnist1d)")
    study.add_argument("--target", help="label column of a CSV file (default: the last)")
    study.add_argument("--config", help="study file in TOML (data, model, configurations)")
    study.add_argument("--seeds", type=_positive_int, help="seeds per configuration (default: 3)")
    study.add_argument("--epochs", type=_positive_int, help="override the model's max_epochs (for a quick look)")
    study.add_argument("--jobs", type=_positive_int, help="worker processes (default: all cores)")
    study.add_argument("--out", default="shrinkage-study", help="output folder (default: shrinkage-study)")
    study.add_argument("--resume", action="store_true",
                       help="reuse the runs in DIR/runs.jsonl made with the same data and settings")
    study.add_argument("--quiet", action="store_true", help="print only errors")
    study.set_defaults(func=cmd_study)

    train = sub.add_parser("train", help="train one model and save it",
                           description="Train one model on a data set's training split, report train and "
                                       "test accuracy, and save it.")
    train.add_argument("--data", required=True, help="built-in data set name or a CSV/.npz path")
    train.add_argument("--target", help="label column of a CSV file (default: the last)")
    train.add_argument("--model", choices=["mlp", "linear"], default="mlp",
                       help="mlp: MLPClassifier (the default); linear: LinearClassifier")
    for flag, (_, convert, help_text) in _TRAIN_FLAGS.items():  # a flag not given is not in args
        train.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=convert, default=argparse.SUPPRESS,
                           help=help_text)
    train.add_argument("--early-stopping", action="store_true", help="stop on validation loss")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other estimator parameter")
    train.add_argument("--save", metavar="MODEL", help="write the fitted model to this file")
    train.add_argument("--checkpoint", metavar="PATH", help="write the training state here after every epoch")
    train.add_argument("--resume", action="store_true",
                       help="continue from --checkpoint if it exists (a run that ended on --max-epochs trains on "
                       "to a larger one)")
    train.add_argument("--verbose", action="store_true", help="print every epoch's losses")
    train.add_argument("--quiet", action="store_true", help="print only errors")
    train.set_defaults(func=cmd_train)

    sweep = sub.add_parser("sweep", help="score a grid of regularization settings by cross-validation",
                           description="Fit MLPClassifier at every point of the product of the --param lists, "
                                       "score each by K-fold cross-validation (or a validation split per "
                                       "seed), stream the fits to DIR/sweep.jsonl, refit and save the best "
                                       "point, and write DIR/sweep.html.")
    sweep.add_argument("--data", required=True, help="built-in data set name or a CSV/.npz path")
    sweep.add_argument("--target", help="label column of a CSV file (default: the last)")
    sweep.add_argument("--param", action="append", required=True, metavar="NAME=VALUES",
                       help="values to sweep: START:STOP:log|lin:COUNT or V1,V2,..., layer sizes as (64,),(128,64) "
                            "(repeatable)")
    sweep.add_argument("--penalty", choices=["none", "l1", "l2", "elasticnet"], help="fixed penalty")
    sweep.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other fixed parameter")
    sweep.add_argument("--epochs", type=_positive_int, help="max_epochs of every fit")
    sweep.add_argument("--cv", type=_fold_count, default=3,
                       help="K-fold cross-validation (default 3; 0: a validation split per seed)")
    sweep.add_argument("--seeds", type=_positive_int, default=1, help="seeds when --cv 0 (default 1)")
    sweep.add_argument("--jobs", type=_positive_int, help="worker processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the fits on a Dask cluster, e.g. tcp://10.0.0.5:8786 (needs shrinkage[dask])")
    sweep.add_argument("--out", default="shrinkage-sweep", help="output folder (default: shrinkage-sweep)")
    sweep.add_argument("--resume", action="store_true", help="skip the fits already in DIR/sweep.jsonl")
    sweep.add_argument("--choose", choices=["best", "1se"], default="best",
                       help="best: the best mean score (the default); 1se: the largest alpha within one standard "
                            "error of it (glmnet's lambda.1se)")
    sweep.add_argument("--warm-start", action="store_true",
                       help="walk alpha from strong to weak, each fit starting from the previous weights")
    sweep.add_argument("--quiet", action="store_true", help="print only errors")
    sweep.set_defaults(func=cmd_sweep)

    predict = sub.add_parser("predict", help="predict with a saved model",
                             description="Predict labels (with --proba, also class probabilities) for the rows of "
                                         "a CSV/.npz file (or a built-in data set's test split) with a model "
                                         "saved by 'shrinkage train', as CSV. A model trained on a CSV file "
                                         "reads its feature columns by name, in any order, beside other columns. "
                                         "Rows with labels are scored on stderr: accuracy, or R² and RMSE for a "
                                         "regressor saved with shrinkage.save.")
    predict.add_argument("model", help="model file written by 'shrinkage train --save'")
    predict.add_argument("--data", required=True, help="CSV/.npz file or built-in data set name")
    predict.add_argument("--target", help="label column of a CSV file (scored, not used as a feature)")
    predict.add_argument("--out", help="write predictions here instead of standard output")
    predict.add_argument("--proba", action="store_true", help="add a column with each class's probability")
    predict.add_argument("--mc-samples", type=_positive_int, metavar="N",
                         help="average N passes with dropout on (Monte Carlo dropout; the model needs dropout)")
    predict.set_defaults(func=cmd_predict)

    datasets = sub.add_parser("datasets", help="list the built-in data sets",
                              description="List the built-in data sets with their sizes and splits.")
    datasets.set_defaults(func=cmd_datasets)
    return parser


def _int_at_least(low, expected):
    """An argparse type: an int >= ``low``; ``expected`` describes it in the error."""
    as_int = _parsed_as(int, expected)

    def parse(text):
        value = as_int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {value}")
        return value
    return parse


_positive_int = _int_at_least(1, "an integer >= 1")


def _fold_count(text):
    """--cv: 0 (a validation split per seed) or K >= 2 folds."""
    value = _int_at_least(0, "0 or an integer >= 2")(text)
    if value == 1:
        raise argparse.ArgumentTypeError("expected 0 or an integer >= 2; got 1 (one fold leaves nothing to train on)")
    return value


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as exc:
        print(f"shrinkage {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outside training (which stops cleanly on its own): no traceback
        print(f"shrinkage {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output (head, less) has gone: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 1


if __name__ == "__main__":
    sys.exit(main())
