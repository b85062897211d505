"""Feeding genes to the network: a batch-level dataset over (possibly lazy) obsm arrays, and batch samplers.

The dataset is indexed by a whole batch (a sorted array of gene indices) so that one read serves a batch:
fancy indexing for in-memory arrays, and whole gene chunks (kept in a small per-process cache) for dask
arrays opened lazily from zarr by :func:`prismtools.io.read`. Nothing ever materialises a whole
``obsm["sequence"]`` or ``obsm["tracks"]``.

Batch order is a pure function of ``(seed, epoch)`` (:class:`GeneBatchSampler`), which makes a CPU run
bit-reproducible and lets a resumed run skip to the exact batch where it stopped without reading data.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .._core import SEQUENCE_KEY, TRACKS_KEY

logger = logging.getLogger(__name__)

#: Memory budget of each reader's chunk cache (per process: each DataLoader worker has its own).
CACHE_BYTES = 256 * 2**20


def is_lazy(arr) -> bool:
    """True for arrays that are read on demand (dask, zarr, h5py) rather than held in memory."""
    return arr is not None and not isinstance(arr, np.ndarray)


def gene_chunk_bounds(arr) -> np.ndarray | None:
    """Start offsets of the gene chunks of a dask array (plus the end), ``None`` for other arrays."""
    chunks = getattr(arr, "chunks", None)
    if not chunks or not isinstance(chunks[0], tuple):
        return None
    return np.concatenate([[0], np.cumsum(chunks[0])]).astype(np.int64)


class RowReader:
    """Read rows (genes) of a 2-D or 3-D array, optionally a subset of the second axis.

    In-memory arrays are fancy-indexed. Dask arrays are read whole gene chunk by whole gene chunk (on the
    synchronous scheduler, so DataLoader workers do not oversubscribe threads) into an LRU cache of
    ``cache_chunks`` chunks; consecutive batches drawn from the same chunks (see :class:`GeneBatchSampler`)
    then cost one read per chunk.
    """

    def __init__(
        self, arr, columns: Sequence[int] | None = None, *, cache_chunks: int = 16, cache_bytes: int = CACHE_BYTES
    ):
        self.arr = arr
        self.columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        if self.columns is not None and self.columns.tolist() == list(range(arr.shape[1])):
            self.columns = None
        self.bounds = gene_chunk_bounds(arr) if hasattr(arr, "compute") else None
        self.cache_chunks = int(cache_chunks)
        if self.bounds is not None and len(self.bounds) > 1:
            n_cols = arr.shape[1] if self.columns is None else len(self.columns)
            row_bytes = np.dtype(arr.dtype).itemsize * n_cols * int(np.prod(arr.shape[2:], dtype=np.int64))
            chunk_bytes = max(1, int(np.diff(self.bounds).max()) * row_bytes)
            self.cache_chunks = max(2, min(self.cache_chunks, int(cache_bytes) // chunk_bytes))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # workers start with an empty cache
        return state

    def _select_columns(self, block):
        return block if self.columns is None else block[:, self.columns]

    def _chunk(self, c: int) -> np.ndarray:
        hit = self._cache.get(c)
        if hit is not None:
            self._cache.move_to_end(c)
            return hit
        s, e = int(self.bounds[c]), int(self.bounds[c + 1])
        block = self._select_columns(self.arr[s:e])
        block = np.asarray(block.compute(scheduler="synchronous"))
        self._cache[c] = block
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return block

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        arr = self.arr
        if isinstance(arr, np.ndarray):
            if self.columns is None:
                return arr[idx]
            return arr[np.ix_(idx, self.columns)] if arr.ndim >= 2 else arr[idx]
        if self.bounds is not None:
            chunk_of = np.searchsorted(self.bounds, idx, side="right") - 1
            parts = []
            for c in np.unique(chunk_of):
                sel = idx[chunk_of == c] - self.bounds[c]
                parts.append((np.flatnonzero(chunk_of == c), self._chunk(int(c))[sel]))
            first = parts[0][1]
            out = np.empty((len(idx),) + first.shape[1:], dtype=first.dtype)
            for where, rows in parts:
                out[where] = rows
            return out
        order = np.argsort(idx, kind="stable")  # generic lazy arrays (zarr, h5py) want increasing indices
        sorted_idx = idx[order]
        rows = arr.oindex[sorted_idx] if hasattr(arr, "oindex") else arr[sorted_idx]
        rows = self._select_columns(np.asarray(rows))
        out = np.empty_like(rows)
        out[order] = rows
        return out


class GeneBatches(torch.utils.data.Dataset):
    """Batch-level dataset: ``ds[idx]`` returns the batch of genes ``idx`` as a dict of CPU tensors.

    Keys: ``index`` (long, B), ``sequence`` (uint8, B x width) if used, ``tracks`` (float32, B x T x n_bins,
    NaN -> 0) if used, ``covariates`` (float32, B x C) if any, ``y`` (float32, B) if targets were given.
    Tracks stay at their native resolution here; :func:`to_device` upsamples them to the sequence on the device.
    """

    def __init__(
        self,
        adata,
        *,
        use_sequence: bool,
        track_idx: Sequence[int],
        covariates: np.ndarray | None,
        targets: np.ndarray | None = None,
        cache_chunks: int = 16,
    ):
        self.n = adata.n_obs
        self.sequence = RowReader(adata.obsm[SEQUENCE_KEY], cache_chunks=cache_chunks) if use_sequence else None
        self.tracks = (
            RowReader(adata.obsm[TRACKS_KEY], list(track_idx), cache_chunks=cache_chunks) if len(track_idx) else None
        )
        self.covariates = None if covariates is None or covariates.shape[1] == 0 else np.asarray(covariates, np.float32)
        self.targets = None if targets is None else np.asarray(targets, np.float32)
        arrays = [r.arr for r in (self.sequence, self.tracks) if r is not None]
        self.lazy = any(is_lazy(a) for a in arrays)
        lazy_readers = [r for r in (self.tracks, self.sequence) if r is not None and r.bounds is not None]
        self.chunk_bounds = lazy_readers[0].bounds if lazy_readers else None
        #: chunks per shuffling buffer: half of the smallest cache, so a buffer's chunks stay cached
        self.buffer_chunks = max(1, min([r.cache_chunks for r in lazy_readers] or [16]) // 2)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx) -> dict[str, torch.Tensor]:
        idx = np.asarray(idx, dtype=np.int64)
        out = {"index": torch.from_numpy(idx.copy())}
        if self.sequence is not None:
            out["sequence"] = torch.from_numpy(np.ascontiguousarray(self.sequence(idx), dtype=np.uint8))
        if self.tracks is not None:
            t = np.ascontiguousarray(self.tracks(idx), dtype=np.float32)
            np.nan_to_num(t, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            out["tracks"] = torch.from_numpy(t)
        if self.covariates is not None:
            out["covariates"] = torch.from_numpy(self.covariates[idx])
        if self.targets is not None:
            out["y"] = torch.from_numpy(self.targets[idx])
        return out


class GeneBatchSampler:
    """An endless, deterministic stream of training batches (sorted gene-index arrays).

    Epoch ``e`` is a permutation drawn from ``numpy.random.default_rng([seed, e])``. With ``chunk_bounds``
    (lazy arrays) the order of gene chunks is shuffled and genes are shuffled within buffers of
    ``buffer_chunks`` consecutive chunks, so each batch touches few chunks and each chunk is read about once
    per epoch. Under ``world_size > 1`` each rank takes every ``world_size``-th batch (the batch list is padded
    by wrapping so all ranks do the same number of steps), like :class:`torch.utils.data.DistributedSampler`.
    """

    def __init__(
        self,
        genes: np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        chunk_bounds: np.ndarray | None = None,
        buffer_chunks: int = 8,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
    ):
        self.genes = np.asarray(genes, dtype=np.int64)
        if len(self.genes) == 0:
            raise ValueError("No genes to sample batches from.")
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.seed = int(seed)
        self.chunk_bounds = chunk_bounds
        self.buffer_chunks = max(1, int(buffer_chunks))
        self.rank, self.world_size = int(rank), int(world_size)
        self.start_step = int(start_step)

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.genes)
        n_batches = -(-n // self.batch_size)
        if n_batches > 1 and n % self.batch_size == 1:
            n_batches -= 1  # a trailing 1-gene batch is merged into the one before (see epoch_batches)
        return -(-n_batches // self.world_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, int(epoch)])
        if self.chunk_bounds is None:
            return rng.permutation(self.genes)
        chunk_of = np.searchsorted(self.chunk_bounds, self.genes, side="right") - 1
        chunks = rng.permutation(np.unique(chunk_of))
        parts = []
        for i in range(0, len(chunks), self.buffer_chunks):
            buf = self.genes[np.isin(chunk_of, chunks[i : i + self.buffer_chunks])]
            parts.append(rng.permutation(buf))
        return np.concatenate(parts)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        order = self.epoch_order(epoch)
        batches = [np.sort(order[i : i + self.batch_size]) for i in range(0, len(order), self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            # BatchNorm in training mode cannot normalise one value per channel (a 1-gene batch on short windows):
            # fold the last gene into the previous batch instead of dropping it
            last = batches.pop()
            batches[-1] = np.sort(np.concatenate([batches[-1], last]))
        if self.world_size > 1:
            need = self.steps_per_epoch * self.world_size
            batches = (batches * (need // len(batches) + 1))[:need]
            batches = batches[self.rank :: self.world_size]
        return batches

    def __iter__(self) -> Iterator[np.ndarray]:
        epoch, offset = divmod(self.start_step, self.steps_per_epoch)
        while True:
            yield from self.epoch_batches(epoch)[offset:]
            epoch, offset = epoch + 1, 0


class ReplacedTracks(torch.utils.data.Dataset):
    """A :class:`GeneBatches` whose input tracks at some positions are replaced by fixed profiles.

    ``replace`` maps a position along the batch's track axis to a ``(n_bins,)`` profile (or a scalar).
    Everything else (laziness, chunk bounds, ...) is the wrapped dataset's.
    """

    def __init__(self, base: GeneBatches, replace: dict[int, np.ndarray]):
        self.base = base
        self.replace = {int(k): torch.as_tensor(np.asarray(v, np.float32)) for k, v in replace.items()}

    def __getattr__(self, name):
        if name == "base":  # not yet set (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.base, name)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, idx) -> dict[str, torch.Tensor]:
        out = self.base[idx]
        if "tracks" in out:
            t = out["tracks"].clone()
            for k, v in self.replace.items():
                t[:, k, :] = v
            out["tracks"] = t
        return out


def sequential_batches(genes: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Genes in increasing order, cut into batches (inference and validation)."""
    genes = np.sort(np.asarray(genes, dtype=np.int64))
    return [genes[i : i + batch_size] for i in range(0, len(genes), batch_size)]


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)  # a worker only indexes and decompresses; leave the cores to the main process


