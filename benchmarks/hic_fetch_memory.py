"""Peak memory of pt.pp.add_hic over a wide window (issue 9): 40 chr22 genes, 2 Mb window, 5-kb bins, real K562
Hi-C (../shared/data/k562_hg38/K562_hg38_chr22_5kb.cool). Run it once per checkout and compare:

    PYTHONPATH=/path/to/checkout python benchmarks/hic_fetch_memory.py

Prints the peak resident memory (ru_maxrss) of the process after the build, the baseline before it, and the
output size.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import prismtools as pt

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "k562_hg38"


def main() -> None:
    pt.settings.progress = False
    pt.settings.n_jobs = 1
    genes = pd.read_csv(DATA / "k562_hg38_chr22_chr16_genes.tsv", sep="\t")
    genes = genes[genes["chrom"] == "chr22"].iloc[100:140]
    a = pt.pp.read_genes(genes.rename(columns={"symbol": "gene_id"})[["chrom", "gene_start", "gene_end", "strand", "gene_id"]])
    pt.pp.set_window(a, 2_000_000, bin_size=5000)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    pt.pp.add_hic(a, DATA / "K562_hg38_chr22_5kb.cool", sample="K562", balance=False)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = np.asarray(a.obsm["tracks"])
    print(f"{pt.__file__}: {a.n_obs} genes, output {out.nbytes / 1024:.0f} KiB, "
          f"peak RSS {peak:.0f} MiB (before the build {base:.0f} MiB), {dt:.1f} s", file=sys.stdout)


if __name__ == "__main__":
    main()
