"""The public classes document every parameter and every outcome a user can see."""

import inspect
import re

import pytest

from shrinkage import EarlyStopping, LinearClassifier, MLPClassifier, MLPRegressor
from shrinkage.early_stopping import _CRITERIA
from shrinkage.penalties import L1, L2, ElasticNet

PUBLIC_CLASSES = [MLPClassifier, MLPRegressor, LinearClassifier, EarlyStopping, L1, L2, ElasticNet]


def _documented_names(doc):
    """Names at the start of a numpydoc entry: ``name : ...`` or ``a, b, c : ...``."""
    names = set()
    for match in re.finditer(r"^\s*([\w, ]+?)\s*:", doc, re.M):
        names.update(part.strip() for part in match.group(1).split(","))
    return names


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda c: c.__name__)
def test_every_constructor_parameter_is_documented(cls):
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    doc = inspect.getdoc(cls)
    documented = _documented_names(doc)
    missing = [p for p in params if p not in documented and f"``{p}``" not in doc]
    assert not missing, f"{cls.__name__} does not document {missing}"


@pytest.mark.parametrize("cls", [L1, L2, ElasticNet])
@pytest.mark.parametrize("method", ["value", "grad", "prox"])
def test_penalty_methods_are_documented(cls, method):
    assert inspect.getdoc(getattr(cls, method))


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor, LinearClassifier])
def test_stop_reasons_in_the_docstring_are_the_ones_training_gives(cls):
    lines = inspect.getdoc(cls).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("stop_reason_ :"))
    entry = [lines[start]]
    for line in lines[start + 1:]:
        if line and not line[0].isspace():  # the next attribute
            break
        entry.append(line)
    reasons = set(re.findall(r'``"([\w-]+)"``', "\n".join(entry)))
    assert reasons == {"max_epochs", "diverged", "interrupted", "callback", *_CRITERIA}


def test_the_readme_study_file_is_a_valid_study_file(tmp_path):
    from pathlib import Path

    from shrinkage.study import spec_from_toml

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "study.toml").write_text(block)
    spec = spec_from_toml(tmp_path / "study.toml")  # every parameter checked, as `shrinkage study` does
    assert [c.name for c in spec.configurations] == ["none", "dropout", "stop_on_accuracy"]
