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


@contextlib.contextmanager
def process_group(env: DistEnv, device: torch.device):
    """Initialise the default process group (NCCL on CUDA, Gloo otherwise) for the duration of a fit.

    Does nothing for a single process. A group that already exists (created by the user's launcher script)
    is used as is and left alone afterwards.
    """
    if not env.enabled:
        yield
        return
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)
        created = True
        logger.info("initialised %s process group: rank %d of %d", backend, env.rank, env.world_size)
    try:
        yield
    finally:
        if created:
            dist.destroy_process_group()


def distributed_device(env: DistEnv, device: torch.device) -> torch.device:
    """Under torchrun with CUDA, each process drives the GPU of its local rank."""
    if env.enabled and device.type == "cuda":
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
        return dev
    return device


def wrap_ddp(net: torch.nn.Module, env: DistEnv, device: torch.device) -> torch.nn.Module:
    """Wrap ``net`` in :class:`~torch.nn.parallel.DistributedDataParallel` when running under torchrun."""
    if not env.enabled:
        return net
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        net, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
    )


def sync_buffers(net: torch.nn.Module, env: DistEnv) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts buffers at the start of each forward, so after a step each rank holds the statistics of its
    own last batch; syncing before validation makes every rank validate (and keep) the same model.
    """
    if not env.enabled:
        return
    import torch.distributed as dist

    for buf in net.buffers():
        dist.broadcast(buf.data, src=0)
