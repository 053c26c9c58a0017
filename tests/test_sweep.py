import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import shrinkage
from shrinkage import load
from shrinkage.cli import main
from shrinkage.datasets import load_dataset
from shrinkage.sweep import SweepError, SweepSpec, parse_param, read_results, run_sweep, summarize_sweep, tasks_of


def test_parse_param_ranges_and_lists():
    assert parse_param("alpha=1e-6:1e-1:log:6") == ("alpha", [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    assert parse_param("dropout=0:0.5:lin:3") == ("dropout", [0.0, 0.25, 0.5])
    assert parse_param("dropout=0:0.5:lin:3.0") == parse_param("dropout=0:0.5:lin:3e0")  # a whole COUNT
    assert parse_param("dropout=0,0.2,0.5") == ("dropout", [0, 0.2, 0.5])
    assert parse_param("penalty=l1,none") == ("penalty", ["l1", None])
    assert parse_param("early_stopping=true,False,null") == ("early_stopping", [True, False, None])
    assert parse_param("hidden_layer_sizes=(8,), (16, 8),[4]") == ("hidden_layer_sizes", [[8], [16, 8], [4]])
    for bad, message in [("alpha", "expects NAME=VALUES"), ("alpha=0:1:log:3", "positive ends"),
                         ("alpha=1:2:cubic:3", "START:STOP:log|lin:COUNT"),
                         ("alpha=1:2:3", "START:STOP:log|lin:COUNT"),
                         ("alpha=a:1:log:3", "--param alpha: expected a number; got 'a'"),
                         ("alpha=1e-4:1e-2:log:x", "--param alpha: expected a number; got 'x'"),
                         ("alpha=1e-4:1e-2:log:2.5", "COUNT must be a whole number >= 1; got '2.5'"),
                         ("alpha=1e-4:1e-2:log:0", "COUNT must be a whole number >= 1; got '0'"),
                         ("alpha=nan:1:lin:3", "finite ends"),
                         ("dropout=0,-x", "--param dropout: expected a number; got '-x'"),
                         ("hidden_layer_sizes=(8,", "expected a tuple of numbers such as (64, 32); got '(8,'"),
                         ("hidden_layer_sizes=(a,)", "expected a tuple of numbers such as (64, 32); got '(a,)'"),
                         ("hidden_layer_sizes=(True,)", "expected a tuple of numbers such as (64, 32)")]:
        with pytest.raises(SweepError, match=re.escape(message)):
            parse_param(bad)


def test_grid_is_the_product_of_the_lists():
    spec = SweepSpec(params={"alpha": [1e-3, 1e-2], "dropout": [0, 0.2, 0.5]}, cv=3)
    tasks = tasks_of(spec)
    assert len(spec.points()) == 6 and len(tasks) == 18 and len({key for _, _, key in tasks}) == 18


SMALL = dict(params={"alpha": [1e-4, 1e-2]}, model={"hidden_layer_sizes": (16,), "max_epochs": 15,
                                                     "penalty": "l1", "learning_rate": 0.01}, cv=3)


@pytest.fixture(scope="module")
def wine():
    ds = load_dataset("wine")
    return ds.X_train, ds.y_train


def test_resume_fits_only_what_is_missing_and_matches_an_uninterrupted_sweep(tmp_path, wine):
    X, y = wine
    spec = SweepSpec(data="wine", **SMALL)
    whole, _ = run_sweep(spec, X, y, tmp_path / "a", jobs=1)
    path = tmp_path / "b" / "sweep.jsonl"
    path.parent.mkdir()
    lines = (tmp_path / "a" / "sweep.jsonl").read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])  # two done, one half-written by a kill
    fitted = []
    resumed, interrupted = run_sweep(spec, X, y, tmp_path / "b", jobs=1, resume=True, on_result=fitted.append)
    assert not interrupted and len(fitted) == len(lines) - 2
    assert not {r["key"] for r in fitted} & {json.loads(line)["key"] for line in lines[:2]}

    def strip(results):
        return sorted((r["key"], r["score"], r["zero_fraction"]) for r in results)

    assert strip(resumed) == strip(whole) == strip(read_results(path))


