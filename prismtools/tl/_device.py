"""Devices, numeric precision and the (optional) torch.distributed process group."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch

from .._settings import settings

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "32", "bf16", "16-mixed")
_PRECISION_ALIASES = {"32-true": "32", "fp32": "32", "bf16-mixed": "bf16", "16": "16-mixed", "fp16": "16-mixed"}


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` into a device.

    ``"auto"`` first defers to ``pt.settings.device`` when that names a device. Asking for an accelerator
    that is not available is a :class:`RuntimeError` (never a silent fallback to the CPU).
    """
    if settings.num_threads is not None and torch.get_num_threads() != int(settings.num_threads):
        torch.set_num_threads(int(settings.num_threads))
    if device is None or str(device) == "auto":
        device = settings.device if str(settings.device) != "auto" else "auto"
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:<i>' or 'mps'.") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={str(device)!r} was requested but CUDA is not available (torch {torch.__version__}, "
                f"built with CUDA {torch.version.cuda}). Use device='auto' or 'cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device={str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) visible.")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    elif dev.type == "mps" and not mps_available():
        raise RuntimeError(f"device={str(device)!r} was requested but MPS is not available. Use 'auto' or 'cpu'.")
    return dev


@dataclass(frozen=True)
class Precision:
    """Resolved precision: the autocast dtype (``None``: plain float32) and whether a grad scaler is used."""

    name: str
    autocast_dtype: torch.dtype | None
    use_scaler: bool

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """``"auto"``: bf16 autocast on CUDA, float32 elsewhere; ``"32"``; ``"bf16"``; ``"16-mixed"`` (CUDA only)."""
    p = _PRECISION_ALIASES.get(str(precision), str(precision))
    if p not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    if p == "auto":
        p = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "32"
    if p == "32":
        return Precision("32", None, False)
    if p == "bf16":
        if device.type == "mps":
            raise ValueError("precision='bf16' is not supported on MPS; use '32'.")
        return Precision("bf16", torch.bfloat16, False)
    if device.type != "cuda":
        raise ValueError(f"precision='16-mixed' needs a CUDA device (got {device}); use 'bf16' or '32'.")
    return Precision("16-mixed", torch.float16, True)


# ----------------------------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_env() -> DistEnv:
    """Rank, local rank and world size from the ``torchrun`` environment (``WORLD_SIZE`` etc.)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistEnv()
    return DistEnv(
        rank=int(os.environ.get("RANK", "0")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
        world_size=world,
    )


# ------------------------------------------------------------------------------------------ Lightning mapping

#: prismtools precision -> Lightning's name. bf16 is autocast ("-mixed"): weights and the scan state stay float32.
LIGHTNING_PRECISION = {"32": "32-true", "bf16": "bf16-mixed", "16-mixed": "16-mixed"}
_ACCELERATOR = {"cuda": "gpu", "mps": "mps", "cpu": "cpu"}


@dataclass(frozen=True)
class TrainerDevices:
    """What the Lightning ``Trainer`` is given, and the device this process computes on."""

    accelerator: str
    devices: object
    num_nodes: int
    strategy: object
    device: torch.device


def _find_unused(strategy):
    # PrismNet's intervened path leaves parameters unused on some steps: DDP must be told
    if isinstance(strategy, str) and strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        return f"{strategy}_find_unused_parameters_true"
    return strategy


def trainer_devices(device="auto", accelerator=None, devices=None, strategy=None) -> TrainerDevices:
    """Map ``device=`` (prismtools) or ``accelerator=``/``devices=`` (Lightning) to the trainer's arguments.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every process is one Lightning DDP rank (NCCL on CUDA, Gloo on CPU).
    Otherwise ``devices=N > 1`` makes Lightning start the processes: ``strategy="ddp"`` (default) re-runs the
    script, ``strategy="ddp_notebook"`` forks, the choice for Jupyter.
    """
    env = distributed_env()
    if accelerator is None and devices is None:
        dev = resolve_device(device)
        accelerator = _ACCELERATOR[dev.type]
        devices = [dev.index] if dev.type == "cuda" else 1
    else:
        accelerator = accelerator or "auto"
        devices = devices if devices is not None else "auto"
        dev = None
    num_nodes = 1
    if env.enabled:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", env.world_size))
        num_nodes = max(1, env.world_size // local)
        devices = local
        strategy = strategy if strategy not in (None, "auto") else "ddp"
    elif strategy is None:
        strategy = "auto"
    multi = env.enabled or (isinstance(devices, int) and devices > 1) or (isinstance(devices, list) and len(devices) > 1)
    if multi and strategy == "auto":
        strategy = "ddp"
    strategy = _find_unused(strategy)
    if dev is None:
        if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
            dev = resolve_device("cuda")
        elif accelerator == "mps":
            dev = resolve_device("mps")
        else:
            dev = torch.device("cpu")
    if env.enabled and dev.type == "cuda":
        dev = torch.device("cuda", env.local_rank)
    return TrainerDevices(accelerator, devices, num_nodes, strategy, dev)
