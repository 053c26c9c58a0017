import base64
import re
from html.parser import HTMLParser

import pytest

from shrinkage.report import format_row, mean_and_spread, write_outputs
from shrinkage.study import Configuration, StudySpec, prepare_data, run_study, summarize

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
