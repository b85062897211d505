"""Benchmark per-base track building: prismtools vs deepTools ``computeMatrix``, side by side in one run.

Inputs come from ``benchmarks/make_genome.py`` (23 x 20 Mb chromosomes, 20,000 genes, 3 bigWigs, an .mcool).
Every configuration runs in a fresh child process; wall time, CPU time (user + sys) and peak RSS come from
``os.wait4`` on that child (``ru_maxrss``: the largest resident set of the child or any descendant it waited
for). Measured:

1. deepTools ``computeMatrix reference-point --referencePoint TSS -b 1000 -a 1000 --binSize 1 -p 1
   --missingDataAsZero --sortRegions keep`` on a subset of genes (every k-th gene of the BED, default 1,000);
2. prismtools ``read_genes`` + ``set_window(2000)`` + 3 x ``add_track`` (per base, in memory) on the same subset
   and on all genes, with ``pt.settings.n_jobs`` = 1 and 2 (dask threads), and 2 dask *processes* (an
   experiment: prismtools' ``compute_kwargs`` is patched in that child; it is not a prismtools option);
3. agreement of (1) and (2) gene by gene (see ``agreement``), in ``reference`` orientation (prismtools' default)
   and ``transcript`` orientation (what ``add_sequence(reverse_complement_minus=True)`` sets);
4. ``add_hic`` (5 kb, balanced, log10p1) for all genes at 2 kb;
5. the out-of-core build: ``set_window(200_000)`` + 3 tracks with ``store=`` for 500 / 1,000 / 2,000 genes
   (peak RSS should not grow with genes) and, when the extrapolated time is under ``--full-limit-s`` and the disk
   has room, for all genes;
6. optionally (``--baseline-rev REV``) the block functions ``_BigWigBlock.__call__`` / ``_CoolerBlock.__call__``
   as of git revision REV, run through the same pipeline in the same run, to measure an optimisation of them
   side by side (outputs are compared by SHA-256).

    python benchmarks/make_genome.py --out /tmp/prism_bench/genome --n-genes 20000 --seed 0
    python benchmarks/bench_tracks.py --data /tmp/prism_bench/genome --out /tmp/prism_bench/run

Results: ``<out>/results.json`` and a Markdown summary on stdout (and in ``<out>/summary.md``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TRACKS = ("H3K27ac", "DNase", "H3K4me3")
REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------------
# child processes
# ----------------------------------------------------------------------------------------------------------
def _patch_baseline(rev: str) -> None:
    """Replace the block functions' ``__call__`` by those of git revision ``rev`` (read with ``git show``)."""
    import types

    import prismtools.pp._bigwig as bwmod
    import prismtools.pp._hic as hicmod

    for mod, cls in ((bwmod, "_BigWigBlock"), (hicmod, "_CoolerBlock")):
        rel = "prismtools/pp/" + mod.__name__.rsplit(".", 1)[-1] + ".py"
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{rel}"], check=True, capture_output=True,
                             text=True).stdout
        name = f"{mod.__name__}_at_{rev}"
        base = types.ModuleType(name)
        base.__package__ = "prismtools.pp"
        sys.modules[name] = base
        exec(compile(src, f"{rev}:{rel}", "exec"), base.__dict__)  # noqa: S102
        setattr(getattr(mod, cls), "__call__", getattr(base, cls).__call__)


def _check_store(arr, adata, cfg: dict, n: int = 6) -> float:
    """Independent spot check of a streamed store: the first and last ``n`` genes read straight from the bigWigs
    with pyBigWig (reference orientation, missing data = 0) must equal what the store holds."""
    import pyBigWig

    width = int(cfg["width"])
    idx = sorted(set(range(min(n, adata.n_obs))) | set(range(max(0, adata.n_obs - n), adata.n_obs)))
    worst = 0.0
    for t, name in enumerate(TRACKS):
        bw = pyBigWig.open(str(Path(cfg["data"]) / f"{name}.bw"))
        for i in idx:
            c, tss = str(adata.obs["chrom"].iloc[i]), int(adata.obs["tss"].iloc[i])
            s = tss - width // 2
            cs, ce = max(0, s), min(bw.chroms(c), s + width)
            ref = np.zeros(width, np.float32)
            ref[cs - s : ce - s] = np.nan_to_num(bw.values(c, cs, ce, numpy=True), nan=0.0)
            worst = max(worst, float(np.abs(np.asarray(arr[i, t, :], dtype=np.float32) - ref).max()))
        bw.close()
    return worst


