"""Generate the tutorial notebooks from the cell sources below (plain .ipynb, no jupytext).

    python tutorials/make_tutorials.py            # (re)write tutorials/*.ipynb without outputs
    python tutorials/make_tutorials.py --check    # exit 1 if a committed notebook differs from this script
    python tutorials/make_tutorials.py --execute  # also run them in place (outputs kept; e.g. to publish docs)

Edit the cells here, not in the notebooks, so that every change is reviewable in one Python file.
``tests/test_docs_tutorials.py`` executes each notebook top to bottom.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from textwrap import dedent

import nbformat

HERE = Path(__file__).resolve().parent


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(dedent(text).strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(dedent(text).strip("\n"))


# Shared first code cell: locate ../shared/data (real public files) with an environment override.
FIND_DATA = '''
def find_shared_data() -> Path | None:
    """The real public data folder, or None.

    ``$PRISMTOOLS_SHARED_DATA`` wins (set it to ``none`` to force the simulated fallback); otherwise
    ``shared/data`` next to the repository (``../../shared/data`` from this notebook's folder, or
    ``../shared/data`` from the repository root).
    """
    env = os.environ.get("PRISMTOOLS_SHARED_DATA")
    if env is not None:
        if env.strip().lower() in ("", "none", "0", "false"):
            return None
        if not Path(env).is_dir():
            raise FileNotFoundError(f"PRISMTOOLS_SHARED_DATA={env!r} is not a folder")
        return Path(env).resolve()
    for candidate in (Path("../../shared/data"), Path("../shared/data")):
        if (candidate / "README.md").is_file():
            return candidate.resolve()
    return None
'''


# ---------------------------------------------------------------------------------------------------------------
# 01: building a dataset from files
# ---------------------------------------------------------------------------------------------------------------

T1 = [
    md("""
    # Building a dataset from files

    This tutorial builds gene-centric datasets from the usual genomics files, using real public K562 data:

    - genes from a **GTF** or **BED** file, giving one AnnData row per gene;
    - expression from an **RNA-seq TPM table** (with RNA-seq bigWig coverage as a cross-check);
    - signal tracks from **bigWig** files (H3K27ac, H3K4me3, H3K27me3), each with a *role*, foreground or
      background;
    - **Hi-C** from `.cool` files, as a virtual-4C profile from each TSS;
    - DNA **sequence** from a FASTA file, here a 1 Mb excerpt that does not start at base 1;
    - streaming into a **zarr store**, reading it back lazily, and `pt.get_tracks` as an xarray;
    - the same build from a YAML spec with `prismtools build`.

    The data model (what goes where in the AnnData) is described in the
    [data model page](../data_model.md).

    **Small configuration.** The files cover a 2 Mb region of chr9, one chromosome's Hi-C and a 1 Mb
    sequence excerpt, so every step runs in seconds on a laptop CPU.
    """),
    code("""
    import os
    import sys
    import warnings
    from pathlib import Path

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    import pyBigWig
    from scipy import stats

    import prismtools as pt

    pt.settings.progress = False  # no progress bars in the rendered notebook
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice without ipywidgets
    pt.settings.n_jobs = 2        # builder workers (chunks of genes in parallel)
    pt.settings.chunk_genes = 32  # genes per chunk and per zarr chunk
    """),
    md("""
    ## Where the data are

    The real files are the public data described in `shared/data/README.md`. The notebook looks for them at
    `../../shared/data` relative to this notebook, or at the path in the environment variable
    `PRISMTOOLS_SHARED_DATA`.

    **If the folder is absent**, the notebook falls back to files written by
    `pt.datasets.simulate`: a synthetic genome in the same formats (FASTA, GTF, bigWig, `.mcool`, expression
    table). Every step below then runs on those files instead, so the notebook works anywhere. The cells
    that only make sense on the real files (RNA coverage, the 20 Mb FASTA offset) say so when they run.
    """),
    code(FIND_DATA + '''

DATA = find_shared_data()
REAL = DATA is not None
print("real data:", DATA if REAL else "not found, using pt.datasets.simulate files")
'''),
    code("""
    if REAL:
        d9 = DATA / "tracks_hg19_chr9_K562"
        SAMPLE, ASSEMBLY = "K562", "hg19"
        GTF = d9 / "GRCh37.75_chr9_4-6Mb.gtf"                      # Ensembl GRCh37.75, chr9:4-6 Mb, 55 genes
        EXPRESSION = DATA / "k562_hg38" / "K562.ENCFF934YBO.TPM.txt"  # ENCODE K562 RNA-seq, symbol<TAB>TPM
        EXPRESSION_KW = dict(transform="log10p1")                   # y = log10(TPM + 1)
        RNA_BIGWIG = d9 / "K562_RNA_chr9_4-6Mb.bigwig"              # RNA-seq coverage (cross-check only)
        TRACKS = [  # (bigWig, name, role)
            (d9 / "K562_H3K27ac_chr9_4-6Mb.bigwig", "H3K27ac", "foreground"),
            (d9 / "K562_H3K4me3_chr9_4-6Mb.bigwig", "H3K4me3", "foreground"),
            (d9 / "K562_H3K27me3_chr9_4-6Mb.bigwig", "H3K27me3", "background"),
        ]
        # hg19 Hi-C for the hg19 chr9 genes: GM12878 (another cell line), genome-wide at 2 Mb
        HIC_MAIN = dict(uri=DATA / "hic_examples" / "hg19.GM12878-MboI.matrix.2000kb.cool", name="HiC_GM12878",
                        sample="GM12878", resolution=2_000_000, balance=False)
        # K562 Hi-C at 5 kb is hg38 (chr22): it goes with hg38 genes, in a dataset of its own
        HIC_PROFILE = dict(genes=DATA / "k562_hg38" / "CollapsedGeneBounds.hg38.bed", chromosomes=["chr22"],
                           uri=DATA / "k562_hg38" / "K562_hg38_chr22_5kb.cool", resolution=5000, assembly="hg38")
    else:
        sim = pt.datasets.simulate("simulated_genome", n_genes=240, chromosomes=2, chrom_size=1_500_000,
                                   seed=0, overwrite=True)
        SAMPLE, ASSEMBLY = "SIM", "sim"
        GTF, RNA_BIGWIG = sim.gtf, None
        EXPRESSION = sim.expression  # TSV with columns gene_id, SIM; already on a log scale
        EXPRESSION_KW = dict(gene_key="gene_id", value="SIM", transform=None)
        TRACKS = [(sim.bigwigs["SIM"]["H3K27ac"], "H3K27ac", "foreground"),
                  (sim.bigwigs["SIM"]["DNase"], "DNase", "background")]
        HIC_MAIN = dict(uri=sim.mcool["SIM"], name="HiC", sample="SIM", resolution=5000, balance=True)
        HIC_PROFILE = dict(genes=sim.gtf, chromosomes=None, uri=sim.mcool["SIM"], resolution=5000, assembly="sim")
    """),
    md("""
    ## Genes

    `pt.pp.read_genes` reads a GTF/GFF3 (rows with feature `gene`), a BED6 file or a DataFrame. It gives an
    AnnData with **one row per gene** and no samples yet. Coordinates are 0-based and half-open (BED
    convention). `tss` is the first transcribed base: `start` on `+`, `end - 1` on `-`. Genes come back in
    genomic order.
    """),
    code("""
    adata = pt.pp.read_genes(GTF)
    adata
    """),
    code("""
    adata.obs.head()
    """),
    md("""
    ## Expression

    The target is one expression value per gene and biosample, stored in `X` (genes x samples). With the real
    data we use the ENCODE K562 RNA-seq quantification ENCFF934YBO, a genome-wide `symbol<TAB>TPM` table.
    It is keyed by gene **symbol**, so it matches the GTF's `gene_name` whatever the genome build. Unmatched
    genes get NaN. `transform="log10p1"` stores $\\log_{10}(\\text{TPM}+1)$, the scale of the Prism target,
    and keeps the raw values in `layers["raw"]`.
    """),
    code("""
    pt.pp.add_expression(adata, EXPRESSION, sample=SAMPLE, **EXPRESSION_KW)
    adata.var
    """),
    md("""
    ### Cross-check: expression from RNA-seq coverage

    The folder also has an RNA-seq **coverage** bigWig. A per-gene expression value can be derived from it, for
    example as the mean coverage over the gene's exons (the union of its transcripts' exons). That value is
    unnormalised: coverage depends on sequencing depth and read length, and gives no per-gene length or
    library correction. So we keep the quantified TPM as the target and use the coverage only to check that
    both agree. They agree only roughly: the bigWig was cut to chr9:4-6 Mb, so genes that reach past
    its ends lose coverage, and reads of the many pseudogenes here are ambiguous. (Real data only.)
    """),
    code("""
    def mean_exon_coverage(gtf: Path, bigwig: Path) -> pd.Series:
        \"\"\"Mean RNA-seq coverage over the union of each gene's exons (GTF is 1-based, inclusive).\"\"\"
        cols = ["chrom", "source", "feature", "start", "end", "score", "strand", "frame", "attributes"]
        gtf_df = pd.read_csv(gtf, sep="\\t", comment="#", header=None, names=cols)
        exons = gtf_df[gtf_df["feature"] == "exon"].copy()
        exons["gene_id"] = exons["attributes"].str.extract(r'gene_id "([^"]+)"', expand=False)
        out = {}
        with pyBigWig.open(str(bigwig)) as bw:
            for gene, ex in exons.groupby("gene_id"):
                lo, hi = int(ex["start"].min()) - 1, int(ex["end"].max())
                in_exon = np.zeros(hi - lo, bool)
                for s, e in zip(ex["start"] - 1 - lo, ex["end"] - lo):
                    in_exon[s:e] = True
                cov = np.nan_to_num(np.asarray(bw.values(ex["chrom"].iloc[0], lo, hi)))
                out[gene] = cov[in_exon].mean()
        return pd.Series(out, name="mean_exon_coverage")

    if RNA_BIGWIG is not None:
        coverage = mean_exon_coverage(GTF, RNA_BIGWIG).reindex(adata.obs_names)
        tpm = adata[:, SAMPLE].X.ravel()
        ok = np.isfinite(tpm) & np.isfinite(coverage.to_numpy())
        r = stats.pearsonr(tpm[ok], np.log1p(coverage.to_numpy()[ok])).statistic
        print(f"{ok.sum()} genes: Pearson r(log10(TPM + 1), log1p(mean exon RNA coverage)) = {r:.2f}")
    else:
        print("simulated data: no RNA coverage bigWig; skipped")
    """),
    md("""
    ## The window around each TSS

    Every gene gets the same window `[tss - width/2, tss + width/2)`. Tracks are averaged into bins of
    `bin_size` bp. Here we use 10 kb in 50 bp bins, so 200 positions per track. The Prism paper uses
    2 kb at 1 bp resolution. You can crop a wide stored window later with `pt.pp.crop_window`.
    """),
    code("""
    pt.pp.set_window(adata, 10_000, bin_size=50, assembly=ASSEMBLY)
    adata.uns["prism"]["window"]
    """),
    md("""
    ## Signal tracks, streamed into a zarr store

    `pt.pp.add_track` extracts a bigWig over every window, giving the mean per bin with NaN mapped to 0. Each
    track has a **role**:

    - `foreground`: marks of regulatory elements acting on the gene (H3K27ac; H3K4me3 marks active
      promoters);
    - `background`: broad chromatin state (DNase, Hi-C; H3K27me3, the broad Polycomb repressive mark).

    The role is a label in the track table. It records which signals you treat as the confounder-prone
    background (see the [method page](../method.md)).

    With `store=`, each builder **streams** gene chunks into a zarr store, one dask task per chunk, so arrays
    larger than memory are built on a small machine. `adata.obsm["tracks"]` then becomes a lazy view of the
    store.

    *Build caveat (real data):* the H3K4me3 bigWig's header says hg38 (chr9 length 138,394,717) while the
    others are hg19. In this region the two builds differ by a few hundred bp at most, smaller than many
    peaks but not negligible at 50 bp bins. In your own work, convert (liftOver) all files to one build.
    """),
    code("""
    STORE = Path("genes.zarr")
    for bigwig, name, role in TRACKS:
        pt.pp.add_track(adata, bigwig, name=name, sample=SAMPLE, role=role, store=STORE)
    adata.obsm["tracks"]
    """),
    md("""
    ## Hi-C

    `pt.pp.add_hic` turns a contact matrix into a track. At each position it stores the contact between the
    gene's TSS bin and that position's bin (a *virtual 4C* profile), balanced by default and
    $\\log_{10}(x+1)$-transformed.

    **Build caveat.** A contact matrix must be in the same genome build as the genes. The chr9 genes are
    hg19, and the only hg19 human `.cool` available here is **GM12878** Hi-C at **2 Mb** resolution.
    That is another cell line at a resolution far coarser than the 10 kb window, so each gene's window lies
    within one or two 2 Mb bins. The track is then little more than one number per gene. We label it with its
    real biosample (`sample="GM12878"`), so it stays separate from the K562 tracks. The K562 Hi-C (5 kb) is
    hg38 and is used in its own dataset below.
    """),
    code("""
    pt.pp.add_hic(adata, **HIC_MAIN, store=STORE)
    pt.get_tracks(adata).coords["sample"].to_series()
    """),
    md("""
    ## Train / validation / test split

    Prism is evaluated on held-out **chromosomes** (`pt.pp.split_chromosomes`, or `pt.pp.split_folds` with an
    EPInformer fold table). This region has one chromosome, so we use `pt.pp.split_blocks`. It cuts each
    chromosome into contiguous blocks of genes, which keeps neighbouring genes, with their shared regulatory
    context, on the same side of the split.
    """),
    code("""
    pt.pp.split_blocks(adata, n_blocks=5, test=(4,), valid=(2,))
    adata.obs["split"].value_counts()
    """),
    md("""
    ## Write, then read lazily

    `pt.io.write` writes one zarr store atomically: it writes into a temporary sibling and renames it into
    place. Here the store already exists (the builders streamed into it), so we pass `overwrite=True`; without
    it `pt.io.write` refuses, and it never deletes a folder that is not a store (see the Data safety page). The result is also a plain AnnData store, so `anndata.read_zarr` opens it too. `pt.io.read`
    opens the large arrays (`sequence`, `tracks`) **lazily** as dask arrays chunked by genes. Nothing large
    is read until it is used. `obs`, `var`, `X` and `uns` are loaded.
    """),
    code("""
    pt.io.write(adata, STORE, overwrite=True)
    lazy = pt.io.read(STORE)
    print(lazy)
    lazy.obsm["tracks"]
    """),
    md("""
    ## `pt.get_tracks`: the tracks as a labelled xarray

    `pt.get_tracks(adata, sample)` returns a `DataArray` with dims `(gene, track, position)`. `position` is the
    bp offset of each bin from the TSS, and `sample`, `role` and `kind` are coordinates on the track axis. It
    stays lazy, so selections and reductions are computed only for what you ask. Below: the mean profile of
    each track around the TSS, for expressed against silent genes.
    """),
    code("""
    x = pt.get_tracks(lazy, SAMPLE)
    y = lazy[:, SAMPLE].X.ravel()
    group = np.where(~np.isfinite(y), "no value", np.where(y > np.nanmedian(y), "above median", "below median"))
    profiles = x.assign_coords(expression=("gene", group)).groupby("expression").mean("gene").compute()

    fig, axes = plt.subplots(1, x.sizes["track"], figsize=(4 * x.sizes["track"], 3), sharex=True)
    for ax, track in zip(np.atleast_1d(axes), x["track"].values):
        for label in ("above median", "below median"):
            profiles.sel(track=track, expression=label).plot.line(ax=ax, x="position", label=label)
        ax.set_title(f"{track} ({x.sel(track=track)['role'].item()})")
        ax.set_xlabel("bp from TSS")
        ax.set_ylabel("mean signal")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    """),
    md("""
    Active promoters carry H3K27ac and H3K4me3 around the TSS. With the real data, expressed genes show
    clear peaks and silent genes do not. The Polycomb mark H3K27me3 tends to do the opposite. Below, the
    H3K27ac signal within ±500 bp of the TSS against expression:
    """),
    code("""
    tss_signal = x.sel(track=TRACKS[0][1], position=slice(-500, 450)).mean("position").compute().to_numpy()
    ok = np.isfinite(y)
    r = stats.pearsonr(np.log1p(tss_signal[ok]), y[ok]).statistic
    print(f"{ok.sum()} genes: Pearson r(log1p {TRACKS[0][1]} at TSS +/- 500 bp, expression) = {r:.2f}")
    """),
    md("""
    ## Real K562 Hi-C at 5 kb: a virtual-4C profile per gene (hg38)

    The K562 Hi-C matrix (in-situ Hi-C, chr22, 5 kb bins) is **hg38**. So it gets hg38 genes: the chr22
    protein-coding genes of `CollapsedGeneBounds.hg38.bed`, a BED file with an Ensembl id and gene type
    column. A 400 kb window in 5 kb bins, matching the matrix resolution, shows each TSS's contacts with
    its neighbourhood. Contact frequency falls off with distance, and its level and shape carry the
    compartment and domain context that the method treats as *background*.
    """),
    code("""
    hic_genes = pt.pp.read_genes(HIC_PROFILE["genes"], gene_types=["protein_coding"] if REAL else None,
                                 chromosomes=HIC_PROFILE["chromosomes"])
    pt.pp.add_expression(hic_genes, EXPRESSION, sample=SAMPLE, **EXPRESSION_KW)
    pt.pp.set_window(hic_genes, 400_000, bin_size=5_000, assembly=HIC_PROFILE["assembly"])
    pt.pp.add_hic(hic_genes, HIC_PROFILE["uri"], resolution=HIC_PROFILE["resolution"], sample=SAMPLE)
    profile = pt.get_tracks(hic_genes).sel(track="HiC")
    y_hic = hic_genes[:, SAMPLE].X.ravel()
    print(hic_genes.n_obs, "genes;", np.isfinite(y_hic).sum(), "with expression")

    fig, ax = plt.subplots(figsize=(6, 3))
    kb = profile["position"] / 1000
    for label, rows in (("expressed (above median)", y_hic > np.nanmedian(y_hic)),
                        ("below median", y_hic <= np.nanmedian(y_hic))):
        ax.plot(kb, profile[rows].mean("gene"), label=label)
    ax.set_xlabel("kb from TSS")
    ax.set_ylabel("log10(contact + 1)")
    ax.set_title("virtual 4C from the TSS bin")
    ax.legend();
    """),
    md("""
    ## DNA sequence from a FASTA excerpt (and its 20 Mb offset)

    `pt.pp.add_sequence` reads each window from a FASTA file (via pyfaidx) into `obsm["sequence"]`, as
    `uint8` codes A,C,G,T,N = 0..4. The TSS base is at index `width // 2`, and positions past a chromosome
    end are N.

    The only real human sequence here is a **1 Mb excerpt of GRCh37 chr22**, bases 20,000,001-21,000,000.
    Its header is `>22:20000001-21000000`, and its first base is genome position 20,000,000 (0-based). A
    reader that trusts the header would place it at chr22:0. There are two ways to handle the offset:

    1. Pad: write a FASTA with 20,000,000 N's in front. This is simple but needs 20 MB on disk.
    2. Shift: rename the sequence to `chr22`, subtract the offset from the gene coordinates, extract, then
       restore the genome coordinates. The sequence in `obsm` does not change when `obs` is relabelled.

    We do (2), and keep only the genes whose whole window lies inside the excerpt. (In the simulated fallback
    the FASTA is a whole genome, so no offset is needed.)
    """),
    code("""
    WIDTH = 2000
    if REAL:
        OFFSET = 20_000_000
        fasta_src = DATA / "k562_hg19_chr22" / "GRCh37_chr22_20000001-21000000.fa"
        lines = fasta_src.read_text().splitlines()
        print("original header:", lines[0])
        FASTA = Path("chr22_20-21Mb.fa")
        FASTA.write_text(">chr22\\n" + "\\n".join(lines[1:]) + "\\n")  # same bases, name the GTF/BED files use

        genes = pd.read_csv(DATA / "k562_hg19_chr22" / "k562_hg19_chr22_genes.tsv", sep="\\t")  # hg19, ABC tss
        inside = (genes["tss"] - WIDTH // 2 >= OFFSET) & (genes["tss"] + WIDTH // 2 <= OFFSET + 1_000_000)
        genes = genes[inside].rename(columns={"gene_start": "start", "gene_end": "end", "symbol": "gene_id"})
        seq_adata = pt.pp.read_genes(genes[["chrom", "start", "end", "strand", "tss", "gene_id"]])
        genome_coords = seq_adata.obs[["start", "end", "tss"]].copy()
        seq_adata.obs[["start", "end", "tss"]] = (genome_coords - OFFSET).clip(lower=0)  # excerpt coordinates
    else:
        OFFSET, FASTA = 0, sim.fasta
        seq_adata = pt.pp.read_genes(GTF)
        genome_coords = seq_adata.obs[["start", "end", "tss"]].copy()

    pt.pp.set_window(seq_adata, WIDTH, assembly=ASSEMBLY)
    pt.pp.add_sequence(seq_adata, FASTA)
    seq_adata.obs[["start", "end", "tss"]] = genome_coords  # back to genome coordinates
    print(seq_adata.n_obs, "genes; sequence", seq_adata.obsm["sequence"].shape, seq_adata.obsm["sequence"].dtype)
    """),
    md("""
    A sanity check that the offset is right: real promoters are **CpG islands**, so CpG dinucleotides
    are close to their expected frequency at the TSS and depleted elsewhere. The data README reports a
    median CpG observed/expected ratio of about 0.75 at these TSSs, against about 0.27 in background
    sequence. A wrong offset would give the background value. (The simulated genome has no CpG islands.)
    """),
    code("""
    def cpg_obs_exp(codes: np.ndarray) -> np.ndarray:
        \"\"\"CpG observed/expected per row of uint8 codes (A,C,G,T,N = 0..4).\"\"\"
        cpg = ((codes[:, :-1] == 1) & (codes[:, 1:] == 2)).sum(axis=1)
        c, g = (codes == 1).sum(axis=1), (codes == 2).sum(axis=1)
        return cpg * codes.shape[1] / np.maximum(c * g, 1)

    seq = np.asarray(seq_adata.obsm["sequence"])
    centre = seq[:, WIDTH // 2 - 500 : WIDTH // 2 + 500]  # TSS +/- 500 bp
    print(f"median CpG o/e at TSS +/- 500 bp: {np.median(cpg_obs_exp(centre)):.2f}")
    i = 0
    print(seq_adata.obs_names[i], seq_adata.obs["strand"].iloc[i], "TSS +/- 30 bp:",
          "".join("ACGTN"[c] for c in seq[i, WIDTH // 2 - 30 : WIDTH // 2 + 30]))
    """),
    md("""
    ## The same build from a spec: `prismtools build`

    A dataset can be described in a small YAML (or TOML) file and built from the command line, with no
    Python. `prismtools build --example` prints a template. The build streams into a temporary store and
    renames it into place only when every step succeeded, so a failed build never leaves a half-written
    store. `prismtools info` summarises a store. Paths in a spec are relative to the spec file; here we
    write absolute paths.

    The spec's `split` section takes held-out chromosomes or an EPInformer fold table. Our single-chromosome
    region needs `pt.pp.split_blocks` (above), so the spec leaves the split out in the real-data case.
    """),
    code("""
    import yaml

    spec = {
        "output": "from_spec.zarr",
        "genes": {"path": str(Path(GTF).resolve())},
        "window": {"width": 10_000, "bin_size": 50, "assembly": ASSEMBLY},
        "expression": [{"path": str(Path(EXPRESSION).resolve()), "sample": SAMPLE, **EXPRESSION_KW}],
        "tracks": [{"bigwig": str(Path(bw).resolve()), "name": name, "sample": SAMPLE, "role": role}
                   for bw, name, role in TRACKS],
        "hic": [{"uri": str(Path(HIC_MAIN["uri"]).resolve()), "name": HIC_MAIN["name"], "sample": HIC_MAIN["sample"],
                 "resolution": HIC_MAIN["resolution"], "balance": HIC_MAIN["balance"]}],
    }
    if not REAL:
        spec["split"] = {"test": ["chr2"]}
    Path("spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    print(Path("spec.yaml").read_text())
    """),
    code("""
    !{sys.executable} -m prismtools build spec.yaml --overwrite
    !{sys.executable} -m prismtools info from_spec.zarr
    """),
    code("""
    built = pt.io.read("from_spec.zarr")
    same = np.allclose(np.asarray(built.obsm["tracks"]), np.asarray(lazy.obsm["tracks"]))
    print(built.shape, "tracks identical to the step-by-step build:", same)
    """),
    md("""
    ## Summary

    - One AnnData per dataset, with genes as rows: expression in `X`, tracks in `obsm["tracks"]` with a track
      table in `uns["prism"]["tracks"]`, and the sequence in `obsm["sequence"]`.
    - Builders stream into a zarr store with `store=`. `pt.io.read` opens it lazily, and `pt.get_tracks` gives
      a labelled, lazy xarray view.
    - Keep one genome build per dataset. Label every track with its real biosample and its role.

    Next: [fitting Prism against baselines](02_fit_prism.ipynb).
    """),
]


# ---------------------------------------------------------------------------------------------------------------
# 02: fitting Prism against baselines
# ---------------------------------------------------------------------------------------------------------------

T2 = [
    md("""
    # Fitting Prism against baselines

    We use the bundled **real K562 data** (`pt.datasets.k562`: 1,516 genes on chr16 and chr22, hg38, with
    RNA-seq TPM as the target and H3K27ac, DNase and K562 Hi-C as tracks). On it we:

    1. fit **Prism** and the **concatenation baseline** (`alpha=0`: the same network without strata),
    2. fit a **ridge baseline** on the signals at the TSS,
    3. score all three on held-out genes with `pt.tl.evaluate`,
    4. look at what Prism's background strata do (`model.stratum_effects`, `pt.pl.stratum_effects`),
    5. explore the learned gene embedding with **scanpy** (neighbours, UMAP),
    6. save and reload the model.

    **Small CPU configuration.** These are not the paper's settings (d_model 128, 4 layers, 50,000 steps on a
    GPU). We use the tracks alone (`use_sequence=False`: the bundled data have no DNA sequence), binned to
    50 bp over 2 kb (40 positions), a model with `d_model=32` and 2 layers, and 300 training steps. Each fit
    takes well under a minute on one CPU thread. Expect differences between the models to be within
    seed-to-seed noise at this size.
    """),
    code("""
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    import scanpy as sc

    import prismtools as pt

    pt.settings.progress = False
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice without ipywidgets
    pt.settings.num_threads = 1   # small models on a busy CPU run faster on one thread
    pt.settings.device = "cpu"
    """),
    md("""
    ## The data

    - The target `X[:, "K562"]` is $\\log_{10}(\\text{TPM}+1)$ of ENCODE RNA-seq. It is NaN for the 217
      genes without a TPM value, and those genes are left out of training and scoring.
    - `H3K27ac` (foreground) and `DNase` (background) are real K562 read densities over TSS ± 500 bp. No
      per-base bigWigs are public for these genes, so each value is painted as a flat step over the central
      1 kb (`kind="table"`). `HiC` (background) is the real K562 virtual-4C profile at 5 kb, and it exists for
      chr22 only; chr16 genes get 0.
    - Two covariates: `promoter_activity` ($\\sqrt{\\text{H3K27ac} \\times \\text{DNase}}$, as in the
      paper) and `log10_gene_length`.
    - With only two chromosomes, the split uses contiguous blocks of genes within each chromosome
      (`pt.pp.split_blocks`), not whole held-out chromosomes.
    """),
    code("""
    adata = pt.datasets.k562(width=2000, bin_size=50)
    print(adata)
    print(adata.obs["split"].value_counts().to_dict())
    adata.uns["prism"]["tracks"]
    """),
    code("""
    x = pt.get_tracks(adata, "K562")  # xarray (gene, track, position); position = bp from the TSS
    print(dict(x.sizes))
    x.mean("gene").plot.line(x="position", col="track", sharey=False, figsize=(10, 2.6));
    """),
    md("""
    ## Fit Prism and the concatenation baseline

    `pt.tl.Prism(adata, sample=...)` builds the model from the AnnData and records which fields it reads.
    `fit` trains on the `train` genes, validates on the `valid` genes and keeps the weights with the best
    validation MSE. `predict` writes `obs[f"{key_added}_pred"]` for every gene. The configuration below is
    the **small CPU configuration** described above.
    """),
    code("""
    MODEL = dict(d_model=32, n_layers=2, n_strata=2, use_sequence=False)   # small: the paper uses 128 / 4
    FIT = dict(max_steps=300, batch_size=16, lr=2e-3, warmup_steps=30)     # small: the paper uses 50,000 steps

    prism = pt.tl.Prism(adata, sample="K562", alpha=1.0, seed=0, **MODEL)
    prism
    """),
    code("""
    prism.fit(**FIT, progress=False)
    prism.predict(key_added="prism")
    print(prism)
    print(prism.fit_time_)
    """),
    code("""
    pt.pl.training_history(prism)
    """),
    code("""
    concat = pt.tl.Prism(adata, sample="K562", alpha=0.0, seed=0, **MODEL)  # no strata: concatenation baseline
    concat.fit(**FIT, progress=False)
    concat.predict(key_added="concat")
    print(concat)
    """),
    md("""
    ## Ridge baseline

    `pt.tl.ridge_baseline` regresses expression on each track's mean within ±500 bp of the TSS (log1p) and the
    covariates. It is a strong baseline on this data, because promoter H3K27ac alone correlates at r ≈ 0.73
    with expression. A list of penalties is a grid, chosen on the validation genes.
    """),
    code("""
    pt.tl.ridge_baseline(adata, sample="K562", key_added="ridge", alpha=[0.1, 1.0, 10.0, 100.0])
    adata.uns["ridge"]["coef"]
    """),
    md("""
    ## Evaluate on held-out genes
    """),
    code("""
    models = {"Prism": "prism_pred", "Concatenation (alpha=0)": "concat_pred", "Ridge (TSS signals)": "ridge_pred"}
    results = pd.concat(
        {name: pt.tl.evaluate(adata, pred_key=key, sample="K562", split=["valid", "test"])
         for name, key in models.items()},
        names=["model"],
    )
    results.round(3)
    """),
    code("""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (name, key) in zip(axes, models.items()):
        pt.pl.predicted_vs_observed(adata, pred_key=key, sample="K562", split="test", ax=ax, show=False)
        ax.set_title(name)
    fig.tight_layout()
    """),
    md("""
    One seed and 268 test genes cannot separate models whose MSEs differ in the second decimal. For a real
    comparison, repeat the fits over several seeds (the paper uses 5) and compare means and spreads. The
    analyses in the next tutorial take a `seeds=` argument for that.
    """),
    md("""
    ## What the background strata do

    `model.stratum_effects(adata)` runs every gene through the plain path and through each stratum's
    intervened path (see the [method page](../method.md)). It writes the gates (`obsm["prism_gates"]`), the
    prediction under each stratum (`obsm["prism_stratum_pred"]`), the backdoor-adjusted prediction
    (`obs["prism_do_pred"]`), each gene's dominant stratum (`obs["prism_stratum"]`), the pooled embedding
    `obsm["X_prism"]`, and a per-stratum summary in `uns["prism"]["strata"]`.
    """),
    code("""
    prism.stratum_effects(adata)
    adata.uns["prism"]["strata"].round(3)
    """),
    code("""
    pt.pl.stratum_effects(adata)
    """),
    md("""
    How to read the figure:

    - **Gates** (left): the per-gene mean gate of each stratum. Distinct boxes mean distinct strata. Wide
      boxes mean the encoder assigns genes to states.
    - **Effect on predictions** (middle): the prediction under stratum *k* minus the plain prediction, per gene,
      with the backdoor-adjusted prediction as the last box. Boxes near 0 mean that state leaves the
      prediction unchanged. The spread shows how much a gene's prediction depends on the background state
      assumed, which is the dependence the adjustment averages out.
    - **Strata against input tracks** (right): the correlation across genes between each stratum's gate and each
      track's mean signal. A stratum that follows DNase and Hi-C (background) more than H3K27ac
      (foreground) is tracking background state.

    After 300 steps the strata are often only weakly separated, and their numbering is arbitrary. Read this
    figure as a description of what this model learned, and compare it across seeds before drawing
    conclusions.
    """),
    md("""
    ## The gene embedding in scanpy

    `obsm["X_prism"]` is the model's pooled representation of each gene (plain path, `d_model` dimensions).
    The AnnData is an ordinary one, so scanpy works on it directly: build a neighbour graph on the embedding,
    compute a UMAP, and colour by expression, dominant stratum and split.
    """),
    code("""
    sc.pp.neighbors(adata, use_rep="X_prism", n_neighbors=15, random_state=0)
    sc.tl.umap(adata, random_state=0)
    sc.pl.umap(adata, color=["K562", "prism_stratum", "split"], wspace=0.35)
    """),
    md("""
    The embedding is organised mainly by predicted expression, which is what the model was trained for.
    Held-out genes (`valid`, `test`) mix with training genes, which is what you want: the model embeds new
    chromosomes' genes in the same space.

    ## Save and load

    `save` writes a directory with the weights (`model.pt`) and a readable `registry.json`. The registry
    records the sample, the tracks with their roles, the window, and the covariates with their
    standardisation. `Prism.load(path, adata)` checks an AnnData against the registry before it is used.
    """),
    code("""
    prism.save("k562_prism_model")
    reloaded = pt.tl.Prism.load("k562_prism_model", adata=adata)
    reloaded.predict(key_added="reloaded")
    print(reloaded)
    print("same predictions after reload:", np.allclose(adata.obs["reloaded_pred"], adata.obs["prism_pred"], atol=1e-5))
    """),
    md("""
    Next: [the paper's analyses](03_analyses.ipynb): window length, signal ablation and attribution.
    """),
]


# ---------------------------------------------------------------------------------------------------------------
# 03: the paper's analyses
# ---------------------------------------------------------------------------------------------------------------

T3 = [
    md("""
    # The paper's analyses: window length, attribution, signal ablation

    The Prism paper makes three claims (see the [method page](../method.md)). prismtools has one function
    per experiment:

    | claim | analysis | figure |
    |---|---|---|
    | long context does not help; models use the central ~2 kb | `pt.tl.length_sweep` | `pt.pl.length_curve` |
    | the same, seen through the model | `pt.tl.attribute`, `pt.tl.attribution_by_distance` | `pt.pl.attribution_profile` |
    | background signals are used spuriously | `pt.tl.signal_ablation` | `pt.pl.signal_ablation` |

    We run them on a **simulated genome** from `pt.datasets.simulate`, whose causal structure is known. A
    latent background state $C$, constant over domains (`domain_size`, 200 kb by default), drives the background signals
    (DNase, Hi-C) **and** expression, so it is a confounder ($H \\leftarrow C \\rightarrow Y$). The
    foreground mark (H3K27ac) peaks at promoters, and weak distal enhancers 10-100 kb away add a small effect
    that decays with distance. `sim.truth` holds every planted component per gene.

    **Small CPU configuration.** 600 genes on 5 short chromosomes, with tracks stored over 20 kb in 100 bp
    bins. The models use signals only (`use_sequence=False`), with `d_model=16`, 1 layer, 200 steps per fit
    and one seed. The whole notebook runs in a minute or two on a CPU. Every analysis takes `seeds=` and the
    `pt.tl.Prism` arguments, so the same calls run the paper's settings on a GPU. With one seed and tiny
    models, treat the numbers below as a demonstration of the tools, not as evidence.
    """),
    code("""
    import warnings

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    import prismtools as pt

    pt.settings.progress = False
    warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notice without ipywidgets
    pt.settings.num_threads = 1
    pt.settings.device = "cpu"
    """),
    md("""
    ## A simulated genome with a confounder
    """),
    code("""
    sim = pt.datasets.simulate("analyses_genome", n_genes=600, chromosomes=5, chrom_size=1_500_000, seed=0,
                               test_chromosomes=["chr5"], overwrite=True)
    sim.truth[["c_state", "seq_effect", "fg_effect", "distal_effect", "confounder_effect", "y"]].describe().round(2)
    """),
    md("""
    We build the dataset as in the first tutorial. The stored window is 20 kb in 100 bp bins (200 positions),
    and the analyses crop it to shorter windows themselves. Tracks are log1p-transformed, genes on chr5 form
    the test set and genes on chr4 the validation set.
    """),
    code("""
    adata = pt.pp.read_genes(sim.gtf)
    pt.pp.add_expression(adata, sim.expression, sample="SIM", gene_key="gene_id", value="SIM")
    pt.pp.set_window(adata, 20_000, bin_size=100, assembly="sim")
    pt.pp.add_track(adata, sim.bigwigs["SIM"]["H3K27ac"], name="H3K27ac", sample="SIM", role="foreground")
    pt.pp.add_track(adata, sim.bigwigs["SIM"]["DNase"], name="DNase", sample="SIM", role="background")
    pt.pp.add_hic(adata, sim.mcool["SIM"], resolution=5000, sample="SIM")
    pt.pp.normalize_tracks(adata, method="log1p")
    pt.pp.split_chromosomes(adata, test="chr5", valid="chr4")
    print(adata)
    adata.obs["split"].value_counts().to_dict()
    """),
    md("""
    `pt.pl.tracks` draws one gene's tracks around its TSS. Here we show the gene with the strongest planted
    promoter effect:
    """),
    code("""
    truth = sim.truth.reindex(adata.obs_names)
    gene = truth["fg_effect"].idxmax()
    pt.pl.tracks(adata, gene)
    """),
    md("""
    ## Small model and training settings

    Every analysis fits new models with these keyword arguments. `**model_kwargs` go to `pt.tl.Prism`, and
    `fit_kwargs` go to `Prism.fit`. The paper ran the length and ablation experiments on a plain model that
    concatenates sequence and signals, with no strata. That is `alpha=0`, which also makes each fit three
    times cheaper.
    """),
    code("""
    MODEL = dict(d_model=16, n_layers=1, use_sequence=False, alpha=0.0)              # small CPU configuration
    FIT = dict(max_steps=200, batch_size=16, lr=3e-3, warmup_steps=20, progress=False)  # small CPU configuration
    SEEDS = (0,)                                                                      # the paper uses 5 seeds
    """),
    md("""
    ## 1. Does a longer window help? `length_sweep`

    For each window length, the sweep crops the stored window around the TSS (lazily, without copying). It
    then fits a model for each seed and scores it on the test genes. It returns one row per length, seed and
    split. The same table, with a per-length summary over seeds (`pt.tl.summarize_seeds`), goes to
    `adata.uns["length_sweep"]`.
    """),
    code("""
    sweep = pt.tl.length_sweep(adata, sample="SIM", lengths=[1_000, 2_000, 5_000, 10_000, 20_000],
                               seeds=SEEDS, fit_kwargs=FIT, **MODEL)
    sweep[["length", "n", "MSE", "Pearson", "val_MSE", "seconds"]].round(3)
    """),
    code("""
    pt.pl.length_curve(sweep, metric="Pearson")
    """),
    md("""
    In this genome nearly all of the gene-specific signal sits within a few hundred bp of the TSS. A longer
    window adds distal positions whose effect is weak, and the model has to find the informative bins
    among many more. With a small model and short training, accuracy falls as the window grows, the pattern
    the paper reports for long-context models. (The dashed line marks 2 kb.)

    ## 2. Which positions does a model use? `attribute` and `attribution_by_distance`

    We fit one model on the full 20 kb window. `pt.tl.attribute` then computes integrated gradients for every
    gene: how much each input position of each track contributes to the prediction, relative to an all-zero
    input. Over all positions, a gene's attributions add up to its prediction minus the prediction for the
    baseline. `pt.tl.attribution_by_distance` groups the absolute attributions by distance from the TSS:

    - `fraction` is the share of a gene's total attribution in each distance bin. Wide bins hold many
      positions, so their share grows with their width.
    - `mean_abs` is the mean absolute attribution **per position** in each bin, which compares bins of any
      width.
    """),
    code("""
    model = pt.tl.Prism(adata, sample="SIM", seed=0, **MODEL)
    model.fit(**FIT)
    pt.tl.attribute(model, adata, method="integrated_gradients", n_steps=16, key_added="attr")
    by_distance = pt.tl.attribution_by_distance(adata, key="attr", bins=[0, 500, 1_000, 2_000, 5_000])
    by_distance.pivot(index="bin", columns="input", values="mean_abs").loc[by_distance["bin"].unique()]
    """),
    code("""
    pt.pl.attribution_profile(adata, key="attr")
    """),
    md("""
    The foreground mark should be used most near the TSS, where the planted promoter effect is. DNase and
    Hi-C follow the domain-wide background state, so their attribution is spread over the whole window: the
    model reads the broad state from everywhere. Attribution is per gene, so one gene's tracks and
    attributions can be viewed together:
    """),
    code("""
    pt.pl.tracks(adata, gene, attribution_key="attr")
    """),
    md("""
    ## 3. Are background signals used spuriously? `signal_ablation`

    The ablation has two parts, as in the paper, both at the paper's 2 kb window:

    - **trained on**: a model trained on each signal alone, and one trained on all signals together. This
      measures what each signal can contribute.
    - **removed at test**: the all-signals model scored with each signal removed, and with all background
      signals removed. By default a removed signal is replaced by its per-position mean over the training
      genes, which keeps the input in distribution. This measures how much the model *depends* on each
      signal.

    The paper's observation is that background signals (DNase, Hi-C) add little on their own, yet the
    all-signals model degrades when they are removed. In this genome $C$ really does affect expression
    (the `confounder_effect` column of `sim.truth`), so a model can gain from reading it from the background
    signals. That reliance is what goes wrong when the link between $C$ and $Y$ shifts, for example in another
    cell type. (`pt.datasets.simulate(..., confounding_test=...)` simulates such a shift.)
    """),
    code("""
    adata_2kb = pt.pp.crop_window(adata, 2_000, copy=True)
    ablation = pt.tl.signal_ablation(adata_2kb, sample="SIM", seeds=SEEDS, fit_kwargs=FIT, **MODEL)
    ablation[["setting", "tracks", "role", "MSE", "Pearson"]].round(3)
    """),
    code("""
    pt.pl.signal_ablation(ablation, metric="MSE")
    """),
    md("""
    To see whether Prism relies less on the background signals than the concatenation model, run the same
    call with `alpha=1.0` in `MODEL` and compare the "removed at test" bars. Repeat over several seeds
    (`SEEDS = (0, 1, 2, 3, 4)`) and summarise with `pt.tl.summarize_seeds`, because single-seed differences at
    this size are mostly noise.

    ## Summary

    - `length_sweep` and `length_curve` show accuracy against window length.
    - `attribute`, `attribution_by_distance` and `attribution_profile` show where in the window a model's
      evidence comes from.
    - `signal_ablation` and its figure separate what each signal contributes from how much a model depends on
      it.
    - All of them take `seeds=`, `fit_kwargs=` and the `pt.tl.Prism` arguments. Scaling up to the paper's
      settings (`use_sequence=True`, `d_model=128`, `n_layers=4`, 50,000 steps, 5 seeds, a GPU) changes only
      those arguments.
    """),
]


NOTEBOOKS = {
    "01_build_dataset.ipynb": T1,
    "02_fit_prism.ipynb": T2,
    "03_analyses.ipynb": T3,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = name.split("_", 1)[0]
    cells = []
    for i, cell in enumerate(NOTEBOOKS[name]):
        cell = nbformat.from_dict(dict(cell))
        cell["id"] = f"t{stem}-{i:02d}"  # stable ids: regenerating gives identical files
        cells.append(cell)
    nb.cells = cells
    nbformat.validate(nb)
    return nb


def text(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def execute(path: Path, timeout: int = 900) -> None:
    """Run a notebook in a temporary folder (outputs such as stores stay out of the repo); keep its outputs."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
    path.write_text(nbformat.writes(nb) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if a notebook differs from this script")
    parser.add_argument("--execute", action="store_true", help="execute the notebooks in place after writing")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        want = text(build(name))
        if args.check:
            if not path.exists() or path.read_text() != want:
                stale.append(name)
            continue
        path.write_text(want)
        if args.execute:
            print("executing", name, flush=True)
            execute(path)
        print("wrote", path)
    if stale:
        print("out of date (run python tutorials/make_tutorials.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