def make_loader(
    dataset: GeneBatches,
    batches,
    *,
    n_workers: int = 0,
    pin_memory: bool = False,
    seed: int = 0,
    persistent: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader yielding one collated batch per element of ``batches`` (an iterable of index arrays).

    Worker processes (``n_workers``, normally ``pt.settings.n_jobs``) are used only for lazy arrays, where
    reading and decompressing chunks is the work; in-memory arrays are indexed in the main process (workers
    would only add copying). ``n_workers <= 1`` means no worker processes.
    """
    n_workers = int(n_workers) if dataset.lazy and int(n_workers) > 1 else 0
    generator = torch.Generator()
    generator.manual_seed(int(seed))  # the loader never draws from the global torch RNG
    kwargs = {}
    if n_workers > 0:
        kwargs.update(worker_init_fn=_worker_init, persistent_workers=persistent, prefetch_factor=4)
    return torch.utils.data.DataLoader(
        dataset,
        sampler=batches,
        batch_size=None,
        num_workers=n_workers,
        pin_memory=pin_memory,
        generator=generator,
        **kwargs,
    )


def to_device(
    batch: dict[str, torch.Tensor], device: torch.device, *, bin_size: int, width: int, upsample: bool
) -> dict[str, torch.Tensor]:
    """Move a batch to ``device``; sequence codes become long, binned tracks are upsampled to ``width``.

    Upsampling repeats each bin ``bin_size`` times (``repeat_interleave``); when ``width`` is not a multiple
    of ``bin_size`` the last bin is repeated to fill the window.
    """
    nb = device.type == "cuda"
    out = {k: v.to(device, non_blocking=nb) for k, v in batch.items()}
    if "sequence" in out:
        out["sequence"] = out["sequence"].long()
    if "tracks" in out and upsample and bin_size > 1:
        t = out["tracks"].repeat_interleave(bin_size, dim=2)
        if t.shape[2] < width:
            t = torch.cat([t, t[:, :, -1:].expand(-1, -1, width - t.shape[2])], dim=2)
        out["tracks"] = t[:, :, :width]
    return out
