# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # What-if questions with known answers
#
# Two questions users bring to an expression model: *what does this variant do to the gene?* and *what happens if
# this element is silenced?* (in-silico CRISPRi). `pt.tl.variant_effects` and `pt.tl.perturb_tracks` answer them
# for any fitted `Prism` model. Here we ask them on the simulator, where the true answer is known: it writes
# `variants.vcf` and `perturbations.bed` with the true expression change computed from its generative model.
#
# The model below is tiny and briefly trained (so this runs in about two minutes on a laptop CPU): expect the
# predicted effects to agree with the truth only roughly. `docs/validation.md` reports the agreement with seeds.

# %%
import matplotlib
import numpy as np
import pandas as pd
from scipy import stats

import prismtools as pt

matplotlib.rcParams["figure.dpi"] = 80
pt.settings.progress = False

sim = pt.datasets.simulate("sim_whatif", n_genes=200, chromosomes=3, chrom_size=1_000_000, seed=1, hic=False,
                           overwrite=True)
a = pt.pp.read_genes(sim.gtf)
pt.pp.add_expression(a, sim.expression, sample="SIM", gene_key="gene_id", value="SIM")
pt.pp.set_window(a, 1000, bin_size=20)
pt.pp.add_sequence(a, sim.fasta)
pt.pp.add_track(a, sim.bigwigs["SIM"]["H3K27ac"], name="H3K27ac", sample="SIM", role="foreground")
pt.pp.add_track(a, sim.bigwigs["SIM"]["DNase"], name="DNase", sample="SIM", role="background")
pt.pp.normalize_tracks(a, method="log1p")
pt.pp.split_chromosomes(a, test="chr3", valid="chr2")
a

# %% [markdown]
# A Prism model that reads both the DNA sequence and the signals (a signals-only model cannot score variants).

# %%
model = pt.tl.Prism(a, sample="SIM", d_model=16, n_layers=1, seed=0)
model.fit(max_steps=150, batch_size=16, lr=3e-3, warmup_steps=15)
model.predict(a)
pt.tl.evaluate(a, pred_key="prism_pred", sample="SIM", split="test")

# %% [markdown]
# ## Variant effects
#
# Every SNV inside a gene's window is checked against the stored genome, then scored: prediction with the
# alternative allele minus prediction with the reference. The simulator's truth table gives the true change.

# %%
pt.tl.variant_effects(model, a, sim.variants)
print(a.uns["variant_effects_params"])
v = a.uns["variant_effects"].merge(sim.variant_truth.rename(columns={"gene_id": "gene"})[["variant_id", "gene", "true_effect"]],
                                   on=["variant_id", "gene"], how="left").fillna({"true_effect": 0.0})
v.sort_values("effect").head(8)[["variant_id", "gene", "distance_to_tss", "ref", "alt", "effect", "true_effect"]]

# %%
nz = v[v.true_effect != 0]
print(f"Pearson(predicted, true) = {stats.pearsonr(v.effect, v.true_effect)[0]:.2f} over {len(v)} pairs; "
      f"sign agreement on the {len(nz)} pairs with a true effect: {(np.sign(nz.effect) == np.sign(nz.true_effect)).mean():.2f}")
pt.pl.variant_effects(a, color="truth", truth=sim.variant_truth)

# %% [markdown]
# ## Silencing an element (in-silico CRISPRi on the signal track)
#
# Set the H3K27ac track to its training mean over each region of `perturbations.bed` (promoter peaks, distal
# enhancer peaks and peak-free control regions) for every gene whose window overlaps it. With a 1 kb window most
# distal enhancers lie outside every window; they are counted, not scored.

# %%
pt.tl.perturb_tracks(model, a, track="H3K27ac", region=sim.perturbations, value="background")
print(a.uns["perturbation_params"])
truth = sim.perturbation_truth.query("sample == 'SIM'").rename(columns={"gene_id": "gene"})
p = a.uns["perturbation"].merge(truth[["region", "gene", "true_effect"]], on=["region", "gene"], how="left").fillna(
    {"true_effect": 0.0})
print(f"Pearson(predicted, true) = {stats.pearsonr(p.effect, p.true_effect)[0]:.2f} over {len(p)} region-gene pairs")
pt.pl.perturbation(a, truth=sim.perturbation_truth.query("sample == 'SIM'"), n_top=12)

# %% [markdown]
# The same call with `bp=(-300, 300)` silences the signal around every gene's own TSS (offsets along the
# transcript), and `value="zero"` switches it off instead of setting it to the average gene.

# %%
out = pt.tl.perturb_tracks(model, a, track="H3K27ac", bp=(-300, 300), inplace=False)
t = sim.truth.loc[out.gene]
print(f"Pearson(predicted change, -true foreground effect) = {stats.pearsonr(out.effect, -t.fg_effect)[0]:.2f}")
