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
# # The paper's analyses: window length, attribution, signal ablation
#
# The Prism paper makes three claims (see the [method page](../method.md)). prismtools has one function
# per experiment:
#
# | claim | analysis | figure |
# |---|---|---|
# | long context does not help; models use the central ~2 kb | `pt.tl.length_sweep` | `pt.pl.length_curve` |
# | the same, seen through the model | `pt.tl.attribute`, `pt.tl.attribution_by_distance` | `pt.pl.attribution_profile` |
# | background signals are used spuriously | `pt.tl.signal_ablation` | `pt.pl.signal_ablation` |
#
# We run them on a **simulated genome** from `pt.datasets.simulate`, whose causal structure is known. A
# latent background state $C$, constant over domains (`domain_size`, 200 kb by default), drives the background signals
# (DNase, Hi-C) **and** expression, so it is a confounder ($H \leftarrow C \rightarrow Y$). The
# foreground mark (H3K27ac) peaks at promoters, and weak distal enhancers 10-100 kb away add a small effect
# that decays with distance. `sim.truth` holds every planted component per gene.
#
# **Small CPU configuration.** 600 genes on 5 short chromosomes, with tracks stored over 20 kb in 100 bp
# bins. The models use signals only (`use_sequence=False`), with `d_model=16`, 1 layer, 200 steps per fit
# and one seed. The whole notebook runs in a minute or two on a CPU. Every analysis takes `seeds=` and the
# `pt.tl.Prism` arguments, so the same calls run the paper's settings on a GPU. With one seed and tiny
# models, treat the numbers below as a demonstration of the tools, not as evidence.

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import prismtools as pt

pt.settings.progress = False
plt.rcParams["figure.dpi"] = 80  # small figures keep the committed notebook light
pt.settings.num_threads = 1
pt.settings.device = "cpu"

# %% [markdown]
# ## A simulated genome with a confounder

# %%
sim = pt.datasets.simulate("analyses_genome", n_genes=600, chromosomes=5, chrom_size=1_500_000, seed=0,
                           test_chromosomes=["chr5"], overwrite=True)
sim.truth[["c_state", "seq_effect", "fg_effect", "distal_effect", "confounder_effect", "y"]].describe().round(2)

# %% [markdown]
# We build the dataset as in the first tutorial. The stored window is 20 kb in 100 bp bins (200 positions),
# and the analyses crop it to shorter windows themselves. Tracks are log1p-transformed, genes on chr5 form
# the test set and genes on chr4 the validation set.

# %%
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

# %% [markdown]
# `pt.pl.tracks` draws one gene's tracks around its TSS. Here we show the gene with the strongest planted
# promoter effect:

# %%
truth = sim.truth.reindex(adata.obs_names)
gene = truth["fg_effect"].idxmax()
pt.pl.tracks(adata, gene)

# %% [markdown]
# ## Small model and training settings
#
# Every analysis fits new models with these keyword arguments. `**model_kwargs` go to `pt.tl.Prism`, and
# `fit_kwargs` go to `Prism.fit`. The paper ran the length and ablation experiments on a plain model that
# concatenates sequence and signals, with no strata. That is `alpha=0`, which also makes each fit three
# times cheaper.

# %%
MODEL = dict(d_model=16, n_layers=1, use_sequence=False, alpha=0.0)              # small CPU configuration
FIT = dict(max_steps=200, batch_size=16, lr=3e-3, warmup_steps=20, progress=False)  # small CPU configuration
SEEDS = (0,)                                                                      # the paper uses 5 seeds

# %% [markdown]
# ## 1. Does a longer window help? `length_sweep`
#
# For each window length, the sweep crops the stored window around the TSS (lazily, without copying). It
# then fits a model for each seed and scores it on the test genes. It returns one row per length, seed and
# split. The same table, with a per-length summary over seeds (`pt.tl.summarize_seeds`), goes to
# `adata.uns["length_sweep"]`.

# %%
sweep = pt.tl.length_sweep(adata, sample="SIM", lengths=[1_000, 2_000, 5_000, 10_000, 20_000],
                           seeds=SEEDS, fit_kwargs=FIT, **MODEL)
sweep[["length", "n", "MSE", "Pearson", "val_MSE", "seconds"]].round(3)

# %%
pt.pl.length_curve(sweep, metric="Pearson")

