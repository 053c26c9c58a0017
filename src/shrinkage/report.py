"""The study's outputs: terminal table, report.html, results.json, history.csv.

report.html is one self-contained file: inline CSS, plots as embedded PNG
(base64 data URIs), no script and no external URL. Every string that comes
from the user (data path, configuration names, descriptions) is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

import numpy as np

from .study import HIST_EDGES, METRICS, margin_note, shows_margins

__all__ = ["write_outputs", "render_table", "format_row", "mean_and_spread", "png_base64", "CSS"]


def mean_and_spread(mean, std, n_runs, scale=1.0, digits=1):
    """``"mean ± std"``, or the mean alone from a single run (which measures no spread)."""
    text = f"{scale * mean:.{digits}f}"
    return text if n_runs < 2 else f"{text} ± {scale * std:.{digits}f}"


def format_row(row):
    """The table's cells for one configuration, as strings."""
    n = row["n_runs"]

    def pct(stat):
        return mean_and_spread(stat["mean"], stat["std"], n, scale=100)

    return [
        row["config"],
        pct(row["test_accuracy"]),
        pct(row["train_accuracy"]),
        pct(row["gap"]),
        mean_and_spread(row["best_val_loss"]["mean"], row["best_val_loss"]["std"], n, digits=3),
        pct(row["zero_fraction"]) + "%" if row["zero_fraction"]["mean"] else "0.0%",  # seeds differ widely
        f"{row['epochs']['mean']:.0f}",
        f"{row['seconds']['mean']:.1f}s",
    ]


COLUMNS = ["configuration", "test acc %", "train acc %", "gap (points)", "best val loss",
           "zero weights", "epochs", "time/run"]


BEST_MARK = "★ best mean test accuracy (on a tie, the lower best validation loss)"


def render_table(rows, best, console=None, title=None):
    """Print the comparison table with rich; the best configuration is marked with ★, said below it."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=BEST_MARK)
    for i, col in enumerate(COLUMNS):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        cells = format_row(row)
        if row["config"] == best:
            cells[0] = f"★ {cells[0]}"
        table.add_row(*cells, style="bold green" if row["config"] == best else None)
    (console or Console()).print(table)


# --------------------------------------------------------------------- plots


def png_base64(fig, trim=True):
    """``fig`` as base64 PNG text, then closed. ``trim``: crop to what is drawn (a legend outside the axes
    included), which draws the figure twice; a figure laid out by ``tight_layout`` needs no crop (for the
    study's grids, half of the report's time)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight" if trim else None)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _grid(n, sharey=False):
    import matplotlib.pyplot as plt

    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat


def plot_accuracy(rows, best):
    import matplotlib.pyplot as plt

    names = [r["config"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 3.6))
    test = [100 * r["test_accuracy"]["mean"] for r in rows]
    colors = ["tab:green" if n == best else "tab:blue" for n in names]
    ax.bar(x, test, yerr=[100 * r["test_accuracy"]["std"] for r in rows], capsize=4, color=colors,
           label="test (mean ± std over seeds)")
    ax.plot(x, [100 * r["train_accuracy"]["mean"] for r in rows], "k_", markersize=18, label="train")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    low = min(test) - 10
    ax.set_ylim(max(0, low), 101)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title("Test accuracy per configuration")
    return png_base64(fig)