def _worker(cfg: dict) -> None:
    t_start = time.perf_counter()
    import prismtools as pt
    import prismtools.pp  # noqa: F401

    res: dict = {"t_import": time.perf_counter() - t_start}
    pt.settings.progress = False
    pt.settings.n_jobs = int(cfg.get("n_jobs", 1))
    if cfg.get("chunk_genes"):
        pt.settings.chunk_genes = int(cfg["chunk_genes"])
    if cfg.get("scheduler") == "processes":
        import prismtools.pp._build as build

        n = int(cfg.get("n_jobs", 1))
        build.compute_kwargs = lambda: {"scheduler": "processes", "num_workers": n}
    if cfg.get("baseline_rev"):
        _patch_baseline(cfg["baseline_rev"])
    if cfg["kind"] == "import":
        print(json.dumps(res))
        return
    t0 = time.perf_counter()
    adata = pt.pp.read_genes(cfg["bed"])
    pt.pp.set_window(adata, int(cfg["width"]), bin_size=int(cfg.get("bin_size", 1)))
    if cfg.get("orientation", "reference") != "reference":
        # what add_sequence(..., reverse_complement_minus=True) records; no FASTA is needed for tracks
        adata.uns["prism"]["window"]["orientation"] = cfg["orientation"]
    res["t_setup"] = time.perf_counter() - t0
    store = cfg.get("store")
    if store:
        shutil.rmtree(store, ignore_errors=True)
    t1 = time.perf_counter()
    res["t_steps"] = {}
    if cfg["kind"] == "tracks":
        for name in TRACKS:
            ts = time.perf_counter()
            pt.pp.add_track(adata, str(Path(cfg["data"]) / f"{name}.bw"), name=name, sample="s", role="foreground",
                            store=store)
            res["t_steps"][name] = time.perf_counter() - ts
    elif cfg["kind"] == "hic":
        pt.pp.add_hic(adata, str(Path(cfg["data"]) / "hic.mcool"), sample="s", resolution=5000, store=store)
    res["t_build"] = time.perf_counter() - t1
    res["n_genes"] = int(adata.n_obs)
    tracks = adata.obsm["tracks"]
    res["shape"] = list(tracks.shape)
    res["nbytes_float32"] = int(np.prod(tracks.shape)) * 4
    if store:
        res["store_bytes"] = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
        res["store_status"] = __import__("zarr").open_group(store, mode="r").attrs["prismtools"]["status"]
        arr = __import__("zarr").open_group(store, mode="r")["obsm/tracks"]
        if cfg["kind"] == "tracks" and cfg.get("orientation", "reference") == "reference":
            res["store_check_max_abs_diff"] = _check_store(arr, adata, cfg)
    else:
        arr = np.ascontiguousarray(tracks)
        res["sha256"] = hashlib.sha256(arr.tobytes()).hexdigest()
        if cfg.get("save"):
            np.save(cfg["save"], arr)
            adata.obs[["chrom", "start", "end", "strand", "tss"]].to_csv(cfg["save"] + ".obs.tsv", sep="\t")
    print(json.dumps(res))


def _run_child(cmd: list[str], log: Path, timeout: float | None = None) -> dict:
    """Run ``cmd``; return wall/CPU seconds, peak RSS (MiB) from ``os.wait4``, exit code, load averages."""
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                p.kill()
            time.sleep(0.02)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024,
            "rc": p.returncode, "loadavg_before": load0[0], "loadavg_after": os.getloadavg()[0]}


