import base64
import json
import re
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest

from shrinkage.report import format_row, mean_and_spread, write_outputs
from shrinkage.study import Configuration, StudySpec, prepare_data, run_study, shows_margins, summarize

VOID = {"meta", "img", "br", "hr", "link", "input"}
EVIL = '<script>alert("x")</script>&'


class TagChecker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.images, self.urls = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        for name in ("src", "href"):
            if name in attrs:
                self.urls.append(attrs[name])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    spec = StudySpec(
        data="wine",
        model={"hidden_layer_sizes": (8,), "max_epochs": 25, "batch_size": 16, "learning_rate": 0.01},
        configurations=[
            Configuration("none", {"penalty": None}, "plain"),
            Configuration(EVIL, {"penalty": "l1", "alpha": 0.05}, EVIL),
            Configuration("stop", {"penalty": None, "early_stopping": True, "patience": 0, "min_delta": 0.5},
                          "early stop"),
            Configuration("mn", {"penalty": None, "max_norm": 0.5}, "max-norm"),
        ],
        seeds=2,
    )
    dataset, data = prepare_data(spec)
    results, _ = run_study(spec, data)
    rows, best = summarize(spec, results)
    meta = {"dataset": dataset.name, "dataset_description": EVIL, "n_train": 1, "n_val": 1, "n_test": 1,
            "n_features": 13, "seconds": 1.0, "jobs": 1, "version": "test"}
    paths = write_outputs(tmp_path_factory.mktemp("out"), spec, rows, best, results, meta)
    return paths["report"].read_text(), rows


def test_report_is_valid_self_contained_html(report):
    text, _ = report
    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert text.startswith("<!DOCTYPE html>") and not checker.errors and not checker.stack
    assert len(checker.images) == 3
    for url in checker.urls:
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"(https?:|ftp:)?//[a-z0-9]", without_images, re.I)
    assert "<script" not in text.lower()


def test_report_escapes_user_strings(report):
    text, _ = report
    assert EVIL not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in text


def test_report_has_table_findings_and_plots(report):
    text, rows = report
    for title in ("Test accuracy", "Learning curves", "Weight magnitudes", "What each configuration did"):
        assert title in text
    assert "★" in text
    assert all(row["finding"] for row in rows)
    finding = {row["config"]: row["finding"] for row in rows}
    assert "exactly to zero" in finding[EVIL]
    assert "Training stopped at" in finding["stop"]
    assert "Max-norm held" in finding["mn"]


def test_best_configuration_breaks_accuracy_ties_by_validation_loss():
    def run(config, seed, accuracy, val_loss):
        return {"config": config, "seed": seed, "test_accuracy": accuracy, "train_accuracy": 1.0,
                "gap": 1.0 - accuracy, "best_val_loss": val_loss, "zero_fraction": 0.0, "epochs": 5,
                "seconds": 0.1, "stop_reason": "max_epochs"}

    names = ["none", "l2", "dropout", "worse"]
    spec = StudySpec(data="wine", model={}, configurations=[Configuration(n, {}, n) for n in names], seeds=2)
    results = [run("none", s, 0.9, 0.30) for s in (0, 1)] + [run("l2", s, 0.9, 0.25) for s in (0, 1)]
    results += [run("dropout", s, 0.9, float("nan")) for s in (0, 1)] + [run("worse", s, 0.8, 0.1) for s in (0, 1)]
    assert summarize(spec, results)[1] == "l2"  # tied with none and dropout on accuracy, lowest val loss


def test_spread_is_shown_only_when_there_are_several_runs():
    assert mean_and_spread(0.9876, 0.0123, 3, scale=100) == "98.8 ± 1.2"
    assert mean_and_spread(0.9876, 0.0, 1, scale=100) == "98.8"
    assert mean_and_spread(0.12345, 0.001, 2, digits=3) == "0.123 ± 0.001"


def test_zero_weights_show_their_spread_over_seeds():
    stat = {"mean": 0.5, "std": 0.0}
    row = {"config": "l1", "n_runs": 3, **{k: stat for k in ("test_accuracy", "train_accuracy", "gap",
                                                             "best_val_loss", "epochs", "seconds")}}
    assert format_row({**row, "zero_fraction": {"mean": 0.28, "std": 0.107}})[5] == "28.0 ± 10.7%"
    assert format_row({**row, "zero_fraction": {"mean": 0.0, "std": 0.0}})[5] == "0.0%"


