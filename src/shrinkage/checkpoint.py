"""Training checkpoints: a tree of plain values and arrays in one ``.npz``, written atomically.

:func:`write_checkpoint` flattens a tree of dicts, lists, numbers, strings,
``None`` and NumPy arrays into a JSON header plus one ``.npz`` entry per array,
writes it to a temporary file in the same folder, flushes it to disk, then
renames it over ``path``: a reader (or a process killed mid-write) sees the old
checkpoint or the new one, never half of one. :func:`read_checkpoint` reads it
back through :func:`read_npz`, which model files share.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["write_checkpoint", "read_checkpoint", "CheckpointError", "atomic_write_npz", "read_npz",
           "check_output_file", "check_output_dir"]

FORMAT = "shrinkage-checkpoint"
VERSION = 1
MAX_MEMBERS = 1000  # arrays in one file we write: far more than any model or checkpoint holds


class CheckpointError(ValueError):
    """A checkpoint that cannot be used to resume this fit."""


def _flatten(node, arrays):
    if isinstance(node, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = node
        return {"__array__": key}
    if isinstance(node, dict):
        return {str(k): _flatten(v, arrays) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_flatten(v, arrays) for v in node]
    if isinstance(node, np.generic):
        return node.item()
    return node


def _unflatten(node, arrays):
    if isinstance(node, dict):
        if set(node) == {"__array__"}:
            return arrays[node["__array__"]]
        return {k: _unflatten(v, arrays) for k, v in node.items()}
    if isinstance(node, list):
        return [_unflatten(v, arrays) for v in node]
    return node


def check_output_dir(path, name):
    """Refuse (ValueError naming ``name``), before any work, an output folder that cannot be made: a file
    in its place or on its way."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {path}: exists and is not a folder")
    _check_writable_ancestor(path, name)


def check_output_file(path, name):
    """Refuse (ValueError naming ``name``), before any work, a file that could not be written at the end:
    no name, a folder in its place, or a folder that does not exist."""
    if not path:
        raise ValueError(f"{name} needs a file path; got an empty one")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name} {path}: is a folder; give a file path")
    if not path.parent.is_dir():
        raise ValueError(f"{name} {path}: the folder {path.parent} does not exist")
    _check_writable_ancestor(path, name)


def _check_writable_ancestor(path, name):
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        raise ValueError(f"{name} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path}: no permission to write in {existing}")


def atomic_write_npz(path, arrays):
    """Write ``arrays`` as an .npz at ``path`` through a temporary file, fsync and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_npz(path, error, what):
    """Every array of the ``.npz`` at ``path``, by name, or ``error`` (an exception class) saying why not.

    Members are read through ``zipfile`` (which checks each one's CRC) and
    ``numpy.lib.format.read_array`` with ``allow_pickle=False`` on the member's
    bytes: a damaged or foreign file cannot run code, and a damaged size field
    cannot make us allocate more than the file holds. ``what`` names the file
    in messages ("checkpoint").
    """
    try:
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS or any(m.file_size > size for m in members):
                raise error(f"{path}: not a {what} (implausible archive layout)")
            arrays = {}
            for member in members:
                data = archive.read(member)
                arrays[member.filename.removesuffix(".npy")] = np.lib.format.read_array(io.BytesIO(data),
                                                                                          allow_pickle=False)
            return arrays
    except error:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc})") from None
    except Exception as exc:  # zip, CRC, .npy header, pickle refusal: all mean a damaged or foreign file
        raise error(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from None


def write_checkpoint(path, tree):
    arrays = {}
    header = {"format": FORMAT, "version": VERSION, "tree": _flatten(tree, arrays)}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return atomic_write_npz(path, arrays)


def read_checkpoint(path):
    arrays = read_npz(path, CheckpointError, "checkpoint")
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
    except Exception as exc:  # no header, or not JSON
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a shrinkage checkpoint of version {VERSION}")
    return _unflatten(header["tree"], arrays)
