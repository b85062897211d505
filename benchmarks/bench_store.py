"""Cost of the store's checksums (crc32c codec) and write lock on a 20,000-gene x 2 kb x 3-track build.

Each repeat builds the same store four ways, interleaved in one run (so they share the machine's load):
``plain`` (no checksums, no lock), ``checksums``, ``lock``, ``both`` (the default). The build is the real
store path: ``pt.io.write`` of the gene table, then 3 x ``prismtools.pp._build.append_track(..., store=)``
(one transaction each: staging, chunk moves, metadata commit), then a full ``pt.io.read`` + compute of the tracks
(chunk-count check, checksum verification on read). The track values are synthetic (seeded, sparse
exponential signal, float32) so that the figure measures storage, not bigWig parsing; the extraction
from bigWigs is the same with and without checksums. ``--verify`` also times ``pt.io.verify`` once.

    OMP_NUM_THREADS=1 python benchmarks/bench_store.py --genes 20000 --width 2000 --tracks 3 --repeats 3

Toggles used: ``prismtools.io._zarr._CHECKSUMS`` and ``prismtools.io._lock._ENABLED`` (private, for this
benchmark only). Prints a Markdown table (median of the repeats, and the ratio to ``plain``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import prismtools as pt
from prismtools.io import _lock, _zarr
from prismtools.pp._build import append_track, blocks_to_dask


def _genes(n: int, width: int) -> "pt.AnnData":
    import anndata as ad

    obs = pd.DataFrame({"chrom": "chr1", "start": np.arange(n) * 10_000, "strand": "+"},
                       index=[f"G{i}" for i in range(n)])
    obs["end"] = obs["start"] + 1000
    obs["tss"] = obs["start"]
    obs["gene_name"] = obs.index
    a = ad.AnnData(obs=obs)
    pt.pp.set_window(a, width, bin_size=1)
    return a


class _Signal:
    def __init__(self, seed: int, width: int):
        self.seed, self.width = seed, width

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, lo])
        x = rng.standard_exponential((hi - lo, self.width), dtype=np.float32)
        x[rng.random((hi - lo, self.width)) < 0.7] = 0.0
        return x


def build(path: Path, n: int, width: int, n_tracks: int, chunk: int) -> dict:
    a = _genes(n, width)
    t0 = time.perf_counter()
    pt.io.write(a, path)
    for k in range(n_tracks):
        block = blocks_to_dask(_Signal(k, width), n, (width,), np.float32, chunk, f"t{k}")
        append_track(a, block, {"name": f"t{k}", "sample": "s", "role": "foreground", "source": "synthetic"},
                     store=path, desc=f"t{k}")
    t1 = time.perf_counter()
    b = pt.io.read(path)
    total = float(b.obsm["tracks"].sum(dtype=np.float64).compute(scheduler="threads", num_workers=1))
    t2 = time.perf_counter()
    return {"build": t1 - t0, "read": t2 - t1, "sum": total}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--genes", type=int, default=20_000)
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--tracks", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk-genes", type=int, default=64)
    ap.add_argument("--dir", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--verify", action="store_true")
    args = ap.parse_args()
    pt.settings.progress = False
    pt.settings.n_jobs = 1
    pt.settings.chunk_genes = args.chunk_genes
    scratch = Path(args.dir or tempfile.mkdtemp(prefix="bench_store-"))
    scratch.mkdir(parents=True, exist_ok=True)
    variants = {"plain": (False, False), "checksums": (True, False), "lock": (False, True), "both": (True, True)}
    res: dict[str, list[dict]] = {v: [] for v in variants}
    load0 = os.getloadavg()[0]
    t_start = time.perf_counter()
    for r in range(args.repeats):
        for name, (crc, lock) in variants.items():
            _zarr._CHECKSUMS, _lock._ENABLED = crc, lock
            path = scratch / f"{name}-{r}.zarr"
            res[name].append(build(path, args.genes, args.width, args.tracks, args.chunk_genes))
            res[name][-1]["bytes"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
    _zarr._CHECKSUMS, _lock._ENABLED = True, True
    sums = {v: {round(x["sum"], 3) for x in rs} for v, rs in res.items()}
    assert len(set().union(*sums.values())) == 1, f"the variants stored different data: {sums}"
    size = args.genes * args.width * args.tracks * 4
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{load0:.2f} at start, {os.getloadavg()[0]:.2f} at end; {time.perf_counter() - t_start:.0f} s total")
    print(f"build: {args.genes:,} genes x {args.width:,} positions x {args.tracks} tracks float32 "
          f"({size / 2**20:.0f} MiB uncompressed), chunk_genes={args.chunk_genes}, n_jobs=1, "
          f"{args.repeats} repeats (median)\n")
    base_b = statistics.median(x["build"] for x in res["plain"])
    base_r = statistics.median(x["read"] for x in res["plain"])
    print("| variant | build (write + 3 appends) | ratio | read + compute all tracks | ratio | store size |")
    print("|---|---|---|---|---|---|")
    for v, rs in res.items():
        b = statistics.median(x["build"] for x in rs)
        rd = statistics.median(x["read"] for x in rs)
        mb = statistics.median(x["bytes"] for x in rs) / 2**20
        print(f"| {v} | {b:.2f} s | {b / base_b:.3f} | {rd:.2f} s | {rd / base_r:.3f} | {mb:.0f} MiB |")
    if args.verify:
        path = scratch / "verify.zarr"
        build(path, args.genes, args.width, args.tracks, args.chunk_genes)
        t0 = time.perf_counter()
        out = pt.io.verify(path)
        print(f"\npt.io.verify: {time.perf_counter() - t0:.2f} s for {out['chunks']} chunks "
              f"({out['bytes'] / 2**20:.0f} MiB decoded)")
        shutil.rmtree(path)
    if args.dir is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
