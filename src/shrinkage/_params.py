"""Declarative parameter checks with one message template.

Each estimator keeps a table ``{name: [constraint, ...]}``; a value passes when
any constraint accepts it. A failure raises ``ValueError`` (``TypeError`` for a
wrong type) naming the parameter, what was expected and what was received::

    dropout must be a float in [0, 1); got 1.0
"""

from __future__ import annotations

import difflib
import numbers

import numpy as np

__all__ = ["Interval", "AtLeast", "Options", "Boolean", "NoneOK", "IntTuple", "DType", "WeightDict",
           "validate_params", "KEYWORDS", "is_number", "unknown_names"]

# Values as a command line, JSON or TOML spells them (any case): --set early_stopping=true, --param penalty=l1,none
KEYWORDS = {"true": True, "false": False, "none": None, "null": None}


def is_number(v, kind=float):
    """Whether ``v`` is an integer (``kind=int``) or a real number (``kind=float``), and not a bool (True is
    an int to Python, but never a number a user means)."""
    return isinstance(v, numbers.Integral if kind is int else numbers.Real) and not isinstance(v, (bool, np.bool_))


class Interval:
    """A real (``kind=float``) or integer (``kind=int``) in a range.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``.
    """

    def __init__(self, kind, low, high, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, v):
        if not is_number(v, self.kind):
            return False
        if not np.isfinite(v) and not (self.high is None and v == np.inf and self.closed in ("both", "right")):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def describe(self):
        name = "an int" if self.kind is int else "a float"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        fmt = "d" if self.kind is int else "g"
        lo = "-inf" if self.low is None else format(self.low, fmt)
        hi = "inf" if self.high is None else format(self.high, fmt)
        return f"{name} in {left}{lo}, {hi}{right}"


class AtLeast:
    """A finite int (``kind=int``) or real number (``kind=float``) >= ``low`` (unbounded when None)."""

    def __init__(self, kind, low=None):
        self.kind, self.low = kind, low

    def accepts(self, v):
        if not is_number(v, self.kind):
            return False
        return bool(np.isfinite(v)) and (self.low is None or v >= self.low)

    def describe(self):
        noun = "an int" if self.kind is int else "a finite number"
        return noun if self.low is None else f"{noun} >= {self.low:g}"


class Options:
    def __init__(self, *values):
        self.values = values

    def accepts(self, v):
        return isinstance(v, str) and v in self.values

    def describe(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class Boolean:
    def accepts(self, v):
        return isinstance(v, (bool, np.bool_))

    def describe(self):
        return "a bool"


class NoneOK:
    def accepts(self, v):
        return v is None

    def describe(self):
        return "None"


class IntTuple:
    """A tuple or list of positive ints (``hidden_layer_sizes``); an int means one layer."""

    def accepts(self, v):
        if is_number(v, int):
            return v >= 1
        return isinstance(v, (tuple, list)) and all(is_number(n, int) and n >= 1 for n in v)

    def describe(self):
        return "a tuple of ints >= 1"


class DType:
    """``"float32"``/``"float64"`` or the NumPy types themselves."""

    def accepts(self, v):
        try:
            return np.dtype(v) in (np.float32, np.float64)
        except TypeError:
            return False

    def describe(self):
        return "'float32' or 'float64'"


class WeightDict:
    """A dict of ``label: weight`` with finite weights >= 0 (``class_weight``)."""

    def accepts(self, v):
        return isinstance(v, dict) and all(AtLeast(float, 0).accepts(w) for w in v.values())

    def describe(self):
        return "a dict of label: weight >= 0"


class Instance:
    """An instance of one of ``types``; ``description`` replaces "a T or U instance" in messages."""

    def __init__(self, *types, description=None):
        self.types, self.description = types, description

    def accepts(self, v):
        return isinstance(v, self.types)

    def describe(self):
        return self.description or "a " + " or ".join(t.__name__ for t in self.types) + " instance"


def validate_params(params, table):
    """Check every entry of ``params`` that ``table`` names; raise on the first failure."""
    for name, constraints in table.items():
        value = params[name]
        if any(c.accepts(value) for c in constraints):
            continue
        expected = " or ".join(c.describe() for c in constraints)
        raise ValueError(f"{name} must be {expected}; got {value!r}")


def list_some(names, limit=5):
    """Up to ``limit`` of ``names``, comma-separated, and how many more."""
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def brief_list(values, limit=10):
    """``values`` as a Python list literal, cut as :func:`list_some` cuts: a message about 1,000 classes
    stays one line."""
    return f"[{list_some([repr(v) for v in values], limit)}]"


def unknown_names(names, known):
    """``names`` sorted, for an error message, with the known name each one is a likely typo of:
    ``['max_epoch'] (did you mean 'max_epochs'?)``."""
    names = sorted(names)
    close = [match[0] for name in names if (match := difflib.get_close_matches(name, sorted(known), n=1))]
    return f"{names} (did you mean {', '.join(map(repr, close))}?)" if close else f"{names}"
