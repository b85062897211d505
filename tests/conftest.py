"""Shared fixtures: tiny real-format files (FASTA, bigWig, .cool/.mcool, GTF, BED) made in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "agg")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHROMS = {"chr1": 50_000, "chr2": 30_000}


@pytest.fixture(autouse=True)
def _quiet_settings():
    import prismtools as pt

    old = pt.settings.progress, pt.settings.chunk_genes, pt.settings.n_jobs
    pt.settings.progress = False
    pt.settings.chunk_genes = 4
    yield
    pt.settings.progress, pt.settings.chunk_genes, pt.settings.n_jobs = old


@pytest.fixture(scope="session")
def shared():
    """Path of ../shared/data (the real public files); tests using it skip cleanly where it is absent."""
    if not SHARED.exists():
        pytest.skip("../shared/data is not available")
    return SHARED


@pytest.fixture(scope="session")
def genome(tmp_path_factory):
    """A 2-chromosome genome: FASTA with known sequence, bigWig with signal = position, a .cool and .mcool."""
    import cooler
    import pyBigWig

    d = tmp_path_factory.mktemp("genome")
    rng = np.random.default_rng(0)
    seqs = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in CHROMS.items()}
    with open(d / "genome.fa", "w") as fh:
        for c, s in seqs.items():
            fh.write(f">{c}\n")
            for i in range(0, len(s), 60):
                fh.write(s[i : i + 60] + "\n")
    # bigWig: value at base p of chrX = p (chr1) or 10*p (chr2), except a gap on chr1 [100, 200)
    bw = pyBigWig.open(str(d / "signal.bw"), "w")
    bw.addHeader(list(CHROMS.items()))
    for c, n in CHROMS.items():
        starts = np.arange(n, dtype=np.int64)
        vals = starts.astype(np.float64) * (1 if c == "chr1" else 10)
        keep = ~((starts >= 100) & (starts < 200)) if c == "chr1" else np.ones(n, bool)
        bw.addEntries(c, int(0), values=vals[keep][: 100].tolist(), span=1, step=1)
        bw.addEntries(c, int(200) if c == "chr1" else 100, values=vals[(200 if c == "chr1" else 100):].tolist(), span=1, step=1)
    bw.close()
    # bigWig without the "chr" prefix, only chr1
    bw = pyBigWig.open(str(d / "nochr.bw"), "w")
    bw.addHeader([("1", CHROMS["chr1"])])
    bw.addEntries("1", 0, values=[1.0] * CHROMS["chr1"], span=1, step=1)
    bw.close()
    # cooler at 1 kb: contact(i, j) = 1 + i + j (bin indices within chromosome) for |i - j| <= 20
    res = 1000
    bins = cooler.binnify(pd.Series(CHROMS), res)
    offs = np.r_[0, np.cumsum([int(np.ceil(n / res)) for n in CHROMS.values()])]
    rows = []
    for k, c in enumerate(CHROMS):
        nb = offs[k + 1] - offs[k]
        i, j = np.triu_indices(nb)
        m = (j - i) <= 20
        i, j = i[m], j[m]
        rows.append(pd.DataFrame({"bin1_id": i + offs[k], "bin2_id": j + offs[k], "count": 1 + i + j}))
    pixels = pd.concat(rows, ignore_index=True)
    cooler.create_cooler(str(d / "contacts.cool"), bins, pixels, ordered=True)
    cooler.create_cooler(str(d / "multi.mcool") + "::/resolutions/1000", bins, pixels, ordered=True)
    genes = pd.DataFrame(
        {
            "Chromosome": ["chr1", "chr1", "chr1", "chr2", "chr2", "chr1"],
            "Start": [1_000, 20_000, 49_500, 5_000, 15_000, 300],
            "End": [3_000, 25_000, 49_900, 9_000, 18_000, 800],
            "Name": ["G1", "G2", "G3", "G4", "G5", "G6"],
            "Score": 0,
            "Strand": ["+", "-", "+", "-", "+", "+"],
        }
    )
    genes.to_csv(d / "genes.bed", sep="\t", header=False, index=False)
    with open(d / "genes.gtf", "w") as fh:
        for r in genes.itertuples():
            attrs = f'gene_id "ENSG{r.Index:05d}.3"; gene_name "{r.Name}"; gene_type "{"lncRNA" if r.Index == 4 else "protein_coding"}";'
            fh.write(f"{r.Chromosome}\ttest\tgene\t{r.Start + 1}\t{r.End}\t.\t{r.Strand}\t.\t{attrs}\n")
            fh.write(f"{r.Chromosome}\ttest\texon\t{r.Start + 1}\t{r.End}\t.\t{r.Strand}\t.\t{attrs}\n")
    return {"dir": d, "fasta": d / "genome.fa", "bigwig": d / "signal.bw", "nochr": d / "nochr.bw",
            "cool": d / "contacts.cool", "mcool": d / "multi.mcool", "bed": d / "genes.bed", "gtf": d / "genes.gtf",
            "seqs": seqs, "res": res}


@pytest.fixture
def genes(genome):
    import prismtools as pt

    return pt.pp.read_genes(genome["bed"])
