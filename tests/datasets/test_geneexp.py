"""``pt.datasets.read_geneexp`` on a miniature copy of the Seq2Exp "GeneExp" layout, and the reproduction script.

The miniature has the real file formats (FASTA text, bigWig via pyBigWig, HDF5 via h5py, CSV/TSV via pandas) and
the real file names, with 4 small chromosomes (chr1 train, chr3 valid, chr22 and chrX test under fold 11) and
synthetic values chosen so that every value in the dataset can be predicted exactly.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import prismtools as pt
from prismtools.pp._sequence import encode

CHROMS = {"chr1": 260_000, "chr3": 240_000, "chr22": 230_000, "chrX": 250_000}
SPAN = 200_000  # stored Hi-C profile length
L = 2000
ROOT_FILES = {
    "expression": "promo_enhan_inter/GM12878_K562_18377_gene_expr_fromXpresso.csv",
    "folds": "promo_enhan_inter/leave_chrom_out_crossvalidation_split_18377genes.csv",
    "gene_list": "promo_enhan_inter/K562_DNase_ENCFF257HEE_hic_4DNFITUOMFUQ_1MB_ABC_nominated/"
    "DNase_ENCFF257HEE_Neighborhoods/GeneList.txt",
    "h3k27ac": "promo_enhan_inter/H3K27ac/K562/ENCFF465GBD.bigWig",
    "dnase": "promo_enhan_inter/DNase-seq/K562/ENCFF414OGC.bigWig",
    "hic": "promo_enhan_inter/HiC/K562",
    "fasta": "hg38/hg38.ml.fa",
}
# (chrom, tss, strand): the ABC GeneList convention, tss = start on +, end on -
GENES = [
    ("chr1", 120_000, "+"),
    ("chr1", 500, "+"),  # window and Hi-C profile clipped at the chromosome start
    ("chr1", 259_400, "-"),  # ... and at the end
    ("chr1", 150_003, "-"),
    ("chr1", 180_000, "+"),
    ("chr1", 60_000, "-"),
    ("chr3", 110_000, "+"),
    ("chr3", 200_000, "-"),
    ("chr22", 105_000, "+"),
    ("chr22", 200_000, "-"),
    ("chrX", 125_000, "+"),
    ("chrX", 101_234, "-"),
]
IDS = [f"ENSG{i:011d}" for i in range(1, len(GENES) + 1)]
MISSING_ID = "ENSG00000099999"  # in the expression table only: dropped
GL_ONLY_ID = "ENSG00000088888"  # in the GeneList only: ignored
NAN_OFFSET = 10  # the Hi-C profile of every gene is NaN at tss + NAN_OFFSET
H3_GAP = (119_900, 119_950)  # chr1 bases without H3K27ac data


def h3k27ac_value(k: int, p: np.ndarray) -> np.ndarray:
    return (p % 1000 + 1000 * k).astype(np.float32)


def dnase_value(k: int, p: np.ndarray) -> np.ndarray:
    return ((p % 13) * 0.25 + k).astype(np.float32)


def hic_value(g: int, tss: int, q: np.ndarray) -> np.ndarray:
    return (np.abs(q - tss) // 7 + 3 * g).astype(np.float32)


def make_geneexp(root: Path, seed: int = 0) -> dict:
    """Write the miniature GeneExp layout under ``root``; return the ground truth."""
    import h5py
    import pyBigWig

    rng = np.random.default_rng(seed)
    for rel in ROOT_FILES.values():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / ROOT_FILES["hic"]).mkdir(parents=True, exist_ok=True)
    (root / "chr_length.json").write_text(json.dumps({"hg38": CHROMS}))
    seqs = {}
    with open(root / ROOT_FILES["fasta"], "w") as fh:
        for c, n in CHROMS.items():
            s = "".join(rng.choice(list("ACGTacgt"), n))
            s = s[:1000] + "N" * 50 + s[1050:]  # an N run near chr starts
            seqs[c] = s
            fh.write(f">{c}\n")
            for i in range(0, n, 80):
                fh.write(s[i : i + 80] + "\n")
    for what, fn in (("h3k27ac", h3k27ac_value), ("dnase", dnase_value)):
        bw = pyBigWig.open(str(root / ROOT_FILES[what]), "w")
        bw.addHeader(list(CHROMS.items()))
        for k, (c, n) in enumerate(CHROMS.items()):
            p = np.arange(n, dtype=np.int64)
            vals = fn(k, p).astype(np.float64)
            if what == "h3k27ac" and c == "chr1":
                a, b = H3_GAP
                bw.addEntries(c, 0, values=vals[:a].tolist(), span=1, step=1)
                bw.addEntries(c, b, values=vals[b:].tolist(), span=1, step=1)
            else:
                bw.addEntries(c, 0, values=vals.tolist(), span=1, step=1)
        bw.close()
    n = len(GENES)
    length = rng.integers(3_000, 20_000, n)
    start = np.array([t if s == "+" else t - ln for (_, t, s), ln in zip(GENES, length)])
    end = np.array([t + ln if s == "+" else t for (_, t, s), ln in zip(GENES, length)])
    start = np.maximum(start, 0)
    end = np.array([min(e, CHROMS[c]) for e, (c, _, _) in zip(end, GENES)])
    gl = pd.DataFrame(
        {
            "chr": [g[0] for g in GENES] + ["chr1"],
            "start": list(start) + [5_000],
            "end": list(end) + [9_000],
            "name": [f"GENE{i}" for i in range(n)] + ["GLONLY"],
            "score": 0,
            "strand": [g[2] for g in GENES] + ["+"],
            "symbol": IDS + [GL_ONLY_ID],
            "tss": [g[1] for g in GENES] + [5_000],
            "Expression": np.nan,
            "H3K27ac.RPM": rng.gamma(2.0, 3.0, n + 1),
            "H3K27ac.RPM.TSS1Kb": rng.gamma(2.0, 3.0, n + 1),
            "DHS.RPM.TSS1Kb": rng.gamma(2.0, 2.0, n + 1),
        }
    )
    gl = gl.iloc[::-1]  # row order differs from the expression table's
    gl.to_csv(root / ROOT_FILES["gene_list"], sep="\t", index=False)
    mrna = {
        "UTR5LEN_log10zscore": rng.normal(size=n + 1),
        "CDSLEN_log10zscore": rng.normal(size=n + 1),
        "INTRONLEN_log10zscore": rng.normal(size=n + 1),
        "UTR3LEN_log10zscore": rng.normal(size=n + 1),
        "UTR5GC": rng.uniform(0.3, 0.7, n + 1),
        "CDSGC": rng.uniform(0.3, 0.7, n + 1),
        "UTR3GC": rng.uniform(0.3, 0.7, n + 1),
        "ORFEXONDENSITY": rng.normal(size=n + 1),
    }
    ids = IDS[:5] + [MISSING_ID] + IDS[5:]
    expr = pd.DataFrame(
        {
            "ENSID": ids,
            "K562_CAGE_128*3_sum": np.round(rng.gamma(1.0, 300.0, n + 1), 3),
            "GM12878_CAGE_128*3_sum": np.round(rng.gamma(1.0, 300.0, n + 1), 3),
            **mrna,
            "Gene stable ID": ids,
            "Gene name": [f"SYM{i}" for i in range(n + 1)],
        }
    )
    expr.to_csv(root / ROOT_FILES["expression"], index=False)
    chrom_of = dict(zip(IDS, [g[0] for g in GENES]))
    fold11 = {"chr22": "test", "chrX": "test", "chr3": "valid"}
    fold1 = {"chr1": "test", "chr22": "valid"}
    folds = pd.DataFrame({"ENSID": IDS, "chrom": [chrom_of[i] for i in IDS]})
    for f in range(1, 13):
        m = fold11 if f == 11 else fold1
        folds[f"fold_{f}"] = [m.get(chrom_of[i], "train") for i in IDS]
    folds["fold_enformer"] = "train"
    folds["Gene name"] = [f"GENE{i}" for i in range(n)]
    folds.to_csv(root / ROOT_FILES["folds"], index=False)
    for c in CHROMS:
        with h5py.File(root / ROOT_FILES["hic"] / f"hic_feat_{c}.h5", "w") as f:
            for g, (gc, t, _) in enumerate(GENES):
                if gc != c:
                    continue
                lo, hi = max(0, t - SPAN // 2), min(CHROMS[c], t + SPAN // 2)
                prof = hic_value(g, t, np.arange(lo, hi))
                prof[t + NAN_OFFSET - lo] = np.nan
                f.create_dataset(f"{c}_{t}", data=prof)
            f.create_dataset(f"{c}_1", data=np.zeros(10, np.float32))  # a gene not in the dataset
    return {"seqs": seqs, "gene_list": gl.set_index("symbol"), "expr": expr.set_index("ENSID"), "folds": folds}


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("GeneExp")
    truth = make_geneexp(root)
    return root, truth


@pytest.fixture(scope="module")
def built(layout):
    """The dataset read once (in memory), with the log records of the read."""
    root, truth = layout
    records = []

    class _H(logging.Handler):
        def emit(self, record):
            records.append(record)

    h = _H(level=logging.INFO)
    log = logging.getLogger("prismtools")
    old = log.level
    log.addHandler(h)
    log.setLevel(logging.INFO)
    pt.settings.progress, pt.settings.chunk_genes = False, 4
    try:
        adata = pt.datasets.read_geneexp(root, cell="K562")
    finally:
        log.removeHandler(h)
        log.setLevel(old)
    # genes come back in genomic order (read_genes); the checks below index them in the expression table's order
    rank = {c: i for i, c in enumerate(["chr1", "chr3", "chr22", "chrX"])}
    key = list(zip(adata.obs["chrom"].map(rank), adata.obs["tss"]))
    assert key == sorted(key) and set(adata.obs_names) == set(IDS)
    return adata[IDS].copy(), truth, [r.getMessage() for r in records]


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy of the layout made of symlinks (cheap); replace or delete a link to alter one file."""
    for d, _, files in os.walk(src):
        out = dst / Path(d).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            if not f.endswith(".fai"):
                os.symlink(Path(d) / f, out / f)
    return dst


