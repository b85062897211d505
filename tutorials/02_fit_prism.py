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
# # Fitting Prism against baselines
#
# We use the bundled **real K562 data** (`pt.datasets.k562`: 1,516 genes on chr16 and chr22, hg38, with
# RNA-seq TPM as the target and H3K27ac, DNase and K562 Hi-C as tracks). On it we:
#
# 1. fit **Prism** and the **concatenation baseline** (`alpha=0`: the same network without strata),
# 2. fit a **ridge baseline** on the signals at the TSS,
# 3. score all three on held-out genes with `pt.tl.evaluate`,
# 4. look at what Prism's background strata do (`model.stratum_effects`, `pt.pl.stratum_effects`),
# 5. explore the learned gene embedding with **scanpy** (neighbours, UMAP),
# 6. save and reload the model.
#
# **Small CPU configuration.** These are not the paper's settings (d_model 128, 4 layers, 50,000 steps on a
# GPU). We use the tracks alone (`use_sequence=False`: the bundled data have no DNA sequence), binned to
# 50 bp over 2 kb (40 positions), a model with `d_model=32` and 2 layers, and 300 training steps. Each fit
# takes well under a minute on one CPU thread. Expect differences between the models to be within
# seed-to-seed noise at this size.

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scanpy as sc

import prismtools as pt

pt.settings.progress = False
plt.rcParams["figure.dpi"] = 80  # small figures keep the committed notebook light
pt.settings.num_threads = 1   # small models on a busy CPU run faster on one thread
pt.settings.device = "cpu"

# %% [markdown]
# ## The data
#
# - The target `X[:, "K562"]` is $\log_{10}(\text{TPM}+1)$ of ENCODE RNA-seq. It is NaN for the 217
#   genes without a TPM value, and those genes are left out of training and scoring.
# - `H3K27ac` (foreground) and `DNase` (background) are real K562 read densities over TSS ± 500 bp. No
#   per-base bigWigs are public for these genes, so each value is painted as a flat step over the central
#   1 kb (`kind="table"`). `HiC` (background) is the real K562 virtual-4C profile at 5 kb, and it exists for
#   chr22 only; chr16 genes get 0.
# - Two covariates: `promoter_activity` ($\sqrt{\text{H3K27ac} \times \text{DNase}}$, as in the
#   paper) and `log10_gene_length`.
# - With only two chromosomes, the split uses contiguous blocks of genes within each chromosome
#   (`pt.pp.split_blocks`), not whole held-out chromosomes.

# %%
adata = pt.datasets.k562(width=2000, bin_size=50)
print(adata)
print(adata.obs["split"].value_counts().to_dict())
adata.uns["prism"]["tracks"]

# %%
x = pt.get_tracks(adata, "K562")  # xarray (gene, track, position); position = bp from the TSS
print(dict(x.sizes))
x.mean("gene").plot.line(x="position", col="track", sharey=False, figsize=(10, 2.6));

# %% [markdown]
# ## Fit Prism and the concatenation baseline
#
# `pt.tl.Prism(adata, sample=...)` builds the model from the AnnData and records which fields it reads.
# `fit` trains on the `train` genes, validates on the `valid` genes and keeps the weights with the best
# validation MSE. `predict` writes `obs[f"{key_added}_pred"]` for every gene. The configuration below is
# the **small CPU configuration** described above.

# %%
MODEL = dict(d_model=32, n_layers=2, n_strata=2, use_sequence=False)   # small: the paper uses 128 / 4
FIT = dict(max_steps=300, batch_size=16, lr=2e-3, warmup_steps=30)     # small: the paper uses 50,000 steps

prism = pt.tl.Prism(adata, sample="K562", alpha=1.0, seed=0, **MODEL)
prism

# %%
prism.fit(**FIT, progress=False)
prism.predict(key_added="prism")
print(prism)
print(prism.fit_time_)

# %%
pt.pl.training_history(prism)

# %%
concat = pt.tl.Prism(adata, sample="K562", alpha=0.0, seed=0, **MODEL)  # no strata: concatenation baseline
concat.fit(**FIT, progress=False)
concat.predict(key_added="concat")
print(concat)

# %% [markdown]
# ## Ridge baseline
#
# `pt.tl.ridge_baseline` regresses expression on each track's mean within ±500 bp of the TSS (log1p) and the
# covariates. It is a strong baseline on this data, because promoter H3K27ac alone correlates at r ≈ 0.73
# with expression. A list of penalties is a grid, chosen on the validation genes.