def test_jobs_2_equals_jobs_1(tmp_path, wine):
    X, y = wine
    spec = SweepSpec(data="wine", **SMALL)
    one, _ = run_sweep(spec, X, y, tmp_path / "one", jobs=1)
    two, _ = run_sweep(spec, X, y, tmp_path / "two", jobs=2)
    key = lambda r: (r["key"], r["score"], r["zero_fraction"])  # noqa: E731
    assert sorted(map(key, one)) == sorted(map(key, two))


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = 0

    def handle_starttag(self, tag, attrs):
        self.images += tag == "img" and dict(attrs)["src"].startswith("data:image/png;base64,")


def test_cli_sweep_writes_results_best_model_and_report(tmp_path, capsys):
    out = tmp_path / "s"
    code = main(["sweep", "--data", "wine", "--param", "alpha=1e-4:1e-1:log:3", "--param", "dropout=0,0.2",
                 "--penalty", "l1", "--set", "hidden_layer_sizes=(16,)", "--epochs", "10", "--cv", "2",
                 "--jobs", "1", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "★" in text and "chosen: " in text and "one-standard-error" not in text
    assert len(read_results(out / "sweep.jsonl")) == 3 * 2 * 2
    assert load(out / "best.npz").coefs_[0].shape == (13, 16)
    page = (out / "sweep.html").read_text()
    tags = Tags()
    tags.feed(page)
    assert tags.images == 2 and "http" not in page


def test_cli_sweep_errors(capsys):
    assert main(["sweep", "--data", "wine", "--param", "alhpa=1,2"]) == 2
    assert "no parameter(s) ['alhpa']" in capsys.readouterr().err
    assert main(["sweep", "--data", "wine", "--param", "dropout=0,1.5"]) == 2
    assert "dropout must be a float in [0, 1); got 1.5" in capsys.readouterr().err
    for bad in ("1", "-2", "two"):
        with pytest.raises(SystemExit):
            main(["sweep", "--data", "wine", "--param", "alpha=1,2", "--cv", bad])
        assert "argument --cv: expected 0 or an integer >= 2" in capsys.readouterr().err
    # Checked before anything is loaded or printed: here the data set does not even exist.
    assert main(["sweep", "--data", "nope.csv", "--param", "alpha=1,2", "--jobs", "2",
                 "--scheduler", "tcp://127.0.0.1:1"]) == 2
    captured = capsys.readouterr()
    assert "not both" in captured.err and captured.out == ""


def test_l1_path_sparsity_rises_with_alpha(tmp_path):
    ds = load_dataset("digits")
    spec = SweepSpec(data="digits", params={"alpha": [1e-5, 1e-3, 1e-2, 1e-1]}, cv=2,
                     model={"hidden_layer_sizes": (32,), "max_epochs": 20, "penalty": "l1"})
    results, _ = run_sweep(spec, ds.X_train, ds.y_train, tmp_path, jobs=2)
    zeros = [np.mean([r["zero_fraction"] for r in results if r["point"]["alpha"] == a])
             for a in spec.params["alpha"]]
    assert zeros == sorted(zeros) and zeros[0] < 0.2 and zeros[-1] > 0.9


def test_sigint_then_resume_fits_each_point_once(tmp_path, sigint_delivered):
    import signal

    args = ["sweep", "--data", "wine", "--param", "alpha=1e-4:1e-1:log:4", "--penalty", "l1", "--set",
            "hidden_layer_sizes=(32,)", "--epochs", "150", "--cv", "2", "--jobs", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "shrinkage", *args, "--out", str(tmp_path / "i")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    while seen < 3:  # the header line, then two finished fits
        line = proc.stdout.readline()
        assert line or proc.poll() is None, proc.stderr.read()
        seen += bool(line)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "--resume" in err
    first = read_results(tmp_path / "i" / "sweep.jsonl")
    assert 2 <= len(first) < 8
    resumed = subprocess.run([sys.executable, "-m", "shrinkage", *args, "--out", str(tmp_path / "i"), "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    fitted_after = [line for line in resumed.stdout.splitlines() if " split " in line]
    assert len(fitted_after) == 8 - len(first)  # no point fitted twice
    assert main([*args, "--out", str(tmp_path / "u"), "--quiet"]) == 0

    def scores(path):
        return sorted((r["key"], r["score"], r["zero_fraction"]) for r in read_results(path))

    assert scores(tmp_path / "i" / "sweep.jsonl") == scores(tmp_path / "u" / "sweep.jsonl")


def test_warm_start_walks_each_alpha_path_from_strong_to_weak(tmp_path, wine, monkeypatch):
    import shrinkage.sweep as sweep_module

    X, y = wine
    order = []
    original = sweep_module.fit_task

    def spy(spec, point, split, X, y, start_from=None):
        order.append((point["alpha"], split, start_from is not None))
        return original(spec, point, split, X, y, start_from=start_from)

    monkeypatch.setattr(sweep_module, "fit_task", spy)
    spec = SweepSpec(data="wine", params={"alpha": [1e-4, 1e-3, 1e-2], "input_dropout": [0.0, 0.2]}, cv=2,
                     model={"hidden_layer_sizes": (), "max_epochs": 30, "penalty": "l1"}, warm_start=True)
    results, _ = run_sweep(spec, X, y, tmp_path, jobs=1)
    assert len(results) == 12 and len({r["key"] for r in results}) == 12
    for start in range(0, 12, 3):  # four paths (2 dropouts x 2 folds) of three alphas each
        path = order[start:start + 3]
        assert [a for a, _, _ in path] == [1e-2, 1e-3, 1e-4]
        assert [warm for _, _, warm in path] == [False, True, True]
        assert len({split for _, split, _ in path}) == 1
    assert all("_estimator" not in r for r in read_results(tmp_path / "sweep.jsonl"))


def test_best_point_breaks_score_ties_by_sparsity():
    spec = SweepSpec(params={"alpha": [1e-4, 1e-3, 1e-2]}, cv=2)
    score = {1e-4: 0.9, 1e-3: 0.9, 1e-2: 0.8}
    zeros = {1e-4: 0.0, 1e-3: 0.5, 1e-2: 0.9}
    results = [{"point": {"alpha": a}, "split": k, "score": score[a], "zero_fraction": zeros[a], "seconds": 0.1}
               for a in score for k in range(2)]
    assert summarize_sweep(spec, results)[1]["point"] == {"alpha": 1e-3}  # as accurate as 1e-4, and sparser


def _fold_results(points):
    """Fit results of a sweep from ``(point, [score on each fold])`` pairs."""
    return [{"point": point, "split": k, "score": score, "zero_fraction": 0.0, "seconds": 0.1}
            for point, per_fold in points for k, score in enumerate(per_fold)]


def test_the_one_standard_error_rule_takes_the_largest_alpha_within_one_standard_error_of_the_best():
    spec = SweepSpec(params={"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}, cv=3)
    results = _fold_results([({"alpha": 1e-4}, [0.90, 0.92, 0.94]), ({"alpha": 1e-3}, [0.91, 0.93, 0.95]),
                             ({"alpha": 1e-2}, [0.91, 0.92, 0.93]), ({"alpha": 1e-1}, [0.80, 0.85, 0.90])])
    rows, best = summarize_sweep(spec, results)
    assert best["point"] == {"alpha": 1e-3} and "rule" not in best
    top_se = np.std([0.91, 0.93, 0.95], ddof=1) / np.sqrt(3)  # 0.0115: the floor is 0.9185
    assert rows[1]["score_se"] == pytest.approx(top_se)
    rows, chosen = summarize_sweep(spec, results, choose="1se")
    assert chosen["point"] == {"alpha": 1e-2}  # 0.92 clears the floor; 1e-1's 0.85 does not
    assert chosen["rule"] == {"top": {"alpha": 1e-3}, "top_score": pytest.approx(0.93),
                              "floor": pytest.approx(0.93 - top_se)}


def test_the_one_standard_error_rule_walks_the_alpha_path_through_the_best_point():
    spec = SweepSpec(params={"alpha": [1e-3, 1e-2], "dropout": [0.0, 0.5]}, cv=2)
    results = _fold_results([({"alpha": 1e-3, "dropout": 0.0}, [0.90, 0.92]),  # the best point
                             ({"alpha": 1e-2, "dropout": 0.0}, [0.50, 0.52]),  # its path: far below
                             ({"alpha": 1e-3, "dropout": 0.5}, [0.88, 0.90]),
                             ({"alpha": 1e-2, "dropout": 0.5}, [0.90, 0.91])])  # within reach, on another path
    assert summarize_sweep(spec, results, choose="1se")[1]["point"] == {"alpha": 1e-3, "dropout": 0.0}


@pytest.mark.parametrize("spec,problem", [
    (SweepSpec(params={"dropout": [0.0, 0.5]}, cv=3), "--choose 1se walks the alpha path: sweep alpha"),
    (SweepSpec(params={"alpha": [1e-3, 1e-2]}, cv=None, seeds=1), "--choose 1se needs a standard error"),
])
def test_the_one_standard_error_rule_needs_an_alpha_path_and_several_splits(spec, problem):
    from shrinkage.sweep import check_choice

    with pytest.raises(SweepError, match=re.escape(problem)):
        check_choice(spec, "1se")
    check_choice(spec, "best")


def test_the_command_refuses_the_one_standard_error_rule_before_any_fit(tmp_path, capsys):
    argv = ["sweep", "--data", "wine", "--param", "alpha=1e-3,1e-2", "--cv", "0", "--choose", "1se",
            "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "--choose 1se needs a standard error" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_sweep_chosen_by_the_one_standard_error_rule_says_so(tmp_path, capsys):
    argv = ["sweep", "--data", "wine", "--param", "alpha=1e-4,1e-3,1e-2", "--epochs", "3", "--cv", "2", "--jobs",
            "1", "--choose", "1se", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Chosen by the one-standard-error rule: the largest alpha scoring at least" in out
    assert "validation acc % (± std over splits)" in out
    rows = [json.loads(line) for line in (tmp_path / "sweep.jsonl").read_text().splitlines()]
    scores = {}
    for row in rows:
        scores.setdefault(row["point"]["alpha"], []).append(row["score"])
    top = max(scores.values(), key=np.mean)
    se = np.std(top, ddof=1) / np.sqrt(len(top))
    assert f"one standard error ({100 * se:.1f} points: the std over splits / sqrt(n - 1))" in out
    report = (tmp_path / "sweep.html").read_text()
    assert "Chosen by the one-standard-error rule" in report and report.count("★") == 1


def test_a_new_sweep_does_not_overwrite_an_earlier_one(tmp_path, capsys):
    argv = ["sweep", "--data", "wine", "--param", "alpha=1e-3,1e-2", "--epochs", "2", "--cv", "2", "--jobs", "1",
            "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    before = (tmp_path / "sweep.jsonl").read_text()
    assert main(argv) == 2
    assert "holds 4 fit(s) of an earlier sweep; continue it with --resume" in capsys.readouterr().err
    assert (tmp_path / "sweep.jsonl").read_text() == before
    assert main(argv + ["--resume"]) == 0


def test_resume_reuses_only_fits_of_the_same_data_and_model(tmp_path, capsys):
    def sweep(*extra, alphas="1e-3,1e-2"):
        return main(["sweep", "--param", f"alpha={alphas}", "--epochs", "2", "--cv", "2", "--jobs", "1",
                     "--out", str(tmp_path), *extra])

    assert sweep("--data", "wine", "--quiet") == 0
    before = (tmp_path / "sweep.jsonl").read_text()
    for other, differs in [(["--data", "breast_cancer"], "data differs"), (["--data", "wine", "--epochs", "3"],
                                                                           "model differs"),
                           (["--data", "wine", "--cv", "3"], "cv differs")]:
        assert sweep(*other, "--resume", "--quiet") == 2  # these fits would be reported as the new sweep's
        assert f"holds fits made with other settings ({differs})" in capsys.readouterr().err
        assert (tmp_path / "sweep.jsonl").read_text() == before
    with pytest.MonkeyPatch.context() as patch:  # another version may train differently
        patch.setattr(shrinkage, "__version__", "9.9")
        assert sweep("--data", "wine", "--resume", "--quiet") == 2
    assert (f"(version differs, made by shrinkage {shrinkage.__version__}; this is 9.9)"
            in capsys.readouterr().err)
    lines = before.splitlines()  # written by a version that did not record settings: cannot be checked
    (tmp_path / "sweep.jsonl").write_text("".join(json.dumps({k: v for k, v in json.loads(line).items()
                                                              if k != "setting"}) + "\n" for line in lines))
    assert sweep("--data", "wine", "--resume", "--quiet") == 2
    assert "from an earlier version of shrinkage, which did not record" in capsys.readouterr().err
    (tmp_path / "sweep.jsonl").write_text(before)
    # The same data and model with one more point: only its fits run.
    assert sweep("--data", "wine", "--resume", alphas="1e-3,1e-2,1e-1") == 0
    assert capsys.readouterr().out.count(" split ") == 2 and len(read_results(tmp_path / "sweep.jsonl")) == 6


def test_a_bad_scheduler_address_is_one_line(tmp_path, capsys):
    assert main(["sweep", "--data", "wine", "--param", "alpha=1e-3", "--scheduler", "no-port-here",
                 "--out", str(tmp_path)]) == 2
    assert "--scheduler no-port-here: cannot connect to a Dask scheduler" in capsys.readouterr().err


def test_plots_of_values_that_are_not_numbers_keep_the_order_given(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shrinkage import report
    from shrinkage.sweep import plot_param

    monkeypatch.setattr(report, "png_base64", lambda fig, trim=True: fig)  # the figure itself, to look into
    spec = SweepSpec(params={"max_norm": [None, 3, 1], "penalty": ["l1", None]})
    rows = [{"point": point, "score": 0.5 + 0.1 * i, "score_std": 0.0, "zero_fraction": 0.0, "n": 1}
            for i, point in enumerate(spec.points())]
    best = rows[-1]  # max_norm=1, penalty=None
    for name, ticks, chosen in (("max_norm", ["None", "3", "1"], 2), ("penalty", ["l1", "None"], 1)):
        ax = plot_param(spec, rows, best, name).axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == ticks
        curves = [line for line in ax.lines if line.get_marker() == "o"]
        assert all(list(line.get_xdata()) == list(range(len(ticks))) for line in curves)
        star = next(line for line in ax.lines if line.get_marker() == "*")
        assert list(star.get_xdata()) == [chosen]
    numeric = SweepSpec(params={"alpha": [1e-4, 1e-2, 1.0]})
    rows = [{"point": p, "score": 0.5, "score_std": 0.0, "zero_fraction": 0.0, "n": 1} for p in numeric.points()]
    ax = plot_param(numeric, rows, rows[0], "alpha").axes[0]
    assert ax.get_xscale() == "log" and list(ax.lines[0].get_xdata()) == [1e-4, 1e-2, 1.0]
    plt.close("all")


def test_a_sweep_over_layer_sizes_runs_reports_and_resumes(tmp_path, capsys):
    args = ["sweep", "--data", "wine", "--param", "hidden_layer_sizes=(4,),(8,4)", "--param", "alpha=1e-4,1e-2",
            "--epochs", "3", "--cv", "2", "--jobs", "1", "--out", str(tmp_path / "s")]
    assert main(args) == 0
    assert "hidden_layer_sizes=[8, 4], alpha=0.01" in capsys.readouterr().out
    assert [W.shape[1] for W in load(tmp_path / "s" / "best.npz").coefs_][:-1] in ([4], [8, 4])
    assert main(args + ["--resume"]) == 0  # the logged points (JSON lists) are found again
    assert len(read_results(tmp_path / "s" / "sweep.jsonl")) == 2 * 2 * 2


def test_a_parameter_given_by_a_flag_and_by_set_is_refused(tmp_path, capsys):
    base = ["sweep", "--data", "wine", "--param", "alpha=1e-4,1e-2", "--out", str(tmp_path / "s")]
    for extra, name in ((["--epochs", "4", "--set", "max_epochs=3"], "max_epochs"),
                        (["--penalty", "l1", "--set", "penalty='l2'"], "penalty")):
        assert main(base + extra) == 2
        assert f"{name}: given both as a flag and with --set" in capsys.readouterr().err


def test_run_sweep_checks_its_folds_against_the_classes(tmp_path):
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.r_[np.zeros(19, int), np.ones(19, int), np.full(2, 2)]
    spec = SweepSpec(data="rare", params={"alpha": [1e-3]}, model={"hidden_layer_sizes": (4,), "max_epochs": 1},
                     cv=3)
    with pytest.warns(UserWarning, match=r"--cv 3: class 2 of rare has fewer training rows than folds \(as few "
                                         r"as 2\), so some validation folds lack it") as caught:
        run_sweep(spec, X, y, tmp_path / "a", jobs=1)
    assert len([w for w in caught if "fewer training rows than folds" in str(w.message)]) == 1  # not per fit
    assert not [w for w in caught if "least populated" in str(w.message)]  # scikit-learn's, said better above
    with pytest.raises(SweepError, match=r"--cv 20: more folds than the training rows of any class of rare "
                                         r"\(at most 19\)"):
        run_sweep(SweepSpec(**{**vars(spec), "cv": 20}), X, y, tmp_path / "b", jobs=1)
    assert not (tmp_path / "b").exists()  # refused before anything is written
