import json
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import shrinkage as package
from shrinkage import load
from shrinkage._runlog import read_lines
from shrinkage.cli import main
from shrinkage.datasets import load_dataset, read_features, standardize
from shrinkage.serialization import load_with_preprocessing


def shrinkage(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "shrinkage", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_help_lists_every_command():
    out = shrinkage("--help")
    assert out.returncode == 0
    for command in ("study", "train", "sweep", "predict", "datasets"):
        assert command in out.stdout
        sub = shrinkage(command, "--help")
        assert sub.returncode == 0 and "usage: shrinkage " + command in sub.stdout


def test_reduced_default_study_end_to_end(tmp_path):
    out = shrinkage("study", "--epochs", "2", "--seeds", "1", "--jobs", "1", "--out", str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    for name in ("none", "l2", "l1", "elasticnet", "weight_decay", "dropout", "dropout_maxnorm",
                 "early_stopping", "early_stopping_acc", "dropout_l2"):
        assert name in out.stdout
    assert "★" in out.stdout and "test acc" in out.stdout
    table = [line for line in out.stdout.splitlines() if line.startswith("│")]
    assert "(1 seed," in out.stdout and table and not any("±" in line for line in table)  # one run: no spread
    for file in ("report.html", "results.json", "history.csv"):
        assert (tmp_path / "o" / file).stat().st_size > 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert len(results["runs"]) == 10 and results["meta"]["dataset"] == "mnist1d"
    assert len((tmp_path / "o" / "history.csv").read_text().splitlines()) == 1 + 10 * 2


def test_quiet_prints_nothing(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text('data = "wine"\nseeds = 1\n[model]\nhidden_layer_sizes = [8]\nmax_epochs = 2\n'
                      '[[configuration]]\nname = "none"\npenalty = "none"\n')
    out = shrinkage("study", "--config", str(config), "--quiet", "--jobs", "1", "--out", str(tmp_path / "o"))
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""


SMALL_STUDY = """
data = "digits"
seeds = 2
[model]
hidden_layer_sizes = [32]
max_epochs = 6
batch_size = 64
[[configuration]]
name = "none"
penalty = "none"
[[configuration]]
name = "l1"
penalty = "l1"
alpha = 1e-3
[[configuration]]
name = "dropout"
penalty = "none"
dropout = 0.3
"""


def strip_times(results):
    runs = results["runs"]
    for r in runs:
        r.pop("seconds")
        r["history"].pop("time")
    return runs


def test_study_file_class_weight_keys_name_integer_labels(tmp_path, capsys):
    config = tmp_path / "s.toml"  # TOML keys are strings; wine's labels are the integers 0, 1, 2
    config.write_text('data = "wine"\nseeds = 1\n[model]\nhidden_layer_sizes = [8]\nmax_epochs = 3\n'
                      '[[configuration]]\nname = "none"\npenalty = "none"\n'
                      '[[configuration]]\nname = "weighted"\npenalty = "none"\nclass_weight = {"1" = 3.0}\n')
    assert main(["study", "--config", str(config), "--jobs", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    runs = {r["config"]: r for r in json.loads((tmp_path / "o" / "results.json").read_text())["runs"]}
    assert runs["weighted"]["history"]["loss"] != runs["none"]["history"]["loss"]  # the weights took effect
    config.write_text(config.read_text().replace('{"1" = 3.0}', '{"7" = 3.0}'))  # no such label: one line
    assert main(["study", "--config", str(config), "--jobs", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert ("configuration 'weighted' cannot be trained on this data: class_weight has labels that are not "
            "classes") in capsys.readouterr().err


def test_jobs_2_gives_the_same_numbers_as_jobs_1(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text(SMALL_STUDY)
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        assert main(["study", "--config", str(config), "--jobs", jobs, "--out", str(out), "--quiet"]) == 0
        runs[jobs] = strip_times(json.loads((out / "results.json").read_text()))
    assert runs["1"] == runs["2"]


def test_a_study_file_reads_a_data_file_beside_it_from_any_working_folder(tmp_path, monkeypatch):
    from shrinkage.study import spec_from_toml

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "data.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    config = tmp_path / "project" / "study.toml"
    config.write_text('data = "data.csv"\n')
    monkeypatch.chdir(tmp_path)
    spec = spec_from_toml("project/study.toml")
    assert spec.data == str(Path("project") / "data.csv") and load_dataset(spec.data).n_features == 2
    config.write_text('data = "wine"\n')  # a built-in name stays a name
    assert spec_from_toml(config).data == "wine"


def test_study_file_errors_name_the_problem(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text('[[configuration]]\nname = "x"\ndropuot = 0.5\n')
    assert main(["study", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) ['dropuot'] (did you mean 'dropout'?)" in err and str(config) in err
    config.write_text('seed = 2\n')
    assert main(["study", "--config", str(config), "--quiet"]) == 2
    assert "unknown key(s) ['seed'] (did you mean 'seeds'?); expected" in capsys.readouterr().err
    config.write_text('[[configuration]]\nname = "x"\ndropout = 1.5\n')
    assert main(["study", "--config", str(config), "--quiet"]) == 2
    assert "dropout must be a float in [0, 1); got 1.5" in capsys.readouterr().err
    config.write_bytes(b"PK\x03\x04\xa4\xff binary, as a model file passed by mistake")
    assert main(["study", "--config", str(config), "--quiet"]) == 2
    assert "not a study file: it is not UTF-8 text (TOML)" in capsys.readouterr().err


def test_a_study_file_fails_before_training_on_a_model_setting_a_configuration_leaves_unused(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text('data = "wine"\n[model]\nalpha = 1e-4\n[[configuration]]\nname = "l1"\npenalty = "l1"\n'
                      '[[configuration]]\nname = "plain"\npenalty = "none"\n')
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert ("configuration 'plain' over [model]: alpha=0.0001 is only used with penalty='l2', 'l1' or "
            "'elasticnet'; got penalty=None") in err
    assert not (tmp_path / "o").exists()  # nothing trained
    config.write_text('[model]\nalpha = 1e-4\n')  # the built-in configurations include penalty = none
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "configuration 'none' over [model]: alpha=0.0001" in capsys.readouterr().err
    config.write_text('[model]\nvalidation_fraction = 0.3\n')
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "validation_fraction is the study's own setting; give it at the top of the file" in capsys.readouterr().err


def test_a_study_file_gives_an_early_stopping_rule_as_a_table(tmp_path, capsys):
    config = tmp_path / "s.toml"
    rule = 'early_stopping = {monitor = "val_score", mode = "max", patience = 1}'
    config.write_text(SMALL_STUDY.replace('dropout = 0.3', 'dropout = 0.3\n' + rule).replace("max_epochs = 6",
                                                                                               "max_epochs = 40"))
    assert main(["study", "--config", str(config), "--jobs", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    runs = json.loads((tmp_path / "o" / "results.json").read_text())["runs"]
    stopped = [r for r in runs if r["config"] == "dropout"]
    assert all(r["stop_reason"] == "patience" and r["epochs"] < 40 for r in stopped)
    for bad, problem in [('{monitr = "val_score"}', "unexpected keyword argument 'monitr'"),
                         ('{monitor = "val_score"}', "val_score is better when higher: use mode='max'")]:
        config.write_text(SMALL_STUDY.replace('dropout = 0.3', 'dropout = 0.3\nearly_stopping = ' + bad))
        assert main(["study", "--config", str(config), "--out", str(tmp_path / "p"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert problem in err and str(config) in err


@pytest.mark.parametrize("setting,problem", [
    ("data = 5", "data must be a string; got 5"),
    ('data = ["wine"]', "data must be a string; got ['wine']"),
    ("target = 3", "target must be None or a string; got 3"),
    ("seeds = true", "seeds must be an int >= 1; got True"),
    ("seeds = 0", "seeds must be an int >= 1; got 0"),
    ("validation_fraction = 1.5", "validation_fraction must be a float in (0, 1); got 1.5"),
    ('validation_fraction = "x"', "validation_fraction must be a float in (0, 1); got 'x'"),
    ("validation_fraction = 0", "validation_fraction must be a float in (0, 1); got 0"),
])
def test_study_file_top_level_settings_are_checked(tmp_path, capsys, setting, problem):
    config = tmp_path / "s.toml"
    config.write_text(setting + "\n")
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == f"shrinkage study: error: {config}: {problem}"


def test_study_validation_split_that_the_data_cannot_give_is_one_line(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text('data = "wine"\nvalidation_fraction = 0.999\n')
    assert main(["study", "--config", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shrinkage study: error: validation_fraction=0.999 cannot hold out a stratified "
                          "validation split of wine's 89 training rows") and err.count("\n") == 1


def test_bad_data_file_exits_2_with_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,y\n1,2,0\n3,4,0\n")
    out = shrinkage("study", "--data", str(path), "--out", str(tmp_path / "o"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and str(path) in out.stderr and "only one class" in out.stderr


def test_train_then_predict_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)) * [1, 10, 100, 0.1] + 5
    y = np.where(X[:, 0] + X[:, 1] / 10 > 5.5, "yes", "no")
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,c,d,label\n" + "".join(f"{','.join(map(str, r))},{t}\n" for r, t in zip(X, y)))
    model = tmp_path / "m.npz"
    assert main(["train", "--data", str(csv), "--hidden", "16", "--max-epochs", "30", "--random-state", "0",
                 "--penalty", "l1", "--alpha", "1e-4", "--set", "dropout=0.1", "--save", str(model),
                 "--quiet"]) == 0
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), "--data", str(csv), "--out", str(out)]) == 0
    predicted = out.read_text().split()[1:]
    # the model in memory, trained the same way
    from shrinkage import MLPClassifier

    ds = load_dataset(str(csv))
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_epochs=30, random_state=0, penalty="l1", alpha=1e-4,
                        dropout=0.1).fit(ds.X_train, ds.y_train)
    raw, _ = read_features(str(csv), 4)
    expected = clf.predict(standardize(raw, ds.mean, ds.scale))
    assert predicted == list(expected)
    loaded = load(model)
    np.testing.assert_array_equal(loaded.coefs_[0], clf.coefs_[0])


def test_predict_reads_a_csv_models_columns_by_name(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1, 10, 100]
    y = np.where(X[:, 0] > 0, "yes", "no")
    train = tmp_path / "train.csv"
    train.write_text("a,b,c,label\n" + "".join(f"{','.join(map(str, r))},{t}\n" for r, t in zip(X, y)))
    model = tmp_path / "m.npz"
    assert main(["train", "--data", str(train), "--hidden", "8", "--max-epochs", "20", "--random-state", "0",
                 "--save", str(model), "--quiet"]) == 0
    capsys.readouterr()  # the training's own messages
    assert load_with_preprocessing(model)[1]["columns"] == ["a", "b", "c"]
    shuffled = tmp_path / "shuffled.csv"  # the features in another order, the label first
    shuffled.write_text("label,c,a,b\n" + "".join(f"{t},{r[2]},{r[0]},{r[1]}\n" for r, t in zip(X, y)))
    outputs = []
    for data in (train, shuffled):
        assert main(["predict", str(model), "--data", str(data)]) == 0
        out, err = capsys.readouterr()
        outputs.append(out)
        assert err.startswith("accuracy ") and "on 200 labelled rows" in err  # the label found beside them
    assert outputs[0] == outputs[1]
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("a,b,d\n1,2,3\n")
    assert main(["predict", str(model), "--data", str(lacking)]) == 2
    assert "lacks ['c'], of the 3 columns the model was trained on" in capsys.readouterr().err
    assert main(["predict", str(model), "--data", str(shuffled), "--target", "a"]) == 2
    assert "the label column 'a' is one of the columns the model reads as features" in capsys.readouterr().err
    sweep = tmp_path / "sweep"  # the sweep's refitted best point keeps them too
    assert main(["sweep", "--data", str(train), "--param", "alpha=1e-4,1e-3", "--set", "hidden_layer_sizes=(4,)",
                 "--epochs", "3", "--cv", "2", "--jobs", "1", "--quiet", "--out", str(sweep)]) == 0
    assert load_with_preprocessing(sweep / "best.npz")[1]["columns"] == ["a", "b", "c"]


def test_predict_on_builtin_test_split_and_stdout(tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert main(["train", "--data", "wine", "--model", "linear", "--max-epochs", "20", "--save", str(model)]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["predict", str(model), "--data", "wine"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "prediction" and len(captured.out.splitlines()) == 90
    assert "accuracy" in captured.err


def test_predict_writes_probabilities_and_monte_carlo_averages(tmp_path, capsys):
    model, plain_model = tmp_path / "m.npz", tmp_path / "plain.npz"
    common = ["train", "--data", "wine", "--hidden", "16", "--max-epochs", "20", "--quiet", "--save"]
    assert main(common + [str(model), "--dropout", "0.3"]) == 0 and main(common + [str(plain_model)]) == 0

    def table(*extra):
        assert main(["predict", str(model), "--data", "wine", *extra]) == 0
        lines = capsys.readouterr().out.splitlines()
        return lines[0].split(","), [line.split(",") for line in lines[1:]]

    header, rows = table("--proba")
    assert header == ["prediction", "p(0)", "p(1)", "p(2)"] and len(rows) == 89
    proba = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert [r[0] for r in rows] == [str(c) for c in proba.argmax(axis=1)]
    _, mc_rows = table("--proba", "--mc-samples", "20")
    assert table("--proba", "--mc-samples", "20")[1] == mc_rows != rows  # seeded: the same draws every time
    assert main(["predict", str(plain_model), "--data", "wine", "--mc-samples", "5"]) == 2
    assert "needs dropout: this model has none" in capsys.readouterr().err
    hinge = tmp_path / "hinge.npz"
    assert main(["train", "--data", "wine", "--model", "linear", "--set", "loss=hinge", "--max-epochs", "2",
                 "--quiet", "--save", str(hinge)]) == 0
    assert main(["predict", str(hinge), "--data", "wine", "--proba"]) == 2
    assert "holds a LinearClassifier with the hinge loss" in capsys.readouterr().err


def test_set_reads_values_as_python_json_or_toml_spell_them():
    from shrinkage.cli import _parse_set

    assert _parse_set(["early_stopping=true", "shuffle=False", "class_weight=none", "max_norm=null",
                       "hidden_layer_sizes=64,32", "alpha=1e-3", "optimizer=adam"]) == {
        "early_stopping": True, "shuffle": False, "class_weight": None, "max_norm": None,
        "hidden_layer_sizes": (64, 32), "alpha": 1e-3, "optimizer": "adam"}
    assert _parse_set(["class_weight={0: 2.0}"]) == {"class_weight": {0: 2.0}}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_predict_writes_a_column_per_output_of_a_regressor(tmp_path, capsys):
    from shrinkage import MLPRegressor, save

    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_epochs=2, random_state=0).fit(X, np.c_[X.sum(1), X[:, 0]])
    save(reg, tmp_path / "r.npz")
    np.savez(tmp_path / "x.npz", X=X)
    assert main(["predict", str(tmp_path / "r.npz"), "--data", str(tmp_path / "x.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction_0,prediction_1"
    np.testing.assert_allclose([[float(v) for v in line.split(",")] for line in lines[1:]], reg.predict(X),
                               rtol=1e-6)


def test_predict_scores_a_regressor_on_the_files_targets(tmp_path, capsys):
    from sklearn.metrics import mean_squared_error, r2_score

    from shrinkage import MLPRegressor, save

    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    Y = np.c_[X.sum(1), X[:, 0]]
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_epochs=2, random_state=0).fit(X, Y)
    save(reg, tmp_path / "r.npz")
    np.savez(tmp_path / "xy.npz", X=X, y=Y)
    assert main(["predict", str(tmp_path / "r.npz"), "--data", str(tmp_path / "xy.npz")]) == 0
    pred = reg.predict(X)
    assert capsys.readouterr().err == (f"R² {r2_score(Y, pred):.4f}, RMSE {np.sqrt(mean_squared_error(Y, pred)):.4g} "
                                       "on 40 labelled rows\n")
    # A CSV's target column, with a missing value left out; one output, so the two-output model is not scored
    one = MLPRegressor(hidden_layer_sizes=(4,), max_epochs=2, random_state=0).fit(X, Y[:, 0])
    save(one, tmp_path / "one.npz")
    rows = [",".join(f"{v:g}" for v in x) + "," + (f"{t:g}" if i else "") for i, (x, t) in enumerate(zip(X, Y[:, 0]))]
    (tmp_path / "xy.csv").write_text("a,b,c,t\n" + "\n".join(rows) + "\n")
    assert main(["predict", str(tmp_path / "one.npz"), "--data", str(tmp_path / "xy.csv")]) == 0
    assert capsys.readouterr().err.endswith("on 39 labelled rows\n")
    assert main(["predict", str(tmp_path / "r.npz"), "--data", str(tmp_path / "xy.csv")]) == 0
    assert capsys.readouterr().err == ""


def test_a_closed_pipe_ends_predict_quietly(tmp_path):
    model = tmp_path / "m.npz"
    assert main(["train", "--data", "digits", "--model", "linear", "--max-epochs", "1", "--quiet",
                 "--save", str(model)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "shrinkage", "predict", str(model), "--data", "digits", "--proba"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout.readline().startswith("prediction,")
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1 and "Traceback" not in err and "Error" not in err


def test_sweep_folds_against_small_classes_and_its_opening_count(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.r_[np.zeros(30, int), np.ones(27, int), np.full(3, 2)]  # class 2: 2 training rows after the split
    data = tmp_path / "rare.csv"
    data.write_text("a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, y)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["sweep", "--data", str(data), "--param", "alpha=1e-4,1e-3", "--cv", "3", "--epochs", "1",
                     "--jobs", "1", "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert not [w for w in caught if "least populated" in str(w.message)]  # scikit-learn's, once per fit
    err = capsys.readouterr().err
    assert err.count("warning: --cv 3: class 2 of ") == 1
    assert "has fewer training rows than folds (as few as 2), so some validation folds lack it" in err
    assert main(["sweep", "--data", str(data), "--param", "alpha=1e-3", "--cv", "2", "--epochs", "1", "--jobs", "1",
                 "--out", str(tmp_path / "one")]) == 0
    assert "shrinkage sweep: 1 point x 2 splits = 2 fits on " in capsys.readouterr().out
    tiny = tmp_path / "tiny.csv"  # 12 training rows, 4 of each class: 5 folds were a traceback
    tiny.write_text("a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{i % 3}\n" for i, r in enumerate(X[:15])))
    assert main(["sweep", "--data", str(tiny), "--param", "alpha=1e-3", "--cv", "5", "--jobs", "1",
                 "--out", str(tmp_path / "t")]) == 2
    assert "--cv 5: more folds than the training rows of any class of" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,problem",
    [
        (["train", "--data", "wine", "--model", "linear", "--hidden", "32"],
         "LinearClassifier has no parameter(s) ['hidden_layer_sizes']: a linear model has no hidden layers"),
        (["train", "--data", "wine", "--model", "linear", "--set", "dropout=0.5"],  # not "did you mean dropout_mode"
         "LinearClassifier has no parameter(s) ['dropout']: a linear model has no hidden units to drop "
         "(input_dropout drops its inputs)"),
        (["train", "--data", "wine", "--set", "dropuot=0.1", "--set", "zzz=1"],
         "MLPClassifier has no parameter(s) ['dropuot', 'zzz'] (did you mean 'dropout'?)"),
        (["train", "--data", "wine", "--alpha", "-1"], "alpha must be a float in [0, inf); got -1.0"),
        (["predict", "no-such-model.npz", "--data", "wine"], "no-such-model.npz"),
        (["train", "--data", "wine", "--set", "class_weight={7: 3.0}"],  # refused by the data, not the settings
         "class_weight has labels that are not classes ([0, 1, 2]): [7]"),
        (["sweep", "--data", "wine", "--param", "alpha=1e-3", "--cv", "2", "--jobs", "1", "--out", "{tmp}",
          "--set", "class_weight={7: 3.0}"], "alpha=0.001 cannot be fitted on this data: class_weight has labels"),
        # A parameter given twice, one value silently winning, is refused.
        (["train", "--data", "wine", "--alpha", "1e-3", "--set", "alpha=1e-2"],
         "alpha: given both as a flag and with --set; give each parameter once"),
        (["train", "--data", "wine", "--early-stopping", "--set", "early_stopping=false"],
         "early_stopping: given both as a flag and with --set"),
        (["train", "--data", "wine", "--set", "dropout=0.1", "--set", "dropout=0.2"],
         "--set dropout given more than once"),
        (["sweep", "--data", "wine", "--param", "alpha=1e-3", "--param", "alpha=1e-2"],
         "--param alpha given more than once; list all its values in one --param"),
        (["sweep", "--data", "wine", "--param", "alpha=1e-3", "--set", "alpha=1e-2"],
         "alpha: both swept (--param) and fixed (--set, --penalty or --epochs); give each parameter one way"),
        (["sweep", "--data", "wine", "--param", "penalty=l1,l2", "--penalty", "l2"], "penalty: both swept"),
        (["sweep", "--data", "wine", "--param", "max_epochs=3", "--epochs", "4"], "max_epochs: both swept"),
        (["sweep", "--data", "wine", "--param", "alpha=1e-3", "--cv", "100", "--out", "{tmp}"],
         "--cv 100: more folds than the training rows of any class of wine (at most 36); use fewer folds"),
    ],
)
def test_command_errors(capsys, tmp_path, argv, problem):
    assert main([str(tmp_path / "out") if a == "{tmp}" else a for a in argv]) == 2
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag,value,problem",
    [
        ("--alpha", "abc", "argument --alpha: expected a number; got 'abc'"),
        ("--hidden", "3,x", "argument --hidden: expected comma-separated integers; got '3,x'"),
        ("--batch-size", "big", "argument --batch-size: expected an integer or auto; got 'big'"),
        ("--max-epochs", "2.5", "argument --max-epochs: expected an integer; got '2.5'"),
    ],
)
def test_train_flag_values_that_do_not_parse_exit_2_naming_the_flag(capsys, flag, value, problem):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "wine", flag, value])
    assert info.value.code == 2 and problem in capsys.readouterr().err


def test_train_penalty_none_reaches_the_estimator(tmp_path):
    model = tmp_path / "m.npz"
    assert main(["train", "--data", "wine", "--penalty", "none", "--hidden", "", "--max-epochs", "2",
                 "--batch-size", "auto", "--quiet", "--save", str(model)]) == 0
    est = load(model)
    assert est.penalty is None and est.hidden_layer_sizes == () and est.batch_size == "auto"


def test_train_and_sweep_say_when_the_model_learned_nothing(tmp_path, capsys):
    said = (r"shrinkage {}: warning: MLPClassifier ended with a training loss of [\d.]+, no lower than predicting the "
            r"class frequencies gives \(1\.085\): it has learned nothing from X\..*the penalty \(alpha=100(\.0)?\)\.\n")
    assert main(["train", "--data", "wine", "--alpha", "100", "--max-epochs", "20", "--set", "random_state=0",
                 "--quiet"]) == 0
    assert re.fullmatch(said.format("train"), capsys.readouterr().err)
    assert main(["sweep", "--data", "wine", "--param", "alpha=100", "--set", "max_epochs=3", "--cv", "2",
                 "--out", str(tmp_path / "sweep"), "--quiet"]) == 0  # the refit of the chosen point
    assert re.fullmatch(said.format("sweep"), capsys.readouterr().err)


def test_train_prints_each_warning_as_the_command_once(tmp_path, capsys):
    assert main(["train", "--data", "wine", "--optimizer", "sgd", "--learning-rate", "1e8", "--max-epochs", "3",
                 "--random-state", "0", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("shrinkage train: warning: MLPClassifier diverged (loss ") and err.count("\n") == 1
    rng = np.random.default_rng(0)
    data = tmp_path / "rare.csv"  # class 2: 3 training rows, all held out by a 90% validation split
    data.write_text("a,b,y\n" + "".join(f"{a},{b},{t}\n" for (a, b), t in
                                        zip(rng.normal(size=(44, 2)), np.r_[np.zeros(20, int), np.ones(20, int),
                                                                            np.full(4, 2)])))
    assert main(["train", "--data", str(data), "--early-stopping", "--set", "validation_fraction=0.9",
                 "--max-epochs", "2", "--random-state", "0", "--quiet"]) == 0
    assert "shrinkage train: warning: validation_fraction=0.9 held out every sample of classes [2]" in (
        capsys.readouterr().err)


def test_sweep_logs_a_diverged_fit_instead_of_warning_from_the_worker(tmp_path, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["sweep", "--data", "wine", "--param", "learning_rate=1e8", "--set", "optimizer=sgd", "--cv", "2",
                     "--epochs", "3", "--jobs", "1", "--out", str(tmp_path / "s")]) == 0
    assert not [w for w in caught if "diverged" in str(w.message)]  # a worker's would print as file:line
    out = capsys.readouterr().out
    assert re.search(r"learning_rate=1e\+08 split 0: score [\d.]+, 0\.0% zeros, [\d.]+s, diverged\n", out)


def test_train_reports_the_exact_zeros_of_l1(tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert main(["train", "--data", "digits", "--hidden", "16", "--penalty", "l1", "--alpha", "1e-3",
                 "--max-epochs", "10", "--random-state", "0", "--save", str(model)]) == 0
    zeros = float(re.search(r", ([\d.]+)% of the weights exactly zero", capsys.readouterr().out).group(1))
    coefs = load(model).coefs_
    assert zeros > 0 and zeros == round(100 * np.mean(np.concatenate([W.ravel() for W in coefs]) == 0), 1)
    assert main(["train", "--data", "digits", "--hidden", "16", "--max-epochs", "2"]) == 0
    assert "exactly zero" not in capsys.readouterr().out  # no zeros, no mention


def test_datasets_command(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "mnist1d" in out and "4000" in out and "breast_cancer" in out
    assert "UTF-8, comma-separated, a header row" in out and "Files are split 80/20, stratified" in out


def test_train_checkpoint_and_resume(tmp_path):
    ck, m1, m2 = tmp_path / "ck.npz", tmp_path / "a.npz", tmp_path / "b.npz"
    common = ["train", "--data", "wine", "--hidden", "8", "--max-epochs", "15", "--random-state", "1", "--quiet"]
    assert main(common + ["--checkpoint", str(ck), "--save", str(m1)]) == 0
    assert ck.exists()
    assert main(common + ["--checkpoint", str(ck), "--resume", "--save", str(m2)]) == 0  # already finished
    np.testing.assert_array_equal(load(m1).coefs_[0], load(m2).coefs_[0])
    assert main(["train", "--data", "wine", "--resume"]) == 2
    longer = [arg if arg != "15" else "25" for arg in common]
    assert main(longer + ["--checkpoint", str(ck), "--resume", "--save", str(m2)]) == 0  # trains on
    assert main(longer + ["--save", str(m1)]) == 0
    assert load(m2).n_epochs_ == 25
    np.testing.assert_array_equal(load(m1).coefs_[0], load(m2).coefs_[0])


def test_study_sigint_writes_the_finished_runs_and_exits_130(tmp_path, sigint_delivered):
    import signal

    config = tmp_path / "s.toml"
    config.write_text(SMALL_STUDY.replace("max_epochs = 6", "max_epochs = 300"))
    proc = subprocess.Popen([sys.executable, "-m", "shrinkage", "study", "--config", str(config), "--jobs", "1",
                             "--out", str(tmp_path / "o")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not proc.stdout.readline().startswith("[2/"):
        assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; wrote the 2 finished run(s)" in err and "--resume" in err and "Traceback" not in err
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert len(results["runs"]) == 2 and (tmp_path / "o" / "report.html").exists()
    assert len((tmp_path / "o" / "runs.jsonl").read_text().splitlines()) == 2


def test_ctrl_c_while_the_report_is_written_keeps_the_runs(tmp_path, capsys, monkeypatch):
    import shrinkage.report

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(shrinkage.report, "write_outputs", interrupted)
    config = tmp_path / "s.toml"
    config.write_text(SMALL_STUDY)
    assert main(["study", "--config", str(config), "--jobs", "1", "--out", str(tmp_path), "--quiet"]) == 130
    assert "interrupted while writing the report; the runs are in" in capsys.readouterr().err
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 6


def test_study_resume_trains_only_the_missing_runs_and_matches_an_uninterrupted_study(tmp_path, capsys,
                                                                                     monkeypatch):
    config = tmp_path / "s.toml"
    config.write_text(SMALL_STUDY)
    study = ["study", "--config", str(config), "--jobs", "1"]
    assert main(study + ["--out", str(tmp_path / "whole"), "--quiet"]) == 0
    whole = strip_times(json.loads((tmp_path / "whole" / "results.json").read_text()))
    log = tmp_path / "cut" / "runs.jsonl"
    log.parent.mkdir()
    lines = (tmp_path / "whole" / "runs.jsonl").read_text().splitlines()
    log.write_text("\n".join(lines[:2]) + "\n" + lines[2][:50])  # two runs, then a line cut by a kill
    capsys.readouterr()
    assert main(study + ["--out", str(log.parent), "--resume"]) == 0
    out = capsys.readouterr().out
    n_runs = len(lines)
    assert f"2 of {n_runs} runs already in" in out and out.count(f"/{n_runs - 2}] ") == n_runs - 2
    assert strip_times(json.loads((log.parent / "results.json").read_text())) == whole
    assert len(read_lines(log)) == n_runs
    assert len(log.read_text().splitlines()) == n_runs + 1  # the cut line was ended, not joined to the next
    # Other settings reuse nothing: every run trains again, after the earlier ones, which stay; it says why.
    assert main(study + ["--out", str(log.parent), "--resume", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"/{n_runs}] " in out and f"runs in {log} made with another max_epochs are not reused" in out
    assert len(read_lines(log)) == 2 * n_runs
    assert main(study + ["--out", str(log.parent), "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"{n_runs} of {n_runs} runs already in {log}; writing the report" in out and "not reused" not in out
    monkeypatch.setattr(package, "__version__", "9.9")  # so does another version, which may train differently
    assert main(study + ["--out", str(log.parent), "--resume", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"/{n_runs}] " in out and "made with another shrinkage version are not reused" in out


def test_study_run_again_without_resume_keeps_the_earlier_runs_in_the_log(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text(SMALL_STUDY.replace("max_epochs = 6", "max_epochs = 2"))
    study = ["study", "--config", str(config), "--jobs", "1", "--out", str(tmp_path / "o")]
    assert main(study) == 0
    log = tmp_path / "o" / "runs.jsonl"
    first = log.read_text()
    capsys.readouterr()
    assert main(study) == 0
    out = capsys.readouterr().out
    assert f"6 of 6 runs with these settings are already in {log}; training them again" in out
    assert "/6] " in out
    assert log.read_text().startswith(first) and len(read_lines(log)) == 12


@pytest.mark.parametrize(
    "argv,problem",
    [
        (["study", "--data", "wine", "--out", "{file}"], "--out {file}: exists and is not a folder"),
        (["sweep", "--data", "wine", "--param", "alpha=1,2", "--out", "{file}/sub"], "is not a folder"),
        (["train", "--data", "wine", "--save", "{tmp}/missing/m.npz"], "the folder {tmp}/missing does not exist"),
        (["train", "--data", "wine", "--save", "{tmp}"], "--save {tmp}: is a folder; give a file path"),
        (["train", "--data", "wine", "--save", ""], "--save needs a file path; got an empty one"),
        (["train", "--data", "wine", "--checkpoint", "{tmp}"], "--checkpoint {tmp}: is a folder"),
        (["predict", "{model}", "--data", "wine", "--out", "{tmp}/missing/p.csv"], "does not exist"),
        (["predict", "{model}", "--data", "digits"], "expects 13 features; the built-in data set digits has 64"),
    ],
)
def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path, capsys, argv, problem):
    afile, model = tmp_path / "afile", tmp_path / "wine.npz"
    afile.write_text("x")
    assert main(["train", "--data", "wine", "--max-epochs", "1", "--quiet", "--save", str(model)]) == 0
    names = {"file": afile, "tmp": tmp_path, "model": model}
    started = time.perf_counter()
    assert main([a.format(**names) for a in argv]) == 2
    assert problem.format(**names) in capsys.readouterr().err and time.perf_counter() - started < 5


def test_set_gives_an_early_stopping_rule_as_a_table_to_train_and_sweep(tmp_path, capsys):
    from shrinkage import EarlyStopping

    rule = 'early_stopping={"monitor": "val_score", "mode": "max", "patience": 2}'
    expected = EarlyStopping(monitor="val_score", mode="max", patience=2).get_config()
    assert main(["train", "--data", "wine", "--hidden", "8", "--set", rule, "--save", str(tmp_path / "m.npz"),
                 "--quiet"]) == 0
    assert load(tmp_path / "m.npz").early_stopping.get_config() == expected
    assert main(["sweep", "--data", "wine", "--param", "alpha=1e-4,1e-2", "--set", rule, "--set", "max_epochs=20",
                 "--cv", "2", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    assert load(tmp_path / "s" / "best.npz").early_stopping.get_config() == expected  # the refit has it too
    assert main(["train", "--data", "wine", "--set", 'early_stopping={"monitr": 1}']) == 2
    assert "early_stopping = {'monitr': 1}: " in capsys.readouterr().err


def test_predict_accuracy_matches_labels_by_value_and_says_when_it_has_none(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)  # classes 0, 1, 2

    def write(name, labels):
        path = tmp_path / name
        path.write_text("a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(X, labels)))
        return str(path)

    model = str(tmp_path / "m.npz")
    assert main(["train", "--data", write("int.csv", y), "--hidden", "8", "--max-epochs", "20",
                 "--random-state", "0", "--save", model, "--quiet"]) == 0
    capsys.readouterr()

    def accuracy_line(data):
        assert main(["predict", model, "--data", data, "--out", str(tmp_path / "p.csv")]) == 0
        return capsys.readouterr().err.strip()

    as_ints = accuracy_line(write("int.csv", y))
    assert re.fullmatch(r"accuracy 0\.\d{4} on 120 labelled rows", as_ints)
    assert accuracy_line(write("float.csv", y.astype(float))) == as_ints  # "1.0" is the class 1
    assert accuracy_line(write("names.csv", np.array(["x", "y", "z"])[y])) == (
        "no accuracy: no row's label (x, y, z) is a class of the model (0, 1, 2)")
    some_unseen = np.where(np.arange(120) < 10, 7, y)
    assert re.fullmatch(r"accuracy 0\.\d{4} on 120 labelled rows \(10 of them with labels the model never "
                        r"saw: 7\)", accuracy_line(write("unseen.csv", some_unseen)))
    some_empty = np.where(np.arange(120) < 10, "", y.astype(str))  # rows without a label do not count
    assert re.fullmatch(r"accuracy 0\.\d{4} on 110 labelled rows", accuracy_line(write("empty.csv", some_empty)))
    assert accuracy_line(write("none.csv", np.full(120, ""))) == ""
    some_text = np.where(np.arange(120) < 10, "unknown", y.astype(str))  # the rest still read as numbers
    assert accuracy_line(write("text.csv", some_text)) == accuracy_line(write("unseen.csv", some_unseen)).replace(
        "saw: 7", "saw: unknown")
