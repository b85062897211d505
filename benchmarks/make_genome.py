"""Generate genome-scale synthetic inputs for the track-building benchmark (seeded, vectorised numpy).

Writes into ``--out`` (default ``/tmp/prism_bench/genome``):

* ``chrom.sizes``      23 chromosomes (chr1..chr22, chrX) of ``--chrom-size`` bp (20 Mb by default)
* ``genes.bed``        BED6 of ``--n-genes`` genes (random TSS and strand, unique names, sorted by position)
* ``H3K27ac.bw``       acetylation-like: broad peaks near most TSSs (shifted downstream, so strand-asymmetric)
                       and distal enhancers on a low background; fixed 50 bp steps over every base
* ``DNase.bw``         accessibility-like: sharp peaks at TSSs and many distal sites; *sparse* (50 bp entries
                       only where the signal is non-zero, so there are uncovered gaps = missing data)
* ``H3K4me3.bw``       promoter mark: wide peaks just downstream of TSSs; fixed 50 bp steps
* ``hic.mcool``        Hi-C with distance decay for contacts within ``--hic-max-dist`` (1 Mb), 5 kb and 10 kb,
                       balanced (``bins/weight``) at both resolutions

bigWig values are rounded to 2 decimals so that deepTools' text output (``%f``, 6 decimals) round-trips them
exactly; the comparison in ``bench_tracks.py`` is then exact, not up to printing precision.

    python benchmarks/make_genome.py --out /tmp/prism_bench/genome --n-genes 20000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

STEP = 50
CHROMS = [f"chr{i}" for i in range(1, 23)] + ["chrX"]


def gaussian_kernel(sigma_bins: float) -> np.ndarray:
    r = int(np.ceil(4 * sigma_bins))
    x = np.arange(-r, r + 1)
    return np.exp(-0.5 * (x / sigma_bins) ** 2)


def peaks(n_bins: int, centres_bp: np.ndarray, heights: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Sum of Gaussian peaks (per 50 bp bin): impulses at the centres convolved with a kernel."""
    imp = np.zeros(n_bins)
    b = np.clip(centres_bp // STEP, 0, n_bins - 1).astype(np.int64)
    np.add.at(imp, b, heights)
    return np.convolve(imp, gaussian_kernel(sigma_bins), mode="same")


def make_genes(rng, sizes: dict[str, int], n_genes: int, margin: int) -> pd.DataFrame:
    names = list(sizes)
    chrom_idx = np.sort(rng.integers(0, len(names), n_genes))
    size_arr = np.array([sizes[names[i]] for i in chrom_idx])
    tss = (margin + rng.random(n_genes) * (size_arr - 2 * margin)).astype(np.int64)
    strand = np.where(rng.random(n_genes) < 0.5, "+", "-")
    length = np.clip(rng.lognormal(np.log(20_000), 1.0, n_genes), 500, 200_000).astype(np.int64)
    start = np.where(strand == "+", tss, np.maximum(0, tss + 1 - length))
    end = np.where(strand == "+", np.minimum(size_arr, tss + length), tss + 1)
    df = pd.DataFrame({"chrom": [names[i] for i in chrom_idx], "start": start, "end": end,
                       "name": "", "score": 0, "strand": strand, "_c": chrom_idx, "_tss": tss})
    df = df.sort_values(["_c", "start", "end"], kind="stable").reset_index(drop=True)
    df["name"] = [f"GENE{i:05d}" for i in range(1, len(df) + 1)]
    return df


def write_bigwigs(rng, sizes: dict[str, int], genes: pd.DataFrame, out: Path) -> dict[str, float]:
    import pyBigWig

    files = {k: pyBigWig.open(str(out / f"{k}.bw"), "w") for k in ("H3K27ac", "DNase", "H3K4me3")}
    for bw in files.values():
        bw.addHeader([(c, int(sizes[c])) for c in sizes], maxZooms=10)
    n_entries = {k: 0 for k in files}
    for c, size in sizes.items():
        nb = size // STEP
        g = genes[genes["chrom"] == c]
        tss = g["_tss"].to_numpy()
        sgn = np.where(g["strand"].to_numpy() == "+", 1, -1)
        n = len(g)
        # H3K27ac: ~70% of promoters, peak 300 bp downstream (strand-aware), plus distal enhancers
        act = rng.random(n) < 0.7
        n_enh = 2 * n + nb // 2000
        k27 = (rng.gamma(0.6, 0.25, nb)
               + peaks(nb, (tss + 300 * sgn)[act], rng.lognormal(2.0, 0.7, int(act.sum())), 8)
               + peaks(nb, rng.integers(0, size, n_enh), rng.lognormal(1.3, 0.7, n_enh), 6))
        # DNase: sharp, ~80% of promoters, many distal sites; zero (hence omitted) background
        op = rng.random(n) < 0.8
        n_dhs = 4 * n + nb // 500
        dnase = (peaks(nb, (tss + rng.integers(-150, 150, n))[op], rng.lognormal(2.5, 0.8, int(op.sum())), 2)
                 + peaks(nb, rng.integers(0, size, n_dhs), rng.lognormal(1.5, 0.8, n_dhs), 1.5))
        dnase[dnase < 0.05] = 0.0
        # H3K4me3: wide, ~60% of promoters, 800 bp downstream
        k4 = rng.random(n) < 0.6
        k4me3 = rng.gamma(0.3, 0.1, nb) + peaks(nb, (tss + 800 * sgn)[k4], rng.lognormal(2.2, 0.5, int(k4.sum())), 20)
        for key, v in (("H3K27ac", k27), ("DNase", dnase), ("H3K4me3", k4me3)):
            v = np.round(v, 2)
            if key == "DNase":  # sparse: bedGraph-like variable-step entries of 50 bp, gaps = no data
                nz = np.flatnonzero(v > 0)
                files[key].addEntries(c, (nz * STEP).astype(np.int64).tolist(), values=v[nz].astype(np.float64).tolist(),
                                      span=STEP)
                n_entries[key] += len(nz)
            else:  # fixed step over the whole chromosome
                files[key].addEntries(c, 0, values=v.astype(np.float64), span=STEP, step=STEP)
                n_entries[key] += nb
    for bw in files.values():
        bw.close()
    return n_entries


def balance(mcool: Path, res: int, ignore_diags: int = 2, tol: float = 1e-5, max_iters: int = 1000) -> dict:
    """Matrix balancing (symmetric Sinkhorn / ICE) stored as ``bins/weight`` the way ``cooler balance`` does.

    ``cooler.balance_cooler`` (0.11) did not reach its tolerance within 200 iterations on this banded synthetic
    matrix (and took ~20 s on a 10x smaller genome), so the same iteration is run here on a scipy sparse matrix
    (converges in ~10 iterations): weights
    ``w`` such that ``count_ij * w_i * w_j`` has unit row sums (diagonals ``|i - j| < ignore_diags`` ignored).
    """
    import cooler
    import h5py
    import scipy.sparse as sp

    uri = f"{mcool}::resolutions/{res}"
    clr = cooler.Cooler(uri)
    n = clr.info["nbins"]
    px = clr.pixels()[:]
    i, j, v = px["bin1_id"].to_numpy(), px["bin2_id"].to_numpy(), px["count"].to_numpy(np.float64)
    keep = (j - i) >= ignore_diags
    i, j, v = i[keep], j[keep], v[keep]
    a = sp.coo_matrix((np.concatenate([v, v]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
    w = np.ones(n)
    good = np.asarray(a.sum(axis=1)).ravel() > 0
    w[~good] = 0
    for it in range(max_iters):
        m = w * (a @ w)
        mm = m[good]
        var = float(np.var(mm / mm.mean()))
        if var < tol:
            break
        w[good] = w[good] / np.sqrt(mm / mm.mean())
    m = w * (a @ w)
    w = w / np.sqrt(m[good].mean())  # unit marginals
    w[~good] = np.nan
    with h5py.File(str(mcool), "r+") as f:
        bins = f[f"resolutions/{res}/bins"]
        if "weight" in bins:
            del bins["weight"]
        ds = bins.create_dataset("weight", data=w, compression="gzip", compression_opts=6)
        ds.attrs.update({"ignore_diags": ignore_diags, "converged": var < tol, "var": var, "n_iters": it,
                         "cis_only": False, "divisive_weights": False})
    return {"res": res, "iters": it, "var": var}


def write_mcool(rng, sizes: dict[str, int], out: Path, res: int, max_dist: int) -> int:
    import cooler

    chromsizes = pd.Series(sizes, dtype=np.int64)
    bins = cooler.binnify(chromsizes, res)
    offsets = np.concatenate([[0], np.cumsum([(s + res - 1) // res for s in sizes.values()])])
    max_d = max_dist // res
    parts = []
    for ci, (c, size) in enumerate(sizes.items()):
        nb = int(offsets[ci + 1] - offsets[ci])
        vis = rng.lognormal(0.0, 0.3, nb)  # per-bin visibility, so balancing has something to remove
        i = np.repeat(np.arange(nb), max_d + 1)
        j = i + np.tile(np.arange(max_d + 1), nb)
        ok = j < nb
        i, j = i[ok], j[ok]
        lam = 400.0 / (1.0 + (j - i)) ** 1.1 * vis[i] * vis[j]
        cnt = rng.poisson(lam)
        keep = cnt > 0
        parts.append(pd.DataFrame({"bin1_id": i[keep] + offsets[ci], "bin2_id": j[keep] + offsets[ci],
                                   "count": cnt[keep].astype(np.int32)}))
    pixels = pd.concat(parts, ignore_index=True)
    base = out / f"hic.{res}.cool"
    cooler.create_cooler(str(base), bins, pixels, ordered=True, dtypes={"count": np.int32})
    mcool = out / "hic.mcool"
    cooler.zoomify_cooler(str(base), str(mcool), resolutions=[res, 2 * res], chunksize=10_000_000, nproc=1)
    base.unlink()
    for r in (res, 2 * res):  # zoomify does not balance by itself
        balance(mcool, r)
    return len(pixels)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/prism_bench/genome")
    ap.add_argument("--n-genes", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chrom-size", type=int, default=20_000_000)
    ap.add_argument("--margin", type=int, default=5_000, help="keep TSSs this far from chromosome ends")
    ap.add_argument("--hic-res", type=int, default=5_000)
    ap.add_argument("--hic-max-dist", type=int, default=1_000_000)
    ap.add_argument("--no-hic", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    sizes = {c: args.chrom_size for c in CHROMS}
    t0 = time.perf_counter()
    (out / "chrom.sizes").write_text("".join(f"{c}\t{s}\n" for c, s in sizes.items()))
    genes = make_genes(rng, sizes, args.n_genes, args.margin)
    genes[["chrom", "start", "end", "name", "score", "strand"]].to_csv(out / "genes.bed", sep="\t", header=False,
                                                                       index=False)
    t1 = time.perf_counter()
    n_entries = write_bigwigs(rng, sizes, genes, out)
    t2 = time.perf_counter()
    n_pix = 0 if args.no_hic else write_mcool(rng, sizes, out, args.hic_res, args.hic_max_dist)
    t3 = time.perf_counter()
    info = {"seed": args.seed, "n_genes": len(genes), "chroms": len(sizes), "chrom_size": args.chrom_size,
            "genes_plus": int((genes["strand"] == "+").sum()), "bigwig_entries": n_entries, "hic_pixels": n_pix,
            "seconds": {"genes": round(t1 - t0, 1), "bigwigs": round(t2 - t1, 1), "mcool": round(t3 - t2, 1)},
            "files": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}}
    (out / "genome.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
