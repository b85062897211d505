"""Files on disk: saved models (``model.pt`` + ``registry.json``) and resumable training checkpoints.

Every file carries a ``format`` tag and a ``format_version``; a file that cannot be read, is not a prismtools
file, or was written in a newer format is refused with a :class:`CheckpointError` that says which.
Writes are atomic (a temporary file renamed into place), so an interrupted save never leaves a torn file.

Every torch file also carries ``content_sha256``: a SHA-256 over its whole content (every tensor's dtype, shape
and bytes, every other value's type and text), recomputed on load. ``torch.load`` does not check the CRCs of
the zip records it reads, so without this a bit flip inside a weight loads silently and predicts NaN.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import logging

import torch

from ..io._atomic import atomic_path

logger = logging.getLogger(__name__)

#: Bump when the layout of model.pt / registry.json / training checkpoints changes incompatibly.
FORMAT_VERSION = 1
MODEL_FORMAT = "prismtools.tl.Prism"
CHECKPOINT_FORMAT = "prismtools.tl.Prism/training-checkpoint"
MODEL_FILE = "model.pt"
REGISTRY_FILE = "registry.json"
LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(ValueError):
    """A saved model or checkpoint is unreadable, foreign, corrupted, or from an incompatible format version.

    Examples
    --------
    >>> import pathlib
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", d_model=8, n_layers=1)
    >>> model.fit(max_steps=3, batch_size=8, warmup_steps=1, progress=False)
    >>> model.save("ckpt_model")
    >>> _ = pathlib.Path("ckpt_model", "model.pt").write_bytes(b"truncated")
    >>> try:
    ...     pt.tl.Prism.load("ckpt_model")
    ... except pt.tl.CheckpointError as err:
    ...     print(type(err).__name__, isinstance(err, ValueError))
    CheckpointError True
    """


def _version() -> str:
    from .. import __version__

    return __version__


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a hidden temporary sibling, then moved to ``path`` (never a half-written file)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` to a hidden temporary sibling, then move it to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


HASH_KEY = "content_sha256"


def _feed(h, obj) -> None:
    """Feed a nested structure of dicts, sequences, tensors and scalars into the hash ``h`` deterministically."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"S{type(obj).__name__}:{obj!r}".encode())


def content_hash(obj: dict) -> str:
    """SHA-256 (hex) of a checkpoint dict's content, leaving out its own ``content_sha256`` entry."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != HASH_KEY})
    return h.hexdigest()


def _with_hash(obj: dict) -> dict:
    return {**obj, HASH_KEY: content_hash(obj)}


def _verify_hash(obj: dict, path: Path) -> None:
    stored = obj.get(HASH_KEY)
    if stored is None:  # written before prismtools recorded hashes: readable, but nothing to check against
        logger.warning("%s carries no content hash (written by an older prismtools); loading it unverified.", path)
        return
    if content_hash(obj) != stored:
        raise CheckpointError(
            f"{str(path)!r} fails its content hash check (SHA-256): its bytes were corrupted after it was written. "
            "Use another copy (for a training checkpoint, best.pt or a fresh fit)."
        )


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
    obj = _check_format(obj, path, expected)
    _verify_hash(obj, path)
    return obj


def save_model(directory: str | os.PathLike, *, state_dict: dict, config: dict, history: dict, registry: dict) -> None:
    """Write ``model.pt`` (weights, network config, history) and ``registry.json`` into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    head = {"format": MODEL_FORMAT, "format_version": FORMAT_VERSION, "prismtools_version": _version()}
    model = _with_hash(
        {**head, "config": dict(config), "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
         "history": history}
    )
    atomic_torch_save(model, d / MODEL_FILE)
    registry = {**registry, "model_sha256": model[HASH_KEY]}
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
    expected_hash = registry.pop("model_sha256", None)
    if expected_hash is not None and expected_hash != model[HASH_KEY]:
        raise CheckpointError(
            f"{str(d / MODEL_FILE)!r} does not match the content hash recorded in {str(reg_path)!r}: the two files "
            "come from different saves. Save the model again."
        )
    return model, registry


def save_training_checkpoint(path: str | os.PathLike, state: dict) -> None:
    atomic_torch_save(
        _with_hash(
            {"format": CHECKPOINT_FORMAT, "format_version": FORMAT_VERSION, "prismtools_version": _version(), **state}
        ),
        path,
    )


def load_training_checkpoint(path: str | os.PathLike) -> dict:
    return torch_load(path, CHECKPOINT_FORMAT)
