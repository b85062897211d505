"""Files on disk: saved models (``model.pt`` + ``registry.json``) and resumable training checkpoints.

Every file carries a ``format`` tag and a ``format_version``; a file that cannot be read, is not a prismtools
file, or was written in a newer format is refused with a :class:`CheckpointError` that says which.
Writes are atomic (a temporary file renamed into place), so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import torch

#: Bump when the layout of model.pt / registry.json / training checkpoints changes incompatibly.
FORMAT_VERSION = 1
MODEL_FORMAT = "prismtools.tl.Prism"
CHECKPOINT_FORMAT = "prismtools.tl.Prism/training-checkpoint"
MODEL_FILE = "model.pt"
REGISTRY_FILE = "registry.json"
LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(ValueError):
    """A saved model or checkpoint is unreadable, foreign, or from an incompatible format version."""


def _version() -> str:
    from .. import __version__

    return __version__


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_format(obj, path: Path, expected: str) -> dict:
    if not isinstance(obj, dict) or obj.get("format") != expected:
        raise CheckpointError(f"{str(path)!r} is not a {expected} file.")
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{str(path)!r} has format version {version!r} (written by prismtools {obj.get('prismtools_version')}); "
            f"this prismtools ({_version()}) reads format version {FORMAT_VERSION}. "
            "Install the prismtools version that wrote it, or retrain."
        )
    return obj


def torch_load(path: str | os.PathLike, expected: str, map_location="cpu") -> dict:
    """Load a prismtools torch file, turning every failure into a clear :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No file at {str(path)!r}.")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, bad pickle, foreign object...
        raise CheckpointError(
            f"Could not read {str(path)!r}: the file is corrupt or truncated, or not a prismtools file "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})."
        ) from err
    return _check_format(obj, path, expected)


def save_model(directory: str | os.PathLike, *, state_dict: dict, config: dict, history: dict, registry: dict) -> None:
    """Write ``model.pt`` (weights, network config, history) and ``registry.json`` into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    head = {"format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "prismtools_version": _version()}
    atomic_torch_save(
        {**head, "config": dict(config), "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
         "history": history},
        d / MODEL_FILE,
    )
    atomic_write_text(json.dumps({**head, **registry}, indent=2, default=_json_default), d / REGISTRY_FILE)


def _json_default(x):
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def load_model(directory: str | os.PathLike) -> tuple[dict, dict]:
    """Read a directory written by :func:`save_model`; return ``(model_pt, registry)``."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(
            f"No saved model at {str(d)!r} (expected a directory with {MODEL_FILE} and {REGISTRY_FILE})."
        )
    reg_path = d / REGISTRY_FILE
    if not reg_path.is_file():
        raise FileNotFoundError(f"{str(d)!r} has no {REGISTRY_FILE}; it is not a saved prismtools model.")
    try:
        registry = json.loads(reg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"Could not read {str(reg_path)!r}: corrupt JSON ({err}).") from err
    registry = _check_format(registry, reg_path, MODEL_FORMAT)
    model = torch_load(d / MODEL_FILE, MODEL_FORMAT)
    for key in ("config", "state_dict"):
        if key not in model:
            raise CheckpointError(f"{str(d / MODEL_FILE)!r} lacks {key!r}; the file is incomplete.")
    return model, registry


def save_training_checkpoint(path: str | os.PathLike, state: dict) -> None:
    atomic_torch_save(
        {"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "prismtools_version": _version(), **state},
        path,
    )


def load_training_checkpoint(path: str | os.PathLike) -> dict:
    return torch_load(path, CHECKPOINT_FORMAT)
