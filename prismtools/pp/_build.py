"""The chunked build engine: per-gene-chunk extraction with dask, into memory or into a zarr store.

Each builder supplies a *block function* ``fn(lo, hi) -> ndarray`` that extracts rows ``lo:hi`` of its output
(it opens its file itself, so blocks run in threads, processes or on a dask.distributed cluster). The engine
turns the blocks into a dask array chunked by genes and either computes it into memory or streams it into a
store, so peak memory is a few chunks, not the whole array. An active ``dask.distributed`` client is used
when present; otherwise the local threaded scheduler with ``pt.settings.n_jobs`` workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager

import dask
import dask.array as da
import numpy as np
from anndata import AnnData
from dask.callbacks import Callback

from .._core import TRACKS_KEY, get_window, set_track_table, track_table
from .._progress import progress_bar
from .._settings import settings

logger = logging.getLogger(__name__)

#: refuse in-memory builds larger than this fraction of physical memory (suggest store=)
_MEMORY_FRACTION = 0.5


class _TqdmCallback(Callback):
    def __init__(self, total: int, desc: str):
        super().__init__()
        self._bar = progress_bar(total=total, desc=desc, unit="chunk", leave=False)

    def _posttask(self, key, result, dsk, state, id):  # noqa: A002
        if isinstance(key, tuple) and str(key[0]).startswith("block-"):
            self._bar.update(1)

    def _finish(self, dsk, state, errored):
        self._bar.close()


def _distributed_client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def compute_kwargs() -> dict:
    """Scheduler options: the active distributed client if any, else local threads with ``n_jobs`` workers."""
    if _distributed_client() is not None:
        return {}
    return {"scheduler": "threads", "num_workers": max(1, int(settings.n_jobs))}


def blocks_to_dask(fn: Callable[[int, int], np.ndarray], n_genes: int, row_shape: tuple, dtype, chunk_genes: int, name: str) -> da.Array:
    """A dask array of shape ``(n_genes, *row_shape)`` whose gene chunks are computed by ``fn(lo, hi)``."""
    parts = []
    for lo in range(0, n_genes, chunk_genes):
        hi = min(n_genes, lo + chunk_genes)
        d = dask.delayed(fn, pure=True)(lo, hi, dask_key_name=f"block-{name}-{lo}")
        parts.append(da.from_delayed(d, shape=(hi - lo, *row_shape), dtype=dtype))
    return da.concatenate(parts, axis=0)


def _check_memory(nbytes: int, what: str) -> None:
    try:
        import os

        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if nbytes > _MEMORY_FRACTION * total:
        raise MemoryError(
            f"{what} would need {nbytes / 2**30:.1f} GiB in memory ({_MEMORY_FRACTION:.0%} of this machine's "
            f"{total / 2**30:.1f} GiB is the limit). Pass store='dataset.zarr' to stream it to disk chunk by chunk."
        )


def run_rows(fn, adata: AnnData, row_shape: tuple, dtype, *, desc: str) -> da.Array:
    chunk = max(1, int(settings.chunk_genes))
    return blocks_to_dask(fn, adata.n_obs, row_shape, dtype, chunk, desc)


def store_sequence(adata: AnnData, block: da.Array, *, store, desc: str) -> None:
    """Materialise the sequence array into ``adata.obsm["sequence"]`` (memory) or into ``store``."""
    from ..io._buildstore import BuildStore

    n_chunks = block.numblocks[0]
    if store is None:
        _check_memory(block.nbytes, desc)
        with _TqdmCallback(n_chunks, desc):
            adata.obsm["sequence"] = block.compute(**compute_kwargs())
        return
    bs = BuildStore(store, adata)
    with bs.transaction(desc, adata):
        with _TqdmCallback(n_chunks, desc):
            bs.replace_array("sequence", block, chunk_genes=settings.chunk_genes, compute_kwargs=compute_kwargs())
    adata.obsm["sequence"] = bs.lazy("sequence")


def append_track(adata: AnnData, block: da.Array, row: dict, *, store, desc: str) -> None:
    """Append one track (``block``: n_genes x n_bins) and its track-table ``row``, in memory or into ``store``."""
    from ..io._buildstore import BuildStore

    tab = track_table(adata)
    if ((tab["name"] == row["name"]) & (tab["sample"] == row["sample"])).any():
        raise ValueError(
            f"A track named {row['name']!r} for sample {row['sample']!r} already exists; choose another name= "
            "(or remove it with pt.pp.remove_tracks)."
        )
    import pandas as pd

    new_tab = pd.concat([tab, pd.DataFrame([row])], ignore_index=True)
    n_chunks = block.numblocks[0]
    if store is None:
        cur = adata.obsm.get(TRACKS_KEY)
        if isinstance(cur, da.Array):
            raise ValueError(
                "adata.obsm['tracks'] is lazy (opened from a store); pass store= (the same path) to append to it."
            )
        _check_memory(block.nbytes * (len(tab) + 1), desc)
        with _TqdmCallback(n_chunks, desc):
            vals = block.compute(**compute_kwargs())
        vals = vals[:, None, :]
        adata.obsm[TRACKS_KEY] = vals if cur is None else np.concatenate([np.asarray(cur), vals], axis=1)
        set_track_table(adata, new_tab)
        return
    bs = BuildStore(store, adata)
    try:
        with bs.transaction(desc, adata):
            n_stored = bs.n_committed(TRACKS_KEY)  # under the store's lock: no other writer can change it now
            if n_stored != len(tab):
                raise ValueError(
                    f"The store {str(store)!r} holds {n_stored} tracks but this AnnData lists {len(tab)}: the store "
                    "changed since this AnnData was read (another process appended to it?) or they were never in "
                    "sync. Reopen the store with pt.io.read() and continue from that AnnData."
                )
            with _TqdmCallback(n_chunks, desc):
                bs.append_track(block, chunk_genes=settings.chunk_genes, compute_kwargs=compute_kwargs())
            set_track_table(adata, new_tab)  # committed together with the track when the transaction ends
    except BaseException:
        set_track_table(adata, tab)  # nothing was committed: the AnnData stays as it was too
        raise
    adata.obsm[TRACKS_KEY] = bs.lazy(TRACKS_KEY)


def bin_rows(values: np.ndarray, bin_size: int, stat: str) -> np.ndarray:
    """Reduce per-base rows (n, width) to bins (n, width // bin_size), ignoring NaN (all-NaN bins stay NaN).

    Written without ``np.nan*`` functions, whose all-NaN warnings are not thread-safe to silence.
    """
    if stat not in ("mean", "max", "min", "sum"):
        raise ValueError(f"stat must be one of mean, max, min, sum; got {stat!r}.")
    if bin_size == 1:
        return values
    n, w = values.shape
    v = values.reshape(n, w // bin_size, bin_size)
    if stat == "max":
        return np.fmax.reduce(v, axis=2)
    if stat == "min":
        return np.fmin.reduce(v, axis=2)
    valid = ~np.isnan(v)
    cnt = valid.sum(axis=2)
    tot = np.where(valid, v, 0).sum(axis=2, dtype=np.float64)
    out = tot if stat == "sum" else tot / np.maximum(cnt, 1)
    out[cnt == 0] = np.nan
    return out


#: per-build counters filled by the blocks (threads of this process) and reported once after the build
_BLOCK_STATS: dict[str, dict[str, int]] = {}
_STATS_LOCK = threading.Lock()
#: warn when more than this fraction of genes (on chromosomes the file has) get no data at all in their window
EMPTY_FRACTION_WARN = 0.5


def new_stats_token(source: str) -> str:
    """A key for one build's counters (``source`` plus a unique suffix)."""
    import uuid

    return f"{source}#{uuid.uuid4().hex[:8]}"


#: most per-base values a track block holds at once (float32: 32 MiB); blocks of wide windows work through their
#: genes in batches of ``ROW_VALUES_BUDGET // width`` so memory is bounded by this, not by chunk_genes x width
ROW_VALUES_BUDGET = 1 << 23


def in_row_batches(rows_fn: Callable[[int, int], np.ndarray], lo: int, hi: int, width: int) -> np.ndarray:
    """``rows_fn(a, b)`` (per-base extraction then :func:`finish_rows`, returning binned rows) over ``[lo, hi)`` in
    batches of at most ``ROW_VALUES_BUDGET`` per-base values, concatenated. Identical to one call over ``[lo, hi)``."""
    step = max(1, ROW_VALUES_BUDGET // max(1, int(width)))
    if hi - lo <= step:
        return rows_fn(lo, hi)
    return np.concatenate([rows_fn(a, min(hi, a + step)) for a in range(lo, hi, step)], axis=0)


def finish_rows(values: np.ndarray, *, bin_size: int, stat: str, flip: np.ndarray | None, nan: float | None,
                token: str | None = None, present: np.ndarray | None = None) -> np.ndarray:
    """The common end of every track block: infinities to missing, bin, reverse minus-strand rows (``flip``), fill
    NaN (``nan``).

    ``+inf``/``-inf`` values in a file are treated as missing (NaN, then ``nan``): they are never binned into
    means or stored, and never silently become a number. With a ``token`` (from :func:`new_stats_token`) the
    block counts, for :func:`report_block_stats`, its infinite values and its rows without any data among the
    ``present`` rows (genes whose chromosome the file has); without one, infinities are logged per block.
    """
    values = np.asarray(values)
    inf = np.isinf(values)
    n_inf = int(inf.sum())
    if n_inf:
        values = np.where(inf, np.nan, values)
    if token is not None:
        empty = np.isnan(values).all(axis=1) if values.ndim == 2 and values.shape[1] else np.zeros(len(values), bool)
        if present is not None:
            empty &= np.asarray(present, dtype=bool)
        with _STATS_LOCK:
            st = _BLOCK_STATS.setdefault(token, {"inf": 0, "empty": 0})
            st["inf"] += n_inf
            st["empty"] += int(empty.sum())
    elif n_inf:
        logger.warning("%d infinite track values treated as missing (filled with %s).", n_inf, nan)
    out = bin_rows(values, bin_size, stat).astype(np.float32, copy=False)
    if flip is not None and flip.any():
        out[flip] = out[flip, ::-1]
    if nan is not None:
        np.nan_to_num(out, copy=False, nan=nan)
    return out


@contextmanager
def block_stats(source: str, *, n_present: int, nan: float | None):
    """One build's counters: yields the token for the blocks, reports the counts when the build succeeds
    (:func:`report_block_stats`) and forgets them when it fails (:func:`discard_block_stats`)."""
    token = new_stats_token(source)
    try:
        yield token
    except BaseException:
        discard_block_stats(token)
        raise
    report_block_stats(token, n_present=n_present, nan=nan)


def discard_block_stats(token: str) -> None:
    """Forget a failed build's counters."""
    with _STATS_LOCK:
        _BLOCK_STATS.pop(token, None)


def report_block_stats(token: str, *, n_present: int, nan: float | None) -> None:
    """Log, once per build, what the blocks counted: infinite values (treated as missing) and, when far more
    genes than expected have no data at all, a warning that suggests an assembly mismatch or a partial file."""
    with _STATS_LOCK:
        st = _BLOCK_STATS.pop(token, None)
    if st is None:  # blocks ran elsewhere (dask.distributed): their counts stayed in the workers
        return
    source = token.rsplit("#", 1)[0]
    if st["inf"]:
        logger.warning("%s: %d infinite values (+inf/-inf) treated as missing (filled with %s).", source, st["inf"], nan)
    if n_present and st["empty"] > EMPTY_FRACTION_WARN * n_present:
        logger.warning(
            "%s: %d of %d genes (%.0f%%) have no data in their window (filled with %s). Expected far fewer: is the "
            "file from another assembly (e.g. hg19 vs hg38), or does it cover only part of the genome?",
            source, st["empty"], n_present, 100.0 * st["empty"] / n_present, nan,
        )


def track_row_shape(adata: AnnData) -> tuple[int]:
    return (get_window(adata)["n_bins"],)
