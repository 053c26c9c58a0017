"""Logs of finished work (sweep fits, study runs): one JSON object per line, appended as each finishes,
so an interrupted command continues where it stopped.

Every line records the ``setting`` it was computed under (the data's hash, the
fixed model settings and shrinkage's version); a resumed command reuses only
lines of its own setting, so results of other data, another model or another
version's numerics are never mixed in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

__all__ = ["read_lines", "open_for_append", "data_id", "differences", "code_version"]


def read_lines(path):
    """The objects in the JSON-lines file ``path`` (none if it does not exist); a line half-written by a
    kill is skipped."""
    objects = []
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return objects


def open_for_append(path):
    """``path`` opened to append lines; a last line cut short by a kill is ended first, so that it
    stays one unreadable line (skipped by :func:`read_lines`) instead of spoiling the next."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")
    handle.seek(0, 2)
    if handle.tell():
        handle.seek(-1, 2)
        cut_short = handle.read(1) != b"\n"
        handle.seek(0, 2)
        if cut_short:
            handle.write(b"\n")
    return handle


def data_id(*arrays):
    """A short hash of the arrays' shapes and contents (labels of any type): the same data, the same id."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":  # strings or objects: hash the text, not object pointers
            array = array.astype(str)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def code_version():
    """The running shrinkage's version, which every log line records: another version may train differently."""
    from . import __version__  # imported here: the package imports this module before it sets its version

    return __version__


def differences(setting, other):
    """The names of the entries in which two settings differ, compared as JSON stores them (a tuple
    equals the list it is read back as), sorted; ``other`` may be None (a line that records none)."""
    setting, other = json.loads(json.dumps(setting)), other or {}
    return sorted(k for k in set(setting) | set(other) if setting.get(k) != other.get(k))
