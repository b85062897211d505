"""``prismtools demo``: the main job, end to end on the bundled real K562 data (no downloads).

Build -> fit Prism and the concatenation baseline (alpha = 0) -> ridge baseline -> evaluate on held-out genes
-> stratum-effects figure. Sized for a 2-core CPU in a few minutes: the K562 tracks are binned to 50 bp over
2 kb (40 positions) and the model is small (d_model 32, 2 layers). These are demo settings, not the paper's
recipe (which needs a GPU; see benchmarks/README.md).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

DEMO_WINDOW = dict(width=2000, bin_size=50)
DEMO_MODEL = dict(d_model=32, n_layers=2, use_sequence=False, n_strata=2)
DEMO_FIT = dict(max_steps=500, batch_size=16, lr=2e-3, warmup_steps=50)


def run_demo(out: str | Path = "prismtools_demo", *, quick: bool = False, seed: int = 0) -> pd.DataFrame:
    """Run the demo; write ``results.md``, ``results.csv`` and figures to ``out``; return the results table."""
    import matplotlib

    matplotlib.use("agg")
    from . import datasets, pl, tl
    from ._settings import settings

    settings.progress = False
    if settings.num_threads is None:
        settings.num_threads = 1  # small models: one thread is as fast and immune to oversubscribed cores

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    adata = datasets.k562(**DEMO_WINDOW)
    print(f"[demo] data: {adata.n_obs} K562 genes (chr16, chr22), tracks "
          f"{list(adata.uns['prism']['tracks']['name'])}, split {adata.obs['split'].value_counts().to_dict()}")
    fit = dict(DEMO_FIT)
    if quick:
        fit.update(max_steps=30, warmup_steps=5)
    rows = []
    models = {}
    for name, alpha in (("Prism", 1.0), ("Concatenation (alpha=0)", 0.0)):
        t = time.perf_counter()
        model = tl.Prism(adata, sample="K562", alpha=alpha, seed=seed, **DEMO_MODEL)
        model.fit(**fit, device="auto", progress=False)
        key = "prism" if alpha else "concat"
        model.predict(adata, key_added=key)
        models[key] = model
        ev = tl.evaluate(adata, pred_key=f"{key}_pred", sample="K562", split="test")
        rows.append(ev.assign(model=name, fit_s=time.perf_counter() - t))
        print(f"[demo] fitted {name} in {time.perf_counter() - t:.0f} s")
    tl.ridge_baseline(adata, sample="K562", key_added="ridge")
    rows.append(tl.evaluate(adata, pred_key="ridge_pred", sample="K562", split="test").assign(model="Ridge (TSS signals)", fit_s=float("nan")))
    models["prism"].stratum_effects(adata, key_added="prism")
    table = pd.concat(rows, ignore_index=True).set_index("model")
    cols = [c for c in ("n", "MSE", "MAE", "Pearson", "Spearman", "R2", "fit_s") if c in table.columns]
    table = table[cols]
    pl.stratum_effects(adata, key="prism", save=out / "stratum_effects.png", show=False)
    pl.predicted_vs_observed(adata, pred_key="prism_pred", sample="K562", save=out / "predicted_vs_observed.png", show=False)
    table.to_csv(out / "results.csv")
    (out / "results.md").write_text(
        "# prismtools demo (bundled K562 data, held-out genes)\n\n"
        + table.to_markdown(floatfmt=".4f")
        + f"\n\nSettings: {DEMO_MODEL}, fit {fit}. Total {time.perf_counter() - t0:.0f} s.\n"
    )
    print("\n" + table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\n[demo] done in {time.perf_counter() - t0:.0f} s; results and figures in {out}/")
    return table