def run_worker(cfg: dict, out: Path, tag: str) -> dict:
    log = out / f"{tag}.log"
    r = _run_child([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)], log)
    if r["rc"] != 0:
        raise RuntimeError(f"{tag} failed (rc {r['rc']}); see {log}:\n{log.read_text()[-3000:]}")
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    r.update(json.loads(lines[-1]))
    r["tag"] = tag
    n = r.get("n_genes")
    if n:
        r["genes_per_s_build"] = n / r["t_build"]
        r["genes_per_s_process"] = n / r["wall_s"]
    print(f"  {tag}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()
                                   if k in ("n_genes", "wall_s", "cpu_s", "t_build", "peak_rss_mib", "genes_per_s_build",
                                            "store_bytes", "store_check_max_abs_diff", "loadavg_before")), flush=True)
    return r


# ----------------------------------------------------------------------------------------------------------
# deepTools and the agreement check
# ----------------------------------------------------------------------------------------------------------
def run_computematrix(data: Path, bed: Path, out: Path, tag: str) -> dict:
    exe = shutil.which("computeMatrix")
    if exe is None:
        raise RuntimeError("computeMatrix not found: pip install deeptools (the 'bench' extra).")
    m = out / f"{tag}.mat.gz"
    cmd = [exe, "reference-point", "--referencePoint", "TSS", "-b", "1000", "-a", "1000", "--binSize", "1",
           "-p", "1", "--missingDataAsZero", "--sortRegions", "keep", "-S", *[str(data / f"{t}.bw") for t in TRACKS],
           "-R", str(bed), "-o", str(m)]
    r = _run_child(cmd, out / f"{tag}.log")
    if r["rc"] != 0:
        raise RuntimeError(f"computeMatrix failed: {(out / f'{tag}.log').read_text()[-3000:]}")
    r.update({"tag": tag, "cmd": " ".join(cmd), "matrix": str(m)})
    return r