def test_log_axis_labels_are_plain_numbers_and_thin_out_with_the_range():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shrinkage.report import _plain_log_labels

    fig, ax = plt.subplots()
    ax.set_yscale("log")
    labels = {}
    for low, high in ((0.3, 0.9), (0.2, 2.0), (1e-3, 2.0)):
        ax.set_ylim(low, high)
        _plain_log_labels(ax)
        minor = ax.yaxis.get_minor_formatter()
        labels[(low, high)] = [minor(v, 0) for v in (0.3, 0.5)], ax.yaxis.get_major_formatter()(0.1, 0)
    plt.close(fig)
    assert labels[(0.3, 0.9)] == (["0.3", "0.5"], "0.1")  # within a decade: every tick
    assert labels[(0.2, 2.0)] == (["", "0.5"], "0.1")  # one to two decades: the 2s and 5s
    assert labels[(1e-3, 2.0)] == (["", ""], "0.1")  # wider: decades only


def synthetic_results():
    """Two configurations, two seeds each: "none" runs 4 epochs; "stop" stops early after 3 (best epoch 1)."""
    def run(config, seed, accuracy, epochs, best_epoch=None, stop_reason="max_epochs"):
        losses = [1.0 / (k + 1) + 0.01 * seed for k in range(epochs)]
        return {"config": config, "seed": seed, "test_accuracy": accuracy, "train_accuracy": 1.0,
                "gap": 1.0 - accuracy, "best_val_loss": min(losses), "zero_fraction": 0.0, "epochs": epochs,
                "seconds": 0.1, "stop_reason": stop_reason, "best_epoch": best_epoch,
                "history": {"loss": losses, "val_loss": [v + 0.1 for v in losses]},
                "weight_histogram": {"zeros": 1 + seed, "counts": [1] * 36}}

    spec = StudySpec(data="wine", model={}, configurations=[Configuration("none", {}, ""),
                                                            Configuration("stop", {}, "")], seeds=2)
    results = [run("none", s, 0.7 + 0.1 * s, 4) for s in (0, 1)]
    results += [run("stop", s, 0.95, 3, best_epoch=1, stop_reason="patience") for s in (0, 1)]
    return spec, results


