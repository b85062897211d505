# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # From a scanpy AnnData to Prism predictions per cell type
#
# You have single-cell data in scanpy: an AnnData with **cells as rows and genes as columns**, annotated with
# cell types. prismtools works the other way round: **genes are the rows** and **biosamples** (here, cell
# types) are the columns, because Prism predicts each gene's expression in a biosample from the DNA and the
# chromatin around that gene's TSS. This tutorial walks the bridge:
#
# 1. aggregate cells to a **pseudobulk** per cell type with scanpy's own `sc.get.aggregate`, through
#    `pt.pp.pseudobulk`;
# 2. bring the pseudobulk into a gene-centric AnnData with `pt.pp.add_expression` (`var` = cell types);
# 3. add per-cell-type **chromatin tracks** (ATAC, H3K27ac) around every TSS;
# 4. fit one small Prism model per cell type and predict;
# 5. go back to scanpy figures (`sc.pl`) with the predictions.
#
# **What is real and what is a stand-in.** Step 1 first runs on a real dataset that ships inside scanpy
# (`sc.datasets.pbmc68k_reduced()`, 700 PBMCs). prismtools bundles no chromatin data for PBMCs, though, and
# steps 3-5 need it. So from the second section on, the cells come from a **simulated genome**
# (`pt.datasets.simulate`) with three cell types, whose chromatin and expression are generated together, so
# every step runs here without downloads. Each place where your own data would enter is marked **Your data**.
#
# **Small configuration.** 400 genes, 3 cell types, signals-only models with `d_model=16`, 1 layer and
# 200 steps: the whole notebook runs in a minute or two on a CPU. It is a demonstration of the workflow, not
# the paper's recipe.

# %%
import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc

import prismtools as pt

pt.settings.progress = False
pt.settings.num_threads = 1
pt.settings.device = "cpu"
plt.rcParams["figure.dpi"] = 80  # small figures keep the committed notebook light
sc.settings.verbosity = 0

# %% [markdown]
# ## 1. Pseudobulk from a real scanpy dataset
#
# `pbmc68k_reduced` stores log-normalised expression of 765 genes in `.raw` and the cell types in
# `obs["bulk_labels"]`. `pt.pp.pseudobulk` aggregates cells per group with `sc.get.aggregate` and returns a
# **biosamples x genes** AnnData: one row per cell type. With log-normalised values, the mean is the
# sensible aggregate; with raw counts use `func="sum"` and normalise afterwards (section 2).

# %%
pbmc = sc.datasets.pbmc68k_reduced()
pbmc_pb = pt.pp.pseudobulk(pbmc.raw.to_adata(), groupby="bulk_labels", func="mean")
print(f"pseudobulk: {pbmc_pb.n_obs} biosamples x genes ({pbmc_pb.n_vars} genes)")
pbmc_pb

# %% [markdown]
# The rows are ordinary AnnData rows, so scanpy's plotting works on them. Here, a few marker genes per
# pseudobulk:

# %%
markers = ["CD79A", "MS4A1", "CD3E", "GNLY", "NKG7", "FCGR3A", "LYZ", "CST3"]
sc.pl.matrixplot(pbmc_pb, var_names=[g for g in markers if g in pbmc_pb.var_names], groupby="bulk_labels",
                 cmap="Blues", figsize=(5, 3.2))

# %% [markdown]
# To go further with *these* cells you would need, per cell type, chromatin signal around every gene's TSS
# (for example ATAC coverage from a matched scATAC or multiome experiment) and the genes' coordinates in the
# same genome build. prismtools ships neither for PBMCs. We therefore continue on simulated cells whose
# chromatin is known.
#
# ## 2. Cells, pseudobulk and genes on a simulated genome
#
# `pt.datasets.simulate` writes a small genome in real file formats: a GTF of genes, and per biosample an
# H3K27ac-like and a DNase-like bigWig and an expression table. We name its three biosamples like cell types
# and draw **single cells** from them: each cell's counts are Poisson draws from its cell type's expression.
# That gives the cells x genes AnnData a scanpy user starts with.

# %%
CELL_TYPES = ["B", "T", "Mono"]
sim = pt.datasets.simulate("scanpy_genome", n_genes=400, chromosomes=4, chrom_size=1_000_000, samples=CELL_TYPES,
                           hic=False, seed=0, overwrite=True)
expression = pd.read_csv(sim.expression, sep="\t", index_col="gene_id")  # simulated log10-scale expression