def read_computematrix(path: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(names, strands, values float32 n x (n_samples * n_cols)) from a computeMatrix ``.gz`` matrix."""
    import pandas as pd

    with gzip.open(path, "rt") as fh:
        header = json.loads(fh.readline()[1:])
        df = pd.read_csv(fh, sep="\t", header=None)
    assert header["sample_labels"] == list(TRACKS), header["sample_labels"]
    vals = df.iloc[:, 6:].to_numpy(np.float64).astype(np.float32)
    return df[3].astype(str).tolist(), df[5].astype(str).to_numpy(), vals


def agreement(mat_path: str, pt_npy: str, orientation: str, width: int = 2000) -> dict:
    """Compare deepTools' matrix with prismtools' ``obsm["tracks"]`` gene by gene (matched by name).

    Columns, with ``t`` = the TSS (0-based first transcribed base: BED ``start`` on +, ``end - 1`` on -):

    * deepTools reference-point TSS, -b 1000 -a 1000, binSize 1: column ``i`` is base ``t - 1000 + i`` on +, and
      on - (it reads [end - 1000, end + 1000) and reverses the row) base ``end + 999 - i = t + 1000 - i``.
    * prismtools, ``reference`` orientation (default): column ``j`` is base ``t - 1000 + j`` on both strands.
    * prismtools, ``transcript`` orientation: + as above; on - the window starts one base later and the row is
      reversed, so column ``j`` is base ``t + 1000 - j`` -- deepTools' layout exactly.

    So on + strands the rows are equal; on - strands in reference orientation the prismtools row is deepTools'
    row mirrored about the TSS column (``pt[1000 + k] = dt[1000 - k]``, k = -999..999), with one base at each end
    unmatched (``pt[0]`` = base ``t - 1000``; ``dt[0]`` = base ``t + 1000``).
    """
    import pandas as pd

    names, strand, dt = read_computematrix(mat_path)
    pt = np.load(pt_npy)
    obs = pd.read_csv(pt_npy + ".obs.tsv", sep="\t", index_col=0)
    pos = pd.Series(np.arange(len(obs)), index=obs.index.astype(str))
    missing = [n for n in names if n not in pos.index]
    idx = pos.loc[[n for n in names if n in pos.index]].to_numpy()
    assert not missing, f"{len(missing)} deepTools rows not in prismtools output"
    assert (obs["strand"].to_numpy()[idx] == strand).all()
    pt = pt[idx]  # deepTools row order
    n, n_t, w = pt.shape
    dt = dt.reshape(n, n_t, w)
    plus, minus = strand == "+", strand == "-"
    out = {"orientation": orientation, "n_genes": int(n), "n_plus": int(plus.sum()), "n_minus": int(minus.sum()),
           "n_rows_deeptools": len(names), "n_rows_prismtools": int(len(obs))}

    def cmp(a, b):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        return {"max_abs_diff": float(d.max()) if d.size else 0.0, "n_values": int(d.size),
                "n_equal": int((a == b).sum()), "exact": bool(np.array_equal(a, b))}

    out["plus_rows"] = cmp(pt[plus], dt[plus])
    out["tss_column_all"] = cmp(pt[:, :, w // 2], dt[:, :, w // 2])
    if orientation == "transcript":
        out["minus_rows"] = cmp(pt[minus], dt[minus])
    else:
        out["minus_rows_as_is"] = cmp(pt[minus], dt[minus])
        out["minus_rows_mirrored_about_tss"] = cmp(pt[minus][:, :, 1:], dt[minus][:, :, 1:][:, :, ::-1])
        out["minus_rows_reversed_only"] = cmp(pt[minus], dt[minus][:, :, ::-1])
    return out


# ----------------------------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------------------------
def machine_info() -> dict:
    import importlib.metadata as md

    info = {"python": platform.python_version(), "platform": platform.platform()}
    try:
        info["lscpu"] = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()[:20]
    except OSError:
        pass
    info["ram_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    info["versions"] = {}
    for pkg in ("prismtools", "deeptools", "pyBigWig", "cooler", "dask", "zarr", "numpy", "anndata", "pyranges"):
        try:
            info["versions"][pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            info["versions"][pkg] = None
    try:
        info["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
        info["git_dirty_files"] = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True,
                                                 text=True).stdout.splitlines()
    except OSError:
        pass
    return info


def subset_bed(src: Path, dst: Path, n: int) -> int:
    lines = [ln for ln in src.read_text().splitlines() if ln and not ln.startswith(("#", "track"))]
    k = max(1, len(lines) // n)
    sub = lines[::k][:n]
    dst.write_text("\n".join(sub) + "\n")
    return len(sub)


def median_run(cfg: dict, out: Path, tag: str, repeats: int) -> dict:
    runs = [run_worker(cfg, out, f"{tag}_r{i}") for i in range(repeats)]
    order = sorted(range(len(runs)), key=lambda i: runs[i]["t_build"])
    med = dict(runs[order[len(runs) // 2]])
    med["tag"] = tag
    med["repeats"] = [{k: r[k] for k in ("wall_s", "cpu_s", "t_build", "peak_rss_mib", "loadavg_before")} for r in runs]
    return med


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/tmp/prism_bench/genome")
    ap.add_argument("--out", default="/tmp/prism_bench/run")
    ap.add_argument("--dt-genes", type=int, default=1000, help="genes in the deepTools comparison subset")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the all-genes 2 kb prismtools runs (median)")
    ap.add_argument("--ooc-genes", default="500,1000,2000", help="gene counts for the 200 kb store builds")
    ap.add_argument("--full-limit-s", type=float, default=1200, help="run the all-genes 200 kb build if the "
                    "extrapolated time is below this")
    ap.add_argument("--baseline-rev", default=None, help="also run the block __call__s of this git revision")
    ap.add_argument("--skip-deeptools", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_total = time.perf_counter()
    results: dict = {"machine": machine_info(), "args": vars(args), "runs": {}}
    R = results["runs"]
    genes_bed = data / "genes.bed"
    sub_bed = out / "subset.bed"
    n_sub = subset_bed(genes_bed, sub_bed, args.dt_genes)
    n_all = sum(1 for _ in open(genes_bed))
    print(f"genes: {n_all} (subset {n_sub}); load average {os.getloadavg()}", flush=True)
    base = {"data": str(data), "width": 2000}

    print("[1] import-only child (baseline RSS)", flush=True)
    R["import_only"] = run_worker({"kind": "import"}, out, "import_only")

    print("[2] deepTools computeMatrix vs prismtools on the subset", flush=True)
    if not args.skip_deeptools:
        R["deeptools_subset"] = run_computematrix(data, sub_bed, out, "deeptools_subset")
        R["deeptools_subset"]["n_genes"] = n_sub
        R["deeptools_subset"]["genes_per_s_process"] = n_sub / R["deeptools_subset"]["wall_s"]
        print(f"  deeptools_subset: wall_s={R['deeptools_subset']['wall_s']:.1f}, cpu_s="
              f"{R['deeptools_subset']['cpu_s']:.1f}, peak_rss_mib={R['deeptools_subset']['peak_rss_mib']:.0f}", flush=True)
    for nj in (1, 2):
        R[f"pt_subset_j{nj}"] = run_worker({**base, "kind": "tracks", "bed": str(sub_bed), "n_jobs": nj,
                                            "save": str(out / "pt_subset.npy") if nj == 1 else None}, out,
                                           f"pt_subset_j{nj}")
    R["pt_subset_transcript"] = run_worker({**base, "kind": "tracks", "bed": str(sub_bed), "n_jobs": 1,
                                            "orientation": "transcript", "save": str(out / "pt_subset_tx.npy")},
                                           out, "pt_subset_transcript")
    if not args.skip_deeptools:
        m = R["deeptools_subset"]["matrix"]
        results["agreement"] = {"reference": agreement(m, str(out / "pt_subset.npy"), "reference"),
                                "transcript": agreement(m, str(out / "pt_subset_tx.npy"), "transcript")}
        print(json.dumps(results["agreement"], indent=1), flush=True)

    print("[3] prismtools, all genes, 2 kb per base, in memory", flush=True)
    for nj, sched in ((1, "threads"), (2, "threads"), (2, "processes")):
        tag = f"pt_all_j{nj}_{sched}"
        R[tag] = median_run({**base, "kind": "tracks", "bed": str(genes_bed), "n_jobs": nj, "scheduler": sched},
                            out, tag, args.repeats if sched == "threads" else 1)
    print("[4] add_hic, all genes, 2 kb", flush=True)
    for nj in (1, 2):
        R[f"hic_all_j{nj}"] = run_worker({**base, "kind": "hic", "bed": str(genes_bed), "n_jobs": nj}, out,
                                         f"hic_all_j{nj}")
    if args.baseline_rev:
        print(f"[4b] the same with the block __call__s of {args.baseline_rev}", flush=True)
        R["baseline_pt_all_j1"] = median_run({**base, "kind": "tracks", "bed": str(genes_bed), "n_jobs": 1,
                                              "baseline_rev": args.baseline_rev}, out, "baseline_pt_all_j1",
                                             args.repeats)
        R["baseline_hic_all_j1"] = run_worker({**base, "kind": "hic", "bed": str(genes_bed), "n_jobs": 1,
                                               "baseline_rev": args.baseline_rev}, out, "baseline_hic_all_j1")
        results["baseline_identical"] = {
            "tracks": R["baseline_pt_all_j1"]["sha256"] == R["pt_all_j1_threads"]["sha256"],
            "hic": R["baseline_hic_all_j1"]["sha256"] == R["hic_all_j1"]["sha256"]}
        print(f"  outputs identical to {args.baseline_rev}: {results['baseline_identical']}", flush=True)

    print("[5] 200 kb per base, 3 tracks, streamed into a zarr store", flush=True)
    ooc = [int(x) for x in args.ooc_genes.split(",") if x]
    for n in ooc:
        bed = out / f"first{n}.bed"
        bed.write_text("".join(open(genes_bed).readlines()[:n]))
        R[f"ooc_{n}"] = run_worker({**base, "kind": "tracks", "bed": str(bed), "width": 200_000, "n_jobs": 1,
                                    "store": str(out / f"ooc_{n}.zarr")}, out, f"ooc_{n}")
        shutil.rmtree(out / f"ooc_{n}.zarr", ignore_errors=True)
    n_big = max(ooc)
    R[f"ooc_{n_big}_j2"] = run_worker({**base, "kind": "tracks", "bed": str(out / f"first{n_big}.bed"),
                                       "width": 200_000, "n_jobs": 2, "store": str(out / "ooc_j2.zarr")}, out,
                                      f"ooc_{n_big}_j2")
    shutil.rmtree(out / "ooc_j2.zarr", ignore_errors=True)
    if args.baseline_rev:
        R[f"baseline_ooc_{n_big}"] = run_worker({**base, "kind": "tracks", "bed": str(out / f"first{n_big}.bed"),
                                                 "width": 200_000, "n_jobs": 1, "store": str(out / "ooc_base.zarr"),
                                                 "baseline_rev": args.baseline_rev}, out, f"baseline_ooc_{n_big}")
        shutil.rmtree(out / "ooc_base.zarr", ignore_errors=True)
    big = R[f"ooc_{n_big}"]
    est_s = big["t_build"] * n_all / n_big
    est_bytes = big["store_bytes"] * n_all / n_big
    free = shutil.disk_usage(out).free
    results["ooc_full_estimate"] = {"build_s": est_s, "store_bytes": est_bytes, "disk_free_bytes": free,
                                    "float32_bytes": n_all * len(TRACKS) * 200_000 * 4}
    print(f"  all {n_all} genes: extrapolated {est_s:.0f} s, store ~{est_bytes / 2**20:.0f} MiB; "
          f"disk free {free / 2**30:.0f} GiB", flush=True)
    if est_s < args.full_limit_s and 3 * est_bytes < free:
        R["ooc_all"] = run_worker({**base, "kind": "tracks", "bed": str(genes_bed), "width": 200_000, "n_jobs": 1,
                                   "store": str(out / "ooc_all.zarr")}, out, "ooc_all")
        shutil.rmtree(out / "ooc_all.zarr", ignore_errors=True)
    else:
        print("  skipping the all-genes 200 kb build (over --full-limit-s or not enough disk)", flush=True)

    results["total_s"] = time.perf_counter() - t_total
    results["loadavg_end"] = os.getloadavg()
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = summary(results)
    (out / "summary.md").write_text(md)
    print(md)


def summary(res: dict) -> str:
    R = res["runs"]
    rows = ["| configuration | genes | wall (process) | CPU | build time | genes/s (build) | genes/s (process) | "
            "peak RSS |", "|---|---|---|---|---|---|---|---|"]

    def row(label, r):
        if r is None:
            return
        gb = f"{r['genes_per_s_build']:.0f}" if "genes_per_s_build" in r else "-"
        tb = f"{r['t_build']:.1f} s" if "t_build" in r else "-"
        rows.append(f"| {label} | {r.get('n_genes', '-')} | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {tb} | {gb} | "
                    f"{r.get('n_genes', 0) / r['wall_s']:.0f} | {r['peak_rss_mib']:.0f} MiB |")

    r0 = R["import_only"]
    rows.append(f"| python + import prismtools only | - | {r0['wall_s']:.1f} s | {r0['cpu_s']:.1f} s | - | - | - | "
                f"{r0['peak_rss_mib']:.0f} MiB |")
    row("deepTools computeMatrix, binSize 1, -p 1", R.get("deeptools_subset"))
    row("prismtools subset, n_jobs=1", R.get("pt_subset_j1"))
    row("prismtools subset, n_jobs=2", R.get("pt_subset_j2"))
    row("prismtools all, n_jobs=1 (threads)", R.get("pt_all_j1_threads"))
    row("prismtools all, n_jobs=2 (threads)", R.get("pt_all_j2_threads"))
    row("prismtools all, 2 dask processes (patched)", R.get("pt_all_j2_processes"))
    row("prismtools all, n_jobs=1, block code at baseline rev", R.get("baseline_pt_all_j1"))
    row("add_hic all (5 kb), n_jobs=1", R.get("hic_all_j1"))
    row("add_hic all (5 kb), n_jobs=2", R.get("hic_all_j2"))
    row("add_hic all, block code at baseline rev", R.get("baseline_hic_all_j1"))
    for k, r in R.items():
        if k.startswith(("ooc_", "baseline_ooc_")):
            row(f"200 kb x 3 tracks -> zarr store ({k}); store {r['store_bytes'] / 2**20:.0f} MiB for "
                f"{r['nbytes_float32'] / 2**30:.1f} GiB of float32", r)
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    main()