# %% [markdown]
# In this genome nearly all of the gene-specific signal sits within a few hundred bp of the TSS. A longer
# window adds distal positions whose effect is weak, and the model has to find the informative bins
# among many more. With a small model and short training, accuracy falls as the window grows, the pattern
# the paper reports for long-context models. (The dashed line marks 2 kb.)
#
# ## 2. Which positions does a model use? `attribute` and `attribution_by_distance`
#
# We fit one model on the full 20 kb window. `pt.tl.attribute` then computes integrated gradients for every
# gene: how much each input position of each track contributes to the prediction, relative to an all-zero
# input. Over all positions, a gene's attributions add up to its prediction minus the prediction for the
# baseline. `pt.tl.attribution_by_distance` groups the absolute attributions by distance from the TSS:
#
# - `fraction` is the share of a gene's total attribution in each distance bin. Wide bins hold many
#   positions, so their share grows with their width.
# - `mean_abs` is the mean absolute attribution **per position** in each bin, which compares bins of any
#   width.

# %%
model = pt.tl.Prism(adata, sample="SIM", seed=0, **MODEL)
model.fit(**FIT)
pt.tl.attribute(model, adata, method="integrated_gradients", n_steps=16, key_added="attr")
by_distance = pt.tl.attribution_by_distance(adata, key="attr", bins=[0, 500, 1_000, 2_000, 5_000])
by_distance.pivot(index="bin", columns="input", values="mean_abs").loc[by_distance["bin"].unique()]

# %%
pt.pl.attribution_profile(adata, key="attr")

# %% [markdown]
# The foreground mark should be used most near the TSS, where the planted promoter effect is. DNase and
# Hi-C follow the domain-wide background state, so their attribution is spread over the whole window: the
# model reads the broad state from everywhere. Attribution is per gene, so one gene's tracks and
# attributions can be viewed together:

# %%
pt.pl.tracks(adata, gene, attribution_key="attr")

# %% [markdown]
# ## 3. Are background signals used spuriously? `signal_ablation`
#
# The ablation has two parts, as in the paper, both at the paper's 2 kb window:
#
# - **trained on**: a model trained on each signal alone, and one trained on all signals together. This
#   measures what each signal can contribute.
# - **removed at test**: the all-signals model scored with each signal removed, and with all background
#   signals removed. By default a removed signal is replaced by its per-position mean over the training
#   genes, which keeps the input in distribution. This measures how much the model *depends* on each
#   signal.
#
# The paper's observation is that background signals (DNase, Hi-C) add little on their own, yet the
# all-signals model degrades when they are removed. In this genome $C$ really does affect expression
# (the `confounder_effect` column of `sim.truth`), so a model can gain from reading it from the background
# signals. That reliance is what goes wrong when the link between $C$ and $Y$ shifts, for example in another
# cell type. (`pt.datasets.simulate(..., confounding_test=...)` simulates such a shift.)

# %%
adata_2kb = pt.pp.crop_window(adata, 2_000, copy=True)
ablation = pt.tl.signal_ablation(adata_2kb, sample="SIM", seeds=SEEDS, fit_kwargs=FIT, **MODEL)
ablation[["setting", "tracks", "role", "MSE", "Pearson"]].round(3)

# %%
pt.pl.signal_ablation(ablation, metric="MSE")

# %% [markdown]
# To see whether Prism relies less on the background signals than the concatenation model, run the same
# call with `alpha=1.0` in `MODEL` and compare the "removed at test" bars. Repeat over several seeds
# (`SEEDS = (0, 1, 2, 3, 4)`) and summarise with `pt.tl.summarize_seeds`, because single-seed differences at
# this size are mostly noise.
#
# ## Summary
#
# - `length_sweep` and `length_curve` show accuracy against window length.
# - `attribute`, `attribution_by_distance` and `attribution_profile` show where in the window a model's
#   evidence comes from.
# - `signal_ablation` and its figure separate what each signal contributes from how much a model depends on
#   it.
# - All of them take `seeds=`, `fit_kwargs=` and the `pt.tl.Prism` arguments. Scaling up to the paper's
#   settings (`use_sequence=True`, `d_model=128`, `n_layers=4`, 50,000 steps, 5 seeds, a GPU) changes only
#   those arguments.
#
# Next: [from a scanpy AnnData](04_from_scanpy.ipynb): pseudobulk per cell type, per-cell-type tracks and
# predictions back in scanpy figures.