@pytest.fixture
def figures(monkeypatch):
    """Make the plot functions return their matplotlib figures instead of PNG text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shrinkage import report

    monkeypatch.setattr(report, "png_base64", lambda fig, trim=True: fig)
    yield report
    plt.close("all")


def test_accuracy_chart_draws_each_mean_and_marks_the_best_in_green(figures):
    spec, results = synthetic_results()
    rows, best = summarize(spec, results)
    ax = figures.plot_accuracy(rows, best).axes[0]
    bars = ax.patches
    assert [round(b.get_height(), 6) for b in bars] == [75.0, 95.0]  # test accuracy in %, mean over seeds
    assert [matplotlib_color(b) for b in bars] == ["tab:blue", "tab:green"] and best == "stop"
    assert ax.get_ylim() == (65.0, 101.0)  # 10 points under the lowest bar


def matplotlib_color(patch):
    from matplotlib.colors import same_color

    return next(name for name in ("tab:blue", "tab:green") if same_color(patch.get_facecolor(), name))


def test_learning_curves_show_each_configurations_own_runs_and_where_training_stopped(figures):
    spec, results = synthetic_results()
    fig = figures.plot_learning_curves(spec, results)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    none_lines = [line for line in panels["none"].lines]
    assert len(none_lines) == 4  # train and validation loss for each of its two seeds, nothing else
    assert [len(line.get_xdata()) for line in none_lines] == [4, 4, 4, 4]
    assert [line.get_alpha() for line in none_lines] == [1.0, 1.0, 0.35, 0.35]  # seed 0 solid, others faint
    stop = panels["stop"]
    curves = [line for line in stop.lines if len(line.get_xdata()) == 3]
    best = [line for line in stop.lines if line.get_marker() == "o"]
    stopped = [line for line in stop.lines if line.get_linestyle() == ":"]
    assert len(curves) == 4 and len(best) == 2 and len(stopped) == 2
    assert all(list(line.get_xdata()) == [1] for line in best)  # the kept epoch, on the validation curve
    assert all(list(line.get_xdata()) == [2, 2] for line in stopped)  # the last epoch trained (0-based)
    labels = stop.get_legend_handles_labels()[1]
    assert labels == ["train", "validation", "best epoch (kept)", "stopped"]  # once each, not per seed


def test_terminal_table_stars_only_the_best_configuration():
    from rich.console import Console

    from shrinkage.report import render_table

    spec, results = synthetic_results()
    rows, best = summarize(spec, results)
    console = Console(record=True, width=200, color_system=None)
    render_table(rows, best, console=console)
    text = console.export_text()
    assert "★ stop" in text and text.count("★ ") == 2  # the row, and the caption that says what it means
    assert "★ best mean test accuracy (on a tie, the lower best validation loss)" in text


def test_weight_histograms_show_the_share_of_exact_zeros_of_seed_0(figures):
    spec, results = synthetic_results()
    fig = figures.plot_weight_histograms(spec, results)
    panel = next(ax for ax in fig.axes if ax.get_title().startswith("none"))
    assert panel.get_title() == "none: 2.7% exactly zero"  # seed 0: 1 zero among 37 weights
    heights = [bar.get_height() for bar in panel.patches]
    assert len(heights) == 37 and heights[-1] == pytest.approx(1 / 37)  # the red bar: the zeros
    assert heights[:36] == pytest.approx([1 / 37] * 36) and sum(heights) == pytest.approx(1.0)
    first, red = panel.patches[0], panel.patches[-1]
    assert (first.get_x(), first.get_width()) == pytest.approx((-8.0, 0.25))  # log10 |w| bins from 1e-8 up
    assert (red.get_x(), red.get_width()) == pytest.approx((-9.25, 0.5))  # left of them, over the "= 0" tick
    assert panel.get_xticks()[0] == pytest.approx(-9.0)


def test_written_report_marks_the_best_row_and_history_csv_has_every_epoch(tmp_path):
    import csv

    spec, results = synthetic_results()
    rows, best = summarize(spec, results)
    meta = {"dataset": "wine", "dataset_description": "d", "n_train": 1, "n_val": 1, "n_test": 1,
            "n_features": 13, "seconds": 1.0, "jobs": 1, "version": "test"}
    paths = write_outputs(tmp_path / "new" / "out", spec, rows, best, results, meta)  # folders made as needed
    page = paths["report"].read_text()
    assert page.count('<tr class="best">') == 1 and '<tr class="best"><td>★ stop</td>' in page
    assert page.count("★ ") == 2  # the best row and the legend under the table
    assert "2 seeds per configuration; mean ± standard deviation over seeds" in page
    saved = json.loads(paths["results"].read_text())
    assert saved["meta"] == meta and saved["best"] == "stop" and len(saved["runs"]) == 4  # no plots in it
    with open(paths["history"], newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["config", "seed", "epoch", "loss", "val_loss", "val_score", "time"]
    assert len(table) == 1 + 4 + 4 + 3 + 3
    assert table[1][:3] == ["none", "0", "0"] and table[1][5:] == ["", ""]  # absent histories stay empty
    assert float(table[2][3]) == pytest.approx(0.5) and float(table[2][4]) == pytest.approx(0.6)
    spec.seeds, spec.configurations = 1, spec.configurations[:1]
    one = write_outputs(tmp_path / "one", spec, *summarize(spec, results[:1]), results[:1], meta)["report"]
    one = one.read_text()
    assert "1 seed per configuration." in one


LOSS_STOP = ("Training stopped at epoch 2 (patience) while validation accuracy was still rising: without "
             "regularization it went on from 60.0% to 80.0% (around epoch 3) even as validation loss rose, so "
             "stopping on validation loss ended training too early")


@pytest.mark.parametrize("rule,with_accuracy_rule,expected", [
    (True, False, LOSS_STOP + "; a study file can watch validation accuracy instead: "
                              'early_stopping = {monitor = "val_score", mode = "max", patience = 20}.'),
    (True, True, LOSS_STOP + "; acc watches validation accuracy instead."),
    ({"monitor": "val_score", "mode": "max"}, False, "Training stopped at epoch 2 (patience) watching validation "
                                                     "accuracy."),
])
def test_the_early_stopping_finding_says_what_stopped_training_and_what_the_baseline_did_after(
        rule, with_accuracy_rule, expected):
    spec, results = synthetic_results()
    spec.configurations[1].params = {"early_stopping": rule}
    for r in results:
        if r["config"] == "none":  # the unregularized runs' validation accuracy kept rising after epoch 2
            r["history"]["val_score"] = [0.4, 0.5, 0.6, 0.8]
    if with_accuracy_rule:
        spec.configurations.append(Configuration("acc", {"early_stopping": {"monitor": "val_score"}}, ""))
        results += [{**r, "config": "acc"} for r in results if r["config"] == "stop"]
    rows, _ = summarize(spec, results)
    assert rows[1]["finding"].endswith(" " + expected)


@pytest.mark.parametrize("base, other, expected", [
    (0.9649, 0.9684, "raised test accuracy by 0.3 points (96.5% → 96.8%)"),  # not 0.35 shown as 0.4
    (0.9651, 0.9614, "lowered test accuracy by 0.4 points (96.5% → 96.1%)"),
    (0.9651, 0.9656, "raised test accuracy by 0.1 points (96.5% → 96.6%)"),
])
def test_an_accuracy_change_is_the_difference_of_the_figures_shown(base, other, expected):
    spec, results = synthetic_results()
    for r in results:
        r["test_accuracy"] = base if r["config"] == "none" else other  # no spread over seeds
    rows, _ = summarize(spec, results)
    assert rows[1]["finding"].startswith(f"stop: {expected};")


def test_every_default_configuration_is_a_valid_estimator_setting():
    from shrinkage.estimators import MLPClassifier
    from shrinkage._estimator_params import from_plain_values
    from shrinkage.study import DEFAULT_MODEL, default_spec

    spec = default_spec()
    assert len({c.name for c in spec.configurations}) == len(spec.configurations)
    for config in spec.configurations:
        MLPClassifier(**from_plain_values({**DEFAULT_MODEL, **config.params}))._check_params()


@pytest.mark.parametrize("histories,epochs,expected", [
    # Seed 0's accuracy rose after the stop, seed 1's did not: half of the runs is enough, averaged over those.
    ({0: [0.4, 0.5, 0.6, 0.8], 1: [0.4, 0.5, 0.7, 0.7]}, {0: 3, 1: 3}, "epoch 2 (patience) while validation "
     "accuracy was still rising: without regularization it went on from 60.0% to 80.0% (around epoch 3)"),
    # Each stopped run is read against the baseline run of its own seed, from its own stopping epoch.
    ({0: [0.4, 0.5, 0.6, 0.9], 1: [0.4, 0.5, 0.7, 0.8]}, {0: 2, 1: 3}, "epochs 1–2 (patience) while validation "
     "accuracy was still rising: without regularization it went on from 60.0% to 85.0% (around epoch 3)"),
    ({0: [0.4, 0.5, 0.6, 0.604], 1: [0.4, 0.5, 0.7, 0.7]}, {0: 3, 1: 3}, "epoch 2 (patience)."),  # under half a point
    ({0: [0.4, 0.5, 0.6], 1: [0.4, 0.5, 0.6]}, {0: 3, 1: 3}, "epoch 2 (patience)."),  # nothing after the stop
])
def test_the_early_stopping_finding_reads_each_seeds_own_baseline_after_the_stop(histories, epochs, expected):
    spec, results = synthetic_results()
    spec.configurations[1].params = {"early_stopping": True}
    for r in results:
        if r["config"] == "none":
            r["history"]["val_score"] = histories[r["seed"]]
        else:
            r["epochs"] = epochs[r["seed"]]
    rows, _ = summarize(spec, results)
    finding = rows[1]["finding"]
    assert finding[finding.index("Training stopped at ") + len("Training stopped at "):].startswith(expected)
    assert expected.endswith(")") or finding.endswith(expected)


def _with_test_examples(run, correct):
    correct = np.array(correct, dtype=bool)
    return {**run, "test_accuracy": float(correct.mean()), "n_test": correct.size,
            "test_correct": np.packbits(correct).tobytes().hex()}


def test_the_margin_of_a_difference_pairs_the_runs_on_their_test_examples_and_seeds():
    from shrinkage.study import paired_margin

    spec, results = synthetic_results()
    correct = {("none", 0): [1, 1, 0, 0], ("none", 1): [1, 0, 1, 0], ("stop", 0): [1, 1, 1, 0],
               ("stop", 1): [1, 1, 1, 0]}
    results = [_with_test_examples(r, correct[r["config"], r["seed"]]) for r in results]
    # per-example differences averaged over seeds: 0, .5, .5, 0 (variance 1/12 over 4 examples); the seeds agree
    assert paired_margin(results, "stop", "none") == pytest.approx(2 * (1 / 12 / 4) ** 0.5)
    rows, _ = summarize(spec, results)
    # the gap narrowed by 20 points, also within the margin (the gap moves with test accuracy): not said
    assert rows[1]["finding"].startswith("stop: changed test accuracy by +25.0 points, within noise (±28.9). ")
    seeds_differ = [_with_test_examples(r, [1, 1, 1, 1] if r["config"] == "stop" and r["seed"] else
                                        correct[r["config"], r["seed"]]) for r in results]
    # the examples' 0, .5, .5, .5 (variance 1/16 over 4) and, with Student's t for 1 degree of freedom (12.706),
    # the seeds' +.25 and +.50 (variance 1/32 over 2)
    assert paired_margin(seeds_differ, "stop", "none") == pytest.approx((4 / 16 / 4 + 12.7062 ** 2 / 32 / 2) ** 0.5,
                                                                        rel=1e-5)
    assert paired_margin(results[:2] + synthetic_results()[1][2:], "stop", "none") is None  # an older log


def test_a_difference_beyond_the_margin_shows_it():
    spec, results = synthetic_results()
    results = [_with_test_examples(r, [1] * 30 + [0] * 10 if r["config"] == "stop" else [1] * 20 + [0] * 20)
               for r in results]
    rows, _ = summarize(spec, results)  # 10 of 40 examples turn right on both seeds: a margin of 2 * sqrt(3/16/39)
    assert rows[1]["finding"].startswith("stop: raised test accuracy by 25.0 points (50.0% → 75.0%; ±13.9); "
                                         "narrowed the train-test gap from 25.0 to 5.0 points.")


@pytest.mark.parametrize("gaps,said", [((-0.05, -0.25), "widened the train-test gap from -5.0 to -25.0 points"),
                                       ((-0.25, -0.05), "narrowed the train-test gap from -25.0 to -5.0 points"),
                                       ((0.10, -0.15), "moved the train-test gap from 10.0 to -15.0 points")])
def test_the_gap_narrows_or_widens_by_its_size_whichever_side_test_accuracy_is_on(gaps, said):
    spec, results = synthetic_results()
    results = [{**_with_test_examples(r, [1] * 30 + [0] * 10 if r["config"] == "stop" else [1] * 20 + [0] * 20),
                "gap": gaps[r["config"] == "stop"]} for r in results]
    rows, _ = summarize(spec, results)
    assert rows[1]["finding"].startswith(f"stop: raised test accuracy by 25.0 points (50.0% → 75.0%; ±13.9); {said}.")


def test_a_run_records_which_test_examples_it_got_right(tmp_path):
    from shrinkage.study import _test_correct, margin_note

    spec = StudySpec(data="wine", model={"hidden_layer_sizes": (4,), "max_epochs": 2},
                     configurations=[Configuration("none", {"penalty": None}, ""),
                                     Configuration("l1", {"penalty": "l1", "alpha": 0.1}, "")], seeds=1)
    dataset, data = prepare_data(spec)
    results, _ = run_study(spec, data)
    for run in results:
        assert run["n_test"] == len(data[5]) and _test_correct(run).mean() == pytest.approx(run["test_accuracy"])
    rows, best = summarize(spec, results)
    meta = {"dataset": "wine", "dataset_description": "wine", "n_train": 1, "n_val": 1, "n_test": 1,
            "n_features": 13, "seconds": 1.0, "jobs": 1, "version": "test"}
    text = write_outputs(tmp_path, spec, rows, best, results, meta)["report"].read_text()
    assert ("±" in rows[1]["finding"]) == (margin_note(1).split(":")[0] in text)
    assert "With one seed it covers the test examples only" in margin_note(1) and "one seed" not in margin_note(3)


def test_runs_logged_without_their_test_examples_fall_back_to_the_seeds_spread():
    spec, results = synthetic_results()  # none: 70% and 80% over the two seeds
    for r in results:
        if r["config"] == "stop":
            r["test_accuracy"] = 0.74 + 0.04 * r["seed"]
    rows, _ = summarize(spec, results)
    assert rows[1]["finding"].startswith("stop: changed test accuracy by +1.0 points, within seed-to-seed noise "
                                         "(spread 5.4 points);")
    assert not shows_margins(rows)  # the note on ± describes the paired margin, which these runs lack


@pytest.mark.parametrize("seed_spread", [0.0, 0.3])
def test_the_margin_holds_about_95_percent_of_differences_between_equal_configurations(seed_spread):
    """Simulated studies of two configurations that differ in nothing: fixed test examples of varying
    difficulty, each run right on an example with a logistic chance of its seed's skill minus the example's
    difficulty (the seed moves skill by ``seed_spread``). A margin of two standard errors over three seeds
    (instead of Student's t) let 16% of these through with a seed spread."""
    from shrinkage.study import paired_margin

    rng = np.random.default_rng(0)
    trials, through = 300, 0
    for _ in range(trials):
        difficulty = rng.normal(0, 1.5, 500)
        runs = []
        for config in ("none", "x"):
            for seed in range(3):
                skill = 0.5 + rng.normal(0, seed_spread)
                right = rng.random(500) < 1 / (1 + np.exp(difficulty - skill))
                runs.append(_with_test_examples({"config": config, "seed": seed}, right))
        delta = np.mean([r["test_accuracy"] for r in runs[3:]]) - np.mean([r["test_accuracy"] for r in runs[:3]])
        through += abs(delta) > paired_margin(runs, "x", "none")
    assert through / trials <= 0.08


def test_the_l1_finding_says_how_many_hidden_units_its_zeros_cut_off():
    spec, results = synthetic_results()
    for r in results:
        if r["config"] == "stop":
            r.update(zero_fraction=0.3, prunable_units=0.05 + 0.02 * r["seed"])
    rows, _ = summarize(spec, results)
    assert ("set 30% of the weights exactly to zero, leaving 6% of the hidden units prunable (no nonzero "
            "incoming or outgoing weight)") in rows[1]["finding"]
    results[2]["prunable_units"] = None  # a network without hidden units, or a run from an older log
    assert "prunable" not in summarize(spec, results)[0][1]["finding"]


def test_a_resumed_study_says_what_keeps_each_logged_run_from_being_reused(tmp_path):
    from shrinkage.study import _run_keys, why_not_reused

    spec = StudySpec(data="wine", seeds=1, model={"hidden_layer_sizes": [4], "max_epochs": 3},
                     configurations=[Configuration("none", {"penalty": None}),
                                     Configuration("l2", {"penalty": "l2", "alpha": 1e-3})])
    data = (np.zeros((4, 2)), np.array([0, 1, 0, 1]))
    log = tmp_path / "runs.jsonl"
    assert why_not_reused(spec, data, log) == []  # no log
    other_alpha = replace(spec, configurations=[spec.configurations[0],
                                                Configuration("l2", {"penalty": "l2", "alpha": 1e-2})])
    other_alpha_and_epochs = replace(other_alpha, model={**spec.model, "max_epochs": 5})
    lines = [{"key": key} for s in (other_alpha, other_alpha_and_epochs) for key in _run_keys(s, data).values()]
    junk = [{"key": json.dumps({"configuration": "l2", "seed": [0]})}, {"key": 5}, {"key": "{"}, {"run": {}}]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines + junk))
    # "none" is logged as this study runs it: nothing is said of it, though a run of it with 5 epochs is
    # logged too; of the two l2 runs logged, the one with only alpha changed comes closest.
    assert why_not_reused(spec, data, log) == ["other settings of l2"]
    assert why_not_reused(replace(spec, model={**spec.model, "max_epochs": 9}), data, log) == [
        "another max_epochs", "other settings of l2"]
    assert "other data" in why_not_reused(spec, (data[0] + 1, data[1]), log)