# %%
pt.tl.ridge_baseline(adata, sample="K562", key_added="ridge", alpha=[0.1, 1.0, 10.0, 100.0])
adata.uns["ridge"]["coef"]

# %% [markdown]
# ## Evaluate on held-out genes

# %%
models = {"Prism": "prism_pred", "Concatenation (alpha=0)": "concat_pred", "Ridge (TSS signals)": "ridge_pred"}
results = pd.concat(
    {name: pt.tl.evaluate(adata, pred_key=key, sample="K562", split=["valid", "test"])
     for name, key in models.items()},
    names=["model"],
)
results.round(3)

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for ax, (name, key) in zip(axes, models.items()):
    pt.pl.predicted_vs_observed(adata, pred_key=key, sample="K562", split="test", ax=ax, show=False)
    ax.set_title(name)
fig.tight_layout()

# %% [markdown]
# One seed and 268 test genes cannot separate models whose MSEs differ in the second decimal. For a real
# comparison, repeat the fits over several seeds (the paper uses 5) and compare means and spreads. The
# analyses in the next tutorial take a `seeds=` argument for that.

# %% [markdown]
# ## What the background strata do
#
# `model.stratum_effects(adata)` runs every gene through the plain path and through each stratum's
# intervened path (see the [method page](../method.md)). It writes the gates (`obsm["prism_gates"]`), the
# prediction under each stratum (`obsm["prism_stratum_pred"]`), the backdoor-adjusted prediction
# (`obs["prism_do_pred"]`), each gene's dominant stratum (`obs["prism_stratum"]`), the pooled embedding
# `obsm["X_prism"]`, and a per-stratum summary in `uns["prism_stratum_effects"]["strata"]`.

# %%
prism.stratum_effects(adata)
adata.uns["prism_stratum_effects"]["strata"].round(3)

# %%
pt.pl.stratum_effects(adata)

# %% [markdown]
# How to read the figure:
#
# - **Gates** (left): the per-gene mean gate of each stratum. Distinct boxes mean distinct strata. Wide
#   boxes mean the encoder assigns genes to states.
# - **Effect on predictions** (middle): the prediction under stratum *k* minus the plain prediction, per gene,
#   with the backdoor-adjusted prediction as the last box. Boxes near 0 mean that state leaves the
#   prediction unchanged. The spread shows how much a gene's prediction depends on the background state
#   assumed, which is the dependence the adjustment averages out.
# - **Strata against input tracks** (right): the correlation across genes between each stratum's gate and each
#   track's mean signal. A stratum that follows DNase and Hi-C (background) more than H3K27ac
#   (foreground) is tracking background state.
#
# After 300 steps the strata are often only weakly separated, and their numbering is arbitrary. Read this
# figure as a description of what this model learned, and compare it across seeds before drawing
# conclusions.

# %% [markdown]
# ## The gene embedding in scanpy
#
# `obsm["X_prism"]` is the model's pooled representation of each gene (plain path, `d_model` dimensions).
# The AnnData is an ordinary one, so scanpy works on it directly: build a neighbour graph on the embedding,
# compute a UMAP, and colour by expression, dominant stratum and split.

# %%
sc.pp.neighbors(adata, use_rep="X_prism", n_neighbors=15, random_state=0)
sc.tl.umap(adata, random_state=0)
sc.pl.umap(adata, color=["K562", "prism_stratum", "split"], wspace=0.35)

# %% [markdown]
# The embedding is organised mainly by predicted expression, which is what the model was trained for.
# Held-out genes (`valid`, `test`) mix with training genes, which is what you want: the model embeds new
# chromosomes' genes in the same space.
#
# ## Save and load
#
# `save` writes a directory with the weights (`model.pt`) and a readable `registry.json`. The registry
# records the sample, the tracks with their roles, the window, and the covariates with their
# standardisation. `Prism.load(path, adata)` checks an AnnData against the registry before it is used.

# %%
prism.save("k562_prism_model")
reloaded = pt.tl.Prism.load("k562_prism_model", adata=adata)
reloaded.predict(key_added="reloaded")
print(reloaded)
print("same predictions after reload:", np.allclose(adata.obs["reloaded_pred"], adata.obs["prism_pred"], atol=1e-5))

# %% [markdown]
# Next: [the paper's analyses](03_analyses.ipynb): window length, signal ablation and attribution.