def plot_learning_curves(spec, results):
    from matplotlib.ticker import MaxNLocator

    fig, axes = _grid(len(spec.configurations), sharey=True)  # one scale: the panels compare at a glance
    for ax, config in zip(axes, spec.configurations):
        runs = [r for r in results if r["config"] == config.name]
        for i, r in enumerate(runs):
            alpha = 1.0 if i == 0 else 0.35
            ax.plot(r["history"]["loss"], color="tab:blue", alpha=alpha, lw=1, label="train" if i == 0 else None)
            ax.plot(r["history"]["val_loss"], color="tab:red", alpha=alpha, lw=1,
                    label="validation" if i == 0 else None)
            if r["best_epoch"] is not None:  # early stopping: the epoch whose weights the model keeps
                ax.plot(r["best_epoch"], r["history"]["val_loss"][r["best_epoch"]], "o", color="tab:red",
                        alpha=alpha, ms=4, label="best epoch (kept)" if i == 0 else None)
                if r["stop_reason"] != "max_epochs":
                    ax.axvline(r["epochs"] - 1, color="gray", ls=":", lw=1, label="stopped" if i == 0 else None)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(config.name, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(which="both", labelsize=7)
        ax.legend(fontsize=7)
    _plain_log_labels(axes[0])
    fig.suptitle("Training loss (with penalty) and validation loss; seed 0 solid, other seeds faint", fontsize=10)
    fig.tight_layout()
    return png_base64(fig, trim=False)


def _plain_log_labels(ax):
    """Label a log y axis 0.5, 0.1, 0.01 rather than 5x10^-1: every minor tick when it spans less than
    a decade, the 2s and 5s when less than two, none beyond."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    low, high = ax.get_ylim()
    shown = range(1, 10) if high < 10 * low else (2, 5) if high < 100 * low else ()

    def minor(value, _):
        return f"{value:g}" if round(value / 10 ** np.floor(np.log10(value))) in shown else ""

    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor) if shown else NullFormatter())


def plot_weight_histograms(spec, results):
    fig, axes = _grid(len(spec.configurations))
    centers = (HIST_EDGES[:-1] + HIST_EDGES[1:]) / 2
    width = HIST_EDGES[1] - HIST_EDGES[0]
    for ax, config in zip(axes, spec.configurations):
        hist = next(r for r in results if r["config"] == config.name)["weight_histogram"]
        total = hist["zeros"] + sum(hist["counts"])
        ax.bar(centers, np.array(hist["counts"]) / total, width=width, color="tab:blue")
        ax.bar([HIST_EDGES[0] - 1.0], [hist["zeros"] / total], width=width * 2, color="tab:red")
        ax.set_xticks([HIST_EDGES[0] - 1.0, -6, -4, -2, 0], ["= 0", "1e-6", "1e-4", "0.01", "1"], fontsize=7)
        ax.set_title(f"{config.name}: {100 * hist['zeros'] / total:.1f}% exactly zero", fontsize=10)
        ax.tick_params(labelsize=7)
    fig.suptitle("|weight| distribution (seed 0); red bar: weights exactly zero", fontsize=10)
    fig.tight_layout()
    return png_base64(fig, trim=False)


# ---------------------------------------------------------------------- html

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.best { background: #e6f4ea; font-weight: bold; }
img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 3px; }
"""


def render_html(spec, rows, best, results, meta):
    e = html.escape
    header_cells = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = []
    for row in rows:
        cells = format_row(row)
        mark = "★ " if row["config"] == best else ""
        tds = f"<td>{mark}{e(cells[0])}</td>" + "".join(f"<td>{e(c)}</td>" for c in cells[1:])
        cls = ' class="best"' if row["config"] == best else ""
        body.append(f"<tr{cls}>{tds}</tr>")
    findings = "".join(f"<li>{e(row['finding'])}</li>" for row in rows)
    margin = f"<p>{e(margin_note(spec.seeds))}</p>" if shows_margins(rows) else ""
    configs = "".join(
        f"<li><code>{e(c.name)}</code>: {e(c.description)} <code>{e(json.dumps(c.params))}</code></li>"
        for c in spec.configurations
    )
    model = e(json.dumps(spec.to_dict()["model"]))
    spread = ("1 seed per configuration" if spec.seeds == 1
              else f"{spec.seeds} seeds per configuration; mean ± standard deviation over seeds")
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>shrinkage study: {e(spec.data)}</title><style>{CSS}</style></head>
<body>
<h1>What each regularizer did on {e(meta['dataset'])}</h1>
<p>{e(meta['dataset_description'])}: {meta['n_train']} training, {meta['n_val']} validation and
{meta['n_test']} test examples, {meta['n_features']} features. Model: <code>{model}</code>.
{spread}. Total time {meta['seconds']:.0f} s.</p>
<h2>Results</h2>
<table><tr>{header_cells}</tr>{''.join(body)}</table>
<p>{BEST_MARK}. The gap is train accuracy minus
test accuracy. Best validation loss is the lowest data loss on the validation split over the epochs run.</p>
<h2>What each configuration did</h2>
<ul>{findings}</ul>
{margin}
<h2>Test accuracy</h2>
<img alt="test accuracy per configuration" src="data:image/png;base64,{meta['plots']['accuracy']}">
<h2>Learning curves</h2>
<img alt="training and validation loss per configuration" src="data:image/png;base64,{meta['plots']['curves']}">
<h2>Weight magnitudes</h2>
<img alt="histograms of weight magnitudes" src="data:image/png;base64,{meta['plots']['weights']}">
<h2>Configurations</h2>
<ul>{configs}</ul>
<p>Generated by shrinkage {e(meta['version'])}. The numbers behind this page are in results.json and history.csv.</p>
</body>
</html>
"""


def write_outputs(out_dir, spec, rows, best, results, meta):
    """Write report.html, results.json and history.csv into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta["plots"] = {
        "accuracy": plot_accuracy(rows, best),
        "curves": plot_learning_curves(spec, results),
        "weights": plot_weight_histograms(spec, results),
    }
    paths = {"report": out / "report.html", "results": out / "results.json", "history": out / "history.csv"}
    paths["report"].write_text(render_html(spec, rows, best, results, meta), encoding="utf-8")
    public_meta = {k: v for k, v in meta.items() if k != "plots"}
    payload = {"meta": public_meta, "spec": spec.to_dict(), "best": best, "summary": rows, "runs": results,
               "weight_histogram_edges_log10": HIST_EDGES.tolist(), "metrics": list(METRICS)}
    paths["results"].write_text(json.dumps(payload, indent=1), encoding="utf-8")
    with open(paths["history"], "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        keys = ["loss", "val_loss", "val_score", "time"]
        writer.writerow(["config", "seed", "epoch", *keys])
        for r in results:
            h = r["history"]
            for epoch in range(len(h["loss"])):
                writer.writerow([r["config"], r["seed"], epoch, *(h.get(k, [None] * (epoch + 1))[epoch] for k in keys)])
    return paths