def window_positions(tss: int) -> np.ndarray:
    return np.arange(tss - L // 2, tss + L // 2)


# ------------------------------------------------------------------------------------------------------------------
# the dataset
# ------------------------------------------------------------------------------------------------------------------


def test_genes_coordinates_and_drops(built):
    adata, truth, logs = built
    assert adata.n_obs == 12 and adata.n_vars == 1 and list(adata.var_names) == ["K562"]
    assert sorted(adata.obs_names) == sorted(IDS)  # MISSING_ID dropped
    assert MISSING_ID not in adata.obs_names and GL_ONLY_ID not in adata.obs_names
    assert any("dropping 1 of 13 genes" in m and MISSING_ID in m for m in logs)
    gl = truth["gene_list"].loc[IDS]
    assert adata.obs["chrom"].tolist() == gl["chr"].tolist()
    assert adata.obs["tss"].tolist() == gl["tss"].tolist()  # ABC tss as given (= end on the minus strand)
    assert adata.obs["start"].tolist() == gl["start"].tolist() and adata.obs["end"].tolist() == gl["end"].tolist()
    assert adata.obs["strand"].astype(str).tolist() == gl["strand"].tolist()
    assert adata.obs["gene_name"].tolist() == truth["expr"].loc[IDS, "Gene name"].tolist()
    info = adata.uns["prism"]["geneexp"]
    assert info["cell"] == "K562" and info["n_genes_dropped"] == 1 and info["n_genes_expression_table"] == 13
    win = adata.uns["prism"]["window"]
    assert (win["width"], win["bin_size"], win["assembly"], win["orientation"]) == (2000, 1, "hg38", "reference")


def test_target_is_log10_cage(built):
    adata, truth, _ = built
    raw = truth["expr"].loc[IDS, "K562_CAGE_128*3_sum"].to_numpy(np.float64)
    assert adata.X.dtype == np.float32
    np.testing.assert_array_equal(adata.X[:, 0], np.log10(raw + 1.0).astype(np.float32))
    np.testing.assert_array_equal(adata.layers["raw"][:, 0], raw.astype(np.float32))
    assert adata.var.loc["K562", "transform"] == "log10p1" and adata.var.loc["K562", "n_measured"] == 12


def test_covariates(built):
    adata, truth, _ = built
    names = adata.uns["prism"]["covariates"]
    assert list(names) == [
        "UTR5LEN_log10zscore", "CDSLEN_log10zscore", "INTRONLEN_log10zscore", "UTR3LEN_log10zscore",
        "UTR5GC", "CDSGC", "UTR3GC", "ORFEXONDENSITY", "promoter_activity",
    ]
    cov = adata.obsm["covariates"]
    assert cov.shape == (12, 9) and cov.dtype == np.float32
    for j, name in enumerate(names[:8]):
        np.testing.assert_array_equal(cov[:, j], truth["expr"].loc[IDS, name].to_numpy(np.float32), err_msg=name)
    gl = truth["gene_list"].loc[IDS]
    pa = np.sqrt(gl["H3K27ac.RPM.TSS1Kb"].to_numpy() * gl["DHS.RPM.TSS1Kb"].to_numpy())
    np.testing.assert_allclose(cov[:, 8], pa, rtol=1e-6)


def test_track_table(built):
    adata, _, _ = built
    tab = adata.uns["prism"]["tracks"]
    assert tab["name"].tolist() == ["H3K27ac", "DNase", "HiC"]
    assert tab["role"].tolist() == ["foreground", "background", "background"]
    assert tab["kind"].tolist() == ["bigwig", "bigwig", "hic"]
    assert tab["transform"].tolist() == ["", "", "log10p1"]
    assert tab["sample"].tolist() == ["K562"] * 3
    assert tab["source"].iloc[0].endswith("H3K27ac/K562/ENCFF465GBD.bigWig")
    assert tab["source"].iloc[1].endswith("DNase-seq/K562/ENCFF414OGC.bigWig")
    assert tab["source"].iloc[2].endswith("HiC/K562/hic_feat_{chrom}.h5")
    assert adata.obsm["tracks"].shape == (12, 3, L) and adata.obsm["tracks"].dtype == np.float32


def test_bigwig_tracks_per_base(built):
    adata, _, _ = built
    t = adata.obsm["tracks"]
    kk = {c: k for k, c in enumerate(CHROMS)}
    for g, (c, tss, _) in enumerate(GENES):
        q = window_positions(tss)
        inside = (q >= 0) & (q < CHROMS[c])
        exp_h3 = np.where(inside, h3k27ac_value(kk[c], np.clip(q, 0, None)), 0)
        exp_dn = np.where(inside, dnase_value(kk[c], np.clip(q, 0, None)), 0)
        if c == "chr1":
            exp_h3[(q >= H3_GAP[0]) & (q < H3_GAP[1])] = 0  # no data -> 0
        np.testing.assert_array_equal(t[g, 0], exp_h3, err_msg=f"H3K27ac gene {g}")
        np.testing.assert_array_equal(t[g, 1], exp_dn, err_msg=f"DNase gene {g}")
    # spot checks: gene 0 (chr1, tss 120,000): index 1000 is the TSS base; the gap [119,900, 119,950) -> 0
    assert t[0, 0, 1000] == 120_000 % 1000 and t[0, 0, 1001] == 1
    assert (t[0, 0, 900:950] == 0).all() and t[0, 0, 950] == 950
    assert t[1, 0, 499] == 0 and t[1, 0, 500] == 0 and t[1, 0, 501] == 1  # gene 1: tss 500, base 0 at index 500
    assert t[10, 1, 1000] == pytest.approx((125_000 % 13) * 0.25 + 3)  # chrX is the 4th chromosome


def test_hic_track_centre_crop_log10(built):
    adata, _, _ = built
    t = adata.obsm["tracks"]
    for g, (c, tss, _) in enumerate(GENES):
        q = window_positions(tss)
        stored = (q >= max(0, tss - SPAN // 2)) & (q < min(CHROMS[c], tss + SPAN // 2))
        exp = np.where(stored, np.log10(hic_value(g, tss, q).astype(np.float32) + 1.0), 0).astype(np.float32)
        exp[L // 2 + NAN_OFFSET] = 0  # NaN in the file -> 0
        np.testing.assert_allclose(t[g, 2], exp, rtol=1e-6, err_msg=f"HiC gene {g}")
    # gene 0: the TSS base holds log10(0 + 3*0 + 1) = 0; 7 bp upstream log10(1 + 1)
    assert t[0, 2, 1000] == 0 and t[0, 2, 993] == pytest.approx(np.log10(2.0))
    # gene 1 (tss 500, profile clipped to start at base 0): window index 500 is base 0, |0 - 500| // 7 + 3 = 74
    assert t[1, 2, 500] == pytest.approx(np.log10(75.0)) and (t[1, 2, :500] == 0).all()
    # gene 2 (tss 259,400, chromosome ends at 260,000): past the end -> 0
    assert (t[2, 2, 1600:] == 0).all() and t[2, 2, 1599] > 0


def test_sequence_codes(built):
    adata, truth, _ = built
    seq = adata.obsm["sequence"]
    assert seq.shape == (12, L) and seq.dtype == np.uint8
    for g, (c, tss, _) in enumerate(GENES):
        s = truth["seqs"][c]
        lo, hi = tss - L // 2, tss + L // 2
        text = "N" * max(0, -lo) + s[max(0, lo) : min(len(s), hi)] + "N" * max(0, hi - len(s))
        np.testing.assert_array_equal(seq[g], encode(text), err_msg=f"gene {g}")
    assert (seq[1, :500] == 4).all() and (seq[2, 1600:] == 4).all()  # N padding past both chromosome ends
    # minus-strand genes are not flipped: the TSS base (reference strand) is at index L // 2
    assert seq[3, 1000] == encode(truth["seqs"]["chr1"][150_003])[0]
    assert set(np.unique(seq)) <= {0, 1, 2, 3, 4}


def test_split_from_fold_11(built):
    adata, _, _ = built
    exp = {"chr1": "train", "chr3": "valid", "chr22": "test", "chrX": "test"}
    assert adata.obs["split"].astype(str).tolist() == [exp[g[0]] for g in GENES]
    assert list(adata.obs["split"].cat.categories) == ["train", "valid", "test"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Working directory shared with the reproduction test, which reuses the store built here."""
    return tmp_path_factory.mktemp("work")


def test_store(layout, work, built):
    root, _ = layout
    mem = pt.pp.crop_window(built[0], 200, copy=True)
    store = work / "geneexp_K562_L200_fold11.zarr"  # the name benchmarks/reproduce_paper.py uses
    lazy = pt.datasets.read_geneexp(root, cell="K562", window=200, store=store)[IDS]
    assert store.is_dir() and not [p for p in work.iterdir() if p.name.startswith(".")]  # renamed, no leftovers
    assert hasattr(lazy.obsm["tracks"], "compute") and hasattr(lazy.obsm["sequence"], "compute")
    np.testing.assert_array_equal(np.asarray(lazy.obsm["tracks"]), mem.obsm["tracks"])
    np.testing.assert_array_equal(np.asarray(lazy.obsm["sequence"]), mem.obsm["sequence"])
    np.testing.assert_array_equal(lazy.X, mem.X)
    np.testing.assert_array_equal(lazy.obsm["covariates"], mem.obsm["covariates"])
    assert lazy.obs["split"].astype(str).tolist() == mem.obs["split"].astype(str).tolist()
    assert lazy.uns["prism"]["window"]["width"] == 200
    assert list(pt.io.read(store).uns["prism"]["tracks"]["name"]) == ["H3K27ac", "DNase", "HiC"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        pt.datasets.read_geneexp(root, cell="K562", store=store)


def test_other_fold(layout):
    root, _ = layout
    adata = pt.datasets.read_geneexp(root, cell="K562", window=20, fold=1)[IDS]
    exp = {"chr1": "test", "chr3": "train", "chr22": "valid", "chrX": "train"}
    assert adata.obs["split"].astype(str).tolist() == [exp[g[0]] for g in GENES]
    assert adata.obsm["tracks"].shape == (12, 3, 20) and adata.uns["prism"]["geneexp"]["fold"] == "1"


# ------------------------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expect"),
    [
        ("expression", "CAGE labels and mRNA features"),
        ("gene_list", "ABC gene table"),
        ("folds", "EPInformer fold table"),
        ("fasta", "hg38 genome"),
        ("h3k27ac", "H3K27ac signal"),
        ("dnase", "DNase-seq signal"),
        ("hic", "Hi-C features"),
    ],
)
def test_missing_file_names_the_path(layout, tmp_path, key, expect):
    root, _ = layout
    copy = linked_copy(root, tmp_path / "copy")
    target = copy / ROOT_FILES[key]
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(FileNotFoundError) as err:
        pt.datasets.read_geneexp(copy, cell="K562")
    assert str(target) in str(err.value) and expect in str(err.value)


def test_missing_hic_chromosome_file(layout, tmp_path):
    root, _ = layout
    copy = linked_copy(root, tmp_path / "copy")
    target = copy / ROOT_FILES["hic"] / "hic_feat_chrX.h5"
    target.unlink()
    with pytest.raises(FileNotFoundError, match="chrX") as err:
        pt.datasets.read_geneexp(copy, cell="K562")
    assert str(target) in str(err.value) and "float[200000]" in str(err.value) and "2 genes" in str(err.value)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="GeneExp root directory not found"):
        pt.datasets.read_geneexp(tmp_path / "nowhere", cell="K562")


def test_unknown_cell_lists_available(layout):
    root, _ = layout
    with pytest.raises(ValueError, match=r"'HepG2' is not in .*available cells .*\['GM12878', 'K562'\]"):
        pt.datasets.read_geneexp(root, cell="HepG2")


def test_cell_without_files(layout):
    root, _ = layout  # GM12878 has labels in the expression table but no files in the miniature
    with pytest.raises(FileNotFoundError, match="GM12878_DNase_ENCFF020WZB_hic_4DNFI1UEG1HD_1MB_ABC_nominated"):
        pt.datasets.read_geneexp(root, cell="GM12878")


def test_fold_table_mismatch_reports_counts(layout, tmp_path):
    root, truth = layout
    copy = linked_copy(root, tmp_path / "copy")
    target = copy / ROOT_FILES["folds"]
    target.unlink()
    truth["folds"].iloc[2:].to_csv(target, index=False)
    with pytest.raises(ValueError) as err:
        pt.datasets.read_geneexp(copy, cell="K562")
    msg = str(err.value)
    assert "does not match the fold table" in msg and "12 genes" in msg and "10 rows" in msg
    assert "10 shared" in msg and "2 genes missing" in msg and IDS[0] in msg


def test_bad_fold_column(layout):
    root, _ = layout
    with pytest.raises(KeyError, match="fold_99"):
        pt.datasets.read_geneexp(root, cell="K562", fold=99)


# ------------------------------------------------------------------------------------------------------------------
# Hi-C from .mcool (cooler) and .hic (hicstraw)
# ------------------------------------------------------------------------------------------------------------------

RES = 5000


def contact(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Synthetic contact between bins i and j (within a chromosome), for |i - j| <= 30, else 0."""
    d = np.abs(i - j)
    return np.where(d <= 30, 100.0 / (1 + d) + (i + j) % 5, 0.0)


def expected_virtual4c(c: str, tss: int) -> np.ndarray:
    q = window_positions(tss)
    inside = (q >= 0) & (q < CHROMS[c])
    v = contact(np.full(q.shape, tss // RES), np.clip(q, 0, None) // RES)
    return np.where(inside, np.log10(v + 1.0), 0).astype(np.float32)


def test_hic_from_mcool(layout, tmp_path):
    import cooler

    root, _ = layout
    bins = cooler.binnify(pd.Series(CHROMS), RES)
    bins["weight"] = 1.0
    rows, off = [], 0
    for c, n in CHROMS.items():
        nb = -(-n // RES)
        i, j = np.triu_indices(nb)
        v = contact(i, j)
        keep = v > 0
        rows.append(pd.DataFrame({"bin1_id": i[keep] + off, "bin2_id": j[keep] + off, "count": v[keep]}))
        off += nb
    pixels = pd.concat(rows, ignore_index=True)
    mcool = tmp_path / "k562.mcool"
    cooler.create_cooler(f"{mcool}::/resolutions/{RES}", bins, pixels, ordered=True, dtypes={"count": float})
    adata = pt.datasets.read_geneexp(root, cell="K562", hic=mcool)[IDS]
    tab = adata.uns["prism"]["tracks"]
    assert tab["name"].tolist() == ["H3K27ac", "DNase", "HiC"] and tab["kind"].iloc[2] == "hic"
    assert tab["source"].iloc[2] == f"{mcool}::/resolutions/{RES}"
    for g, (c, tss, _) in enumerate(GENES):
        np.testing.assert_allclose(adata.obsm["tracks"][g, 2], expected_virtual4c(c, tss), rtol=1e-5,
                                   err_msg=f"gene {g}")


class _FakeHicstraw(types.ModuleType):
    """Stand-in for ``hicstraw`` with the semantics of hic-straw 1.3 (read from its C++ source): records are
    selected by bin *start* within inclusive genome bounds, intra-chromosomal records in both orientations, and
    a region without records comes back as a 1 x 1 zero matrix. The ".hic" file here is an .npz of contacts."""

    def __init__(self):
        super().__init__("hicstraw")

        class Chrom:
            def __init__(self, name, length):
                self.name, self.length = name, length

        class Zoom:
            def __init__(self, nb, res):
                self.nb, self.res = nb, res

            def getRecordsAsMatrix(self, gx0, gx1, gy0, gy1):  # noqa: N802
                res = self.res
                i, j = np.triu_indices(self.nb)
                v = contact(i, j)
                x, y = i * res, j * res
                sel = (v > 0) & (
                    ((x >= gx0) & (x <= gx1) & (y >= gy0) & (y <= gy1))
                    | ((y >= gx0) & (y <= gx1) & (x >= gy0) & (x <= gy1))
                )
                if not sel.any():
                    return np.zeros((1, 1), np.float32)
                r0, r1, c0, c1 = gx0 // res, gx1 // res, gy0 // res, gy1 // res
                m = np.zeros((r1 - r0 + 1, c1 - c0 + 1), np.float32)
                for a, b, val in zip(i[sel], j[sel], v[sel]):
                    for r, cc in ((a - r0, b - c0), (b - r0, a - c0)):
                        if 0 <= r < m.shape[0] and 0 <= cc < m.shape[1]:
                            m[r, cc] = val
                return m

        class HiCFile:
            def __init__(self, path):
                meta = np.load(path)
                self.chroms = {str(k): int(v) for k, v in zip(meta["names"], meta["lengths"])}

            def getChromosomes(self):  # noqa: N802
                return [Chrom("All", 1)] + [Chrom(k, v) for k, v in self.chroms.items()]

            def getResolutions(self):  # noqa: N802
                return [RES, 2 * RES]

            def getMatrixZoomData(self, c1, c2, kind, norm, unit, res):  # noqa: N802
                assert (c1 == c2, kind, norm, unit) == (True, "observed", "VC", "BP")
                return Zoom(-(-self.chroms[c1] // res), res)

        self.HiCFile = HiCFile


def _write_fake_hic(path: Path) -> Path:
    with open(path, "wb") as fh:  # chromosome names without "chr", as in many .hic files
        np.savez(fh, names=np.array([c.removeprefix("chr") for c in CHROMS]), lengths=np.array(list(CHROMS.values())))
    return path


def test_hic_from_dothic_via_hicstraw_api(layout, tmp_path, monkeypatch):
    root, _ = layout
    monkeypatch.setitem(sys.modules, "hicstraw", _FakeHicstraw())
    hic = _write_fake_hic(tmp_path / "k562.hic")
    adata = pt.datasets.read_geneexp(root, cell="K562", hic=hic)[IDS]
    tab = adata.uns["prism"]["tracks"]
    assert tab["source"].iloc[2] == str(hic) and tab["transform"].iloc[2] == "log10p1"
    for g, (c, tss, _) in enumerate(GENES):
        np.testing.assert_allclose(adata.obsm["tracks"][g, 2], expected_virtual4c(c, tss), rtol=1e-5,
                                   err_msg=f"gene {g}")


def test_dothic_without_hicstraw_is_a_clear_error(layout, tmp_path, monkeypatch):
    root, _ = layout
    monkeypatch.setitem(sys.modules, "hicstraw", None)  # import hicstraw -> ImportError
    hic = _write_fake_hic(tmp_path / "k562.hic")
    with pytest.raises(ImportError, match=r"pip install 'prismtools\[hic\]'"):
        pt.datasets.read_geneexp(root, cell="K562", hic=hic)


def test_dothic_with_real_hicstraw(tmp_path):
    """A real .hic written by hictkpy, read by hicstraw (skipped where either is not installed)."""
    pytest.importorskip("hicstraw")
    hictkpy = pytest.importorskip("hictkpy")
    path = tmp_path / "k562.hic"
    w = hictkpy.hic.FileWriter(str(path), CHROMS, RES)
    rows = []
    for c, n in CHROMS.items():
        nb = -(-n // RES)
        i, j = np.triu_indices(nb)
        v = contact(i, j)
        keep = v > 0
        rows.append(pd.DataFrame({"chrom1": c, "start1": i[keep] * RES, "end1": np.minimum((i[keep] + 1) * RES, n),
                                  "chrom2": c, "start2": j[keep] * RES, "end2": np.minimum((j[keep] + 1) * RES, n),
                                  "count": v[keep].astype(np.float32)}))
    w.add_pixels(pd.concat(rows, ignore_index=True))
    w.finalize()
    genes = pd.DataFrame({"chrom": [g[0] for g in GENES], "start": [g[1] for g in GENES],
                          "end": [g[1] + 1 for g in GENES], "strand": "+", "tss": [g[1] for g in GENES],
                          "gene_id": IDS})
    adata = pt.pp.read_genes(genes)
    pt.pp.set_window(adata, L)
    pt.pp.add_juicer_hic(adata, path, sample="K562", normalization="NONE")
    for k, (c, tss, _) in enumerate(GENES):
        np.testing.assert_allclose(adata.obsm["tracks"][k, 0], expected_virtual4c(c, tss), rtol=1e-5)


def test_bad_hic_argument(layout, tmp_path):
    root, _ = layout
    with pytest.raises(FileNotFoundError, match="nope.hic"):
        pt.datasets.read_geneexp(root, cell="K562", hic=tmp_path / "nope.hic")
    other = tmp_path / "x.txt"
    other.write_text("x")
    with pytest.raises(ValueError, match="use a .hic file"):
        pt.datasets.read_geneexp(root, cell="K562", hic=other)


# ------------------------------------------------------------------------------------------------------------------
# benchmarks/reproduce_paper.py
# ------------------------------------------------------------------------------------------------------------------

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_paper.py"


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce_paper", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_reproduce_refuses_cpu(reproduce, layout, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    root, _ = layout
    rc = reproduce.main(["--root", str(root), "--cell", "K562", "--work", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "GPU" in err and "--allow-cpu" in err
    assert not list(tmp_path.iterdir())  # refused before building anything


def test_reproduce_table_format(reproduce):
    runs = pd.DataFrame({"model": ["Prism", "Prism", "Concatenation (alpha = 0)", "Concatenation (alpha = 0)"],
                         "seed": [2, 22, 2, 22], "MSE": [0.2, 0.4, 0.3, 0.5], "MAE": [0.3, 0.3, 0.4, 0.4],
                         "Pearson": [0.8, 0.9, 0.7, 0.8], "n": [4] * 4, "fit_s": [1.0] * 4})
    md = reproduce.summary_table(runs, cell="K562")
    assert "| Prism | 2 | 0.3000 ± 0.1414 | 0.3000 ± 0.0000 | 0.8500 ± 0.0707 | 0.1789 | 0.8751 |" in md
    assert "| Concatenation (alpha = 0) | 2 | 0.4000 ± 0.1414 |" in md and "0.1959 | 0.8630" in md


@pytest.mark.skipif(not hasattr(pt.tl, "Prism"), reason="pt.tl.Prism is not available yet")
def test_reproduce_runs_on_cpu(reproduce, layout, work, capsys):
    root, _ = layout
    out = work / "results.md"
    rc = reproduce.main([
        "--root", str(root), "--cell", "K562", "--seeds", "2", "22", "--max-steps", "4", "--allow-cpu",
        "--work", str(work), "--out", str(out), "--d-model", "8", "--n-layers", "1", "--batch-size", "4",
        "--window", "200",
    ])
    assert rc == 0
    assert "reusing the dataset store" in capsys.readouterr().out  # the store built by test_store
    md = out.read_text()
    assert "| Prism | 2 |" in md and "| Concatenation (alpha = 0) | 2 |" in md
    assert "0.1789" in md and "0.8751" in md and "CPU" in md and "NOT the reference recipe" in md
    runs = pd.read_csv(out.with_suffix(".csv"))
    assert runs["seed"].tolist() == [2, 2, 22, 22] and (runs["n"] == 4).all()  # 4 test genes (chr22, chrX)
    assert np.isfinite(runs[["MSE", "MAE", "Pearson"]].to_numpy()).all()
    assert (work / "geneexp_K562_L200_fold11.zarr").is_dir()