rng = np.random.default_rng(0)
n_cells = {"B": 120, "T": 200, "Mono": 80}
blocks, labels = [], []
for ct, n in n_cells.items():
    rate = np.clip(10 ** expression[ct].to_numpy() - 1, 0, None)
    library = rng.lognormal(np.log(4_000), 0.3, size=n)  # UMIs per cell
    blocks.append(rng.poisson(np.outer(library, rate / rate.sum())))
    labels += [ct] * n
cells = ad.AnnData(
    X=np.vstack(blocks).astype(np.float32),
    obs=pd.DataFrame({"cell_type": pd.Categorical(labels, categories=CELL_TYPES)},
                     index=[f"cell{i:04d}" for i in range(len(labels))]),
    var=pd.DataFrame(index=expression.index),
)
cells

# %% [markdown]
# **Your data** enter here: your own cells x genes AnnData, with raw counts and a cell-type column in `obs`.
# The usual scanpy workflow runs on it unchanged. We keep the raw counts in a layer for the pseudobulk:

# %%
cells.layers["counts"] = cells.X.copy()
sc.pp.normalize_total(cells, target_sum=1e4)
sc.pp.log1p(cells)
sc.pp.pca(cells, n_comps=20, random_state=0)
sc.pp.neighbors(cells, random_state=0)
sc.tl.umap(cells, random_state=0)
with plt.rc_context({"figure.figsize": (3.5, 3)}):
    sc.pl.umap(cells, color="cell_type")

# %% [markdown]
# ### Pseudobulk per cell type
#
# Sum the raw counts per cell type, then scale each pseudobulk to counts per million (CPM) with scanpy:

# %%
pb = pt.pp.pseudobulk(cells, groupby="cell_type", layer="counts", func="sum")
sc.pp.normalize_total(pb, target_sum=1e6)  # CPM per cell type
print(f"pseudobulk: {pb.n_obs} biosamples x genes ({pb.n_vars} genes)")
pb.to_df().iloc[:, :5].round(1)

# %% [markdown]
# ### Genes, with the pseudobulk as expression
#
# A prismtools dataset has one row per gene. `pt.pp.read_genes` reads the genes' coordinates from a GTF (or a
# BED file, or a DataFrame). **Your data:** the GTF of the genome build your chromatin data are aligned to
# (for example GENCODE for hg38); the gene names or ids in it must match your AnnData's `var_names`.
#
# `pt.pp.add_expression` takes the pseudobulk AnnData directly: each of its rows becomes a biosample (a column
# of `X`), matched to the genes by id or symbol. `transform="log10p1"` stores $\log_{10}(\text{CPM}+1)$, the
# scale Prism is trained on, and keeps CPM in `layers["raw"]`.

# %%
adata = pt.pp.read_genes(sim.gtf)
pt.pp.add_expression(adata, pb, transform="log10p1")
adata

# %% [markdown]
# ## 3. Chromatin tracks per cell type
#
# Prism reads signal tracks in a window around each TSS, one set per biosample. **Your data** enter here as
# one bigWig per cell type and assay:
#
# - **ATAC**: per-cell-type coverage from scATAC-seq or a multiome experiment. With
#   [SnapATAC2](https://kzhang.org/SnapATAC2/), `snap.ex.export_coverage(atac, groupby="cell_type")` writes one
#   bigWig per cell type from the fragments. Open chromatin tracks broad state, so it goes in as a
#   *background* signal (see the [method page](../method.md)).
# - **H3K27ac** (optional): per-cell-type CUT&Tag or ChIP-seq bigWigs, a *foreground* signal marking
#   active promoters and enhancers.
#
# The cell-type names you pass as `sample=` must be the pseudobulk's row names. Here the simulated bigWigs
# stand in for both (its DNase-like track plays ATAC):

# %%
pt.pp.set_window(adata, 4_000, bin_size=100, assembly="sim")
for ct in CELL_TYPES:
    pt.pp.add_track(adata, sim.bigwigs[ct]["H3K27ac"], name="H3K27ac", sample=ct, role="foreground")
    pt.pp.add_track(adata, sim.bigwigs[ct]["DNase"], name="ATAC", sample=ct, role="background")
pt.pp.normalize_tracks(adata, method="log1p")
pt.pp.split_chromosomes(adata, test="chr4", valid="chr3")
pt.get_tracks(adata, "B")

# %% [markdown]
# ## 4. One model per cell type
#
# A `pt.tl.Prism` model predicts one biosample's expression from that biosample's tracks. We fit a small
# signals-only model per cell type on the training chromosomes and write its predictions for every gene to
# `obs[f"prism_{cell type}_pred"]`:

# %%
MODEL = dict(use_sequence=False, d_model=16, n_layers=1, seed=0)  # small CPU configuration
FIT = dict(max_steps=200, batch_size=16, lr=3e-3, warmup_steps=20, progress=False)
for ct in CELL_TYPES:
    model = pt.tl.Prism(adata, sample=ct, **MODEL)
    model.fit(**FIT)
    model.predict(adata, key_added=f"prism_{ct}")
scores = pd.concat({ct: pt.tl.evaluate(adata, pred_key=f"prism_{ct}_pred", sample=ct, split="test")
                    for ct in CELL_TYPES})
scores.round(3)

# %% [markdown]
# ## 5. Back to scanpy figures
#
# The gene-centric AnnData is an ordinary AnnData, so `sc.pl` plots it directly. Observed against predicted
# expression of the held-out (test) genes, for one cell type:

# %%
adata.obs["B_observed"] = adata[:, "B"].X.ravel()
test = adata[adata.obs["split"] == "test"].copy()
sc.pl.scatter(test, x="B_observed", y="prism_B_pred", title="B cells, test genes", size=30)

# %% [markdown]
# A **predictions AnnData** in scanpy's orientation (cell types x genes) takes every `sc.pl` function that
# works on groups. Here the genes whose predicted expression differs most between cell types, predicted next
# to observed:

# %%
predicted = pd.DataFrame({ct: adata.obs[f"prism_{ct}_pred"] for ct in CELL_TYPES}).T
observed = adata.to_df().T.loc[CELL_TYPES]
both = ad.AnnData(
    X=np.vstack([observed.to_numpy(), predicted.to_numpy()]).astype(np.float32),
    obs=pd.DataFrame({"cell_type": CELL_TYPES * 2, "source": ["observed"] * 3 + ["predicted"] * 3},
                     index=[f"{ct} {s}" for s in ("observed", "predicted") for ct in CELL_TYPES]),
    var=pd.DataFrame(index=adata.obs_names),
)
both.obs["group"] = pd.Categorical(both.obs_names, categories=both.obs_names)
variable = predicted.std(axis=0).sort_values(ascending=False).index[:12]
sc.pl.matrixplot(both, var_names=list(variable), groupby="group", cmap="viridis", figsize=(6, 3))

# %% [markdown]
# The predictions also go back to the **cells**: each cell takes its cell type's prediction, so the UMAP
# shows predicted next to measured expression of a gene. The two colour scales differ: the measured value is
# each cell's $\log(1 + \text{counts per 10,000})$ from `sc.pp.log1p`, the prediction is its cell type's
# $\log_{10}(\text{CPM} + 1)$, and a model predicts one value per cell type, not the spread between cells.

# %%
gene = variable[0]
cells.obs[f"{gene} predicted"] = cells.obs["cell_type"].map(predicted[gene]).astype(float)
with plt.rc_context({"figure.figsize": (3.5, 3)}):
    sc.pl.umap(cells, color=[gene, f"{gene} predicted"], wspace=0.4)

# %% [markdown]
# ## Summary: where your data enter
#
# | step | prismtools / scanpy | your data |
# |---|---|---|
# | cells | your scanpy workflow | cells x genes AnnData with raw counts and a cell-type column |
# | pseudobulk | `pt.pp.pseudobulk(cells, groupby=..., layer="counts", func="sum")`, then `sc.pp.normalize_total` | |
# | genes | `pt.pp.read_genes(gtf)` | the GTF of your genome build (names matching `var_names`) |
# | expression | `pt.pp.add_expression(adata, pb, transform="log10p1")` | |
# | tracks | `pt.pp.add_track(adata, bigwig, name=..., sample=cell_type, role=...)` | per-cell-type bigWigs (ATAC from SnapATAC2 `export_coverage`, H3K27ac) |
# | sequence (optional) | `pt.pp.add_sequence(adata, fasta)` | the genome FASTA |
# | fit, predict | `pt.tl.Prism(adata, sample=cell_type)`, `.fit()`, `.predict()` | |
# | figures | `sc.pl.*` on `adata` (genes) or on a cell types x genes AnnData of predictions | |
#
# See the [first tutorial](01_build_dataset.ipynb) for building from files in detail (zarr stores for
# genome-scale data, Hi-C, sequence), and the [second](02_fit_prism.ipynb) for model settings and baselines.
