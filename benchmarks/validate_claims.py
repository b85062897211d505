"""Validate the paper's three claims on the simulator (known truth) and on the real K562 data, honestly.

    python benchmarks/validate_claims.py --out docs/validation --seeds 0 1 2 [--quick]

Writes ``results.json``, Markdown tables and figures into ``--out`` (``docs/validation.md`` links to them).
CPU-sized: signals are binned (20 bp over 2 kb, or 200 bp over 40 kb for the length sweep) and models are small
(d_model 32, 2 layers, a few hundred steps), so the numbers speak to the toolkit's behaviour on the simulator's
planted structure, not to the paper's GPU-scale results.

Parts
-----
1. Length sweep (claim 1): signals-only Prism trained on centre crops of a 40 kb window of the simulator
   (planted distal enhancers 10-100 kb away have a weak, decaying effect).
2. Signal ablation (claim 2): each signal alone vs all signals; all-signals model with each signal removed at
   test time.
4. On the real bundled K562 data: Prism vs concatenation vs foreground-only vs ridge, and the signal ablation.
3. Prism vs concatenation vs foreground-only vs sequence-only vs ridge, with and without a train/test shift in
   the confounder's association with expression; and what the strata recover (correlation of gates with the
   simulated background state).
7. What-if answers against the simulator's planted truth: predicted vs true effects of the simulator's SNVs
   (``variants.vcf``; Prism and concatenation models that read the DNA sequence and the signals) and of silencing
   the foreground track over its ``perturbations.bed`` regions (the same models and ridge on TSS signals);
   correlation and sign agreement, per seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

import prismtools as pt

logger = logging.getLogger("validate_claims")

MODEL = dict(d_model=32, n_layers=2, use_sequence=False)
FIT = dict(max_steps=400, batch_size=16, lr=2e-3, warmup_steps=40, progress=False)


def build_sim(root: Path, *, shift: bool, seed: int, width: int, bin_size: int, n_genes: int) -> "pt.AnnData":
    sim = pt.datasets.simulate(root, n_genes=n_genes, chromosomes=5, chrom_size=4_000_000, seed=seed,
                               test_chromosomes=["chr5"], confounding=0.5,
                               confounding_test=-0.5 if shift else 0.5, overwrite=True)
    a = pt.pp.read_genes(sim.gtf)
    pt.pp.add_expression(a, sim.expression, sample="SIM", gene_key="gene_id", value="SIM")
    pt.pp.set_window(a, width, bin_size=bin_size)
    pt.pp.add_track(a, sim.bigwigs["SIM"]["H3K27ac"], name="H3K27ac", sample="SIM", role="foreground")
    pt.pp.add_track(a, sim.bigwigs["SIM"]["DNase"], name="DNase", sample="SIM", role="background")
    pt.pp.add_hic(a, sim.mcool["SIM"], sample="SIM", resolution=5000)
    pt.pp.normalize_tracks(a, method="log1p")
    pt.pp.split_chromosomes(a, test="chr5", valid="chr4")
    a.obs["c_state"] = sim.truth.set_index(sim.truth.index)["c_state"].reindex(a.obs_names).to_numpy()
    a.uns["sim_root"] = str(root)
    return a


def fit_eval(a, *, seed: int, key: str, sample: str, **kw) -> tuple[pd.DataFrame, object]:
    model = pt.tl.Prism(a, sample=sample, seed=seed, **{**MODEL, **kw})
    model.fit(**FIT)
    model.predict(a, key_added=key)
    return pt.tl.evaluate(a, pred_key=f"{key}_pred", sample=sample, split="test"), model


def part3(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    rows = []
    for shift in (False, True):
        a = build_sim(work / f"sim_shift{int(shift)}", shift=shift, seed=100, width=2000, bin_size=20, n_genes=n_genes)
        for seed in seeds:
            for name, kw in (("Prism", dict(alpha=1.0)), ("Concatenation", dict(alpha=0.0)),
                             ("Foreground only (H3K27ac)", dict(alpha=0.0, tracks=["H3K27ac"]))):
                ev, model = fit_eval(a, seed=seed, key="m", sample="SIM", **kw)
                row = ev.iloc[0].to_dict() | {"model": name, "shift": shift, "seed": seed}
                if name == "Prism":
                    model.stratum_effects(a, key_added="m")
                    gate = np.asarray(a.obsm["m_gates"]).mean(axis=2)
                    c = a.obs["c_state"].to_numpy()
                    row["gate_vs_state_r"] = float(max(abs(np.corrcoef(gate[:, k], c)[0, 1]) for k in range(gate.shape[1])))
                rows.append(row)
                logger.info("part 3: %s", {k: row[k] for k in ("model", "shift", "seed", "MSE", "Pearson")})
        pt.tl.ridge_baseline(a, sample="SIM", key_added="ridge")
        ev = pt.tl.evaluate(a, pred_key="ridge_pred", sample="SIM", split="test")
        rows.append(ev.iloc[0].to_dict() | {"model": "Ridge (TSS signals)", "shift": shift, "seed": -1})
    return pd.DataFrame(rows)


def part1(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    a = build_sim(work / "sim_long", shift=False, seed=100, width=40_000, bin_size=200, n_genes=n_genes)
    df = pt.tl.length_sweep(a, sample="SIM", lengths=[2_000, 4_000, 10_000, 20_000, 40_000], seeds=tuple(seeds),
                            fit_kwargs=FIT, **MODEL)
    return df


def part2(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    a = build_sim(work / "sim_shift0", shift=False, seed=100, width=2000, bin_size=20, n_genes=n_genes)
    return pt.tl.signal_ablation(a, sample="SIM", seeds=tuple(seeds), fit_kwargs=FIT, **{**MODEL, "alpha": 0.0})


def part4(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    """Real K562 data (bundled): Prism vs baselines and the signal ablation, same small settings."""
    a = pt.datasets.k562(width=2000, bin_size=50)
    pt.pp.normalize_tracks(a, method="log1p")
    rows = []
    for seed in seeds:
        for name, kw in (("Prism", dict(alpha=1.0)), ("Concatenation", dict(alpha=0.0)),
                         ("Foreground only (H3K27ac)", dict(alpha=0.0, tracks=["H3K27ac"]))):
            ev, _ = fit_eval(a, seed=seed, key="m", sample="K562", **kw)
            rows.append(ev.iloc[0].to_dict() | {"setting": "model", "model": name, "seed": seed})
    pt.tl.ridge_baseline(a, sample="K562", key_added="ridge")
    ev = pt.tl.evaluate(a, pred_key="ridge_pred", sample="K562", split="test")
    rows.append(ev.iloc[0].to_dict() | {"setting": "model", "model": "Ridge (TSS signals)", "seed": -1})
    abl = pt.tl.signal_ablation(a, sample="K562", seeds=tuple(seeds), fit_kwargs=FIT, **{**MODEL, "alpha": 0.0})
    abl = abl.assign(model=abl["setting"] + ": " + abl["tracks"].astype(str))
    return pd.concat([pd.DataFrame(rows), abl], ignore_index=True)


def part5(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    """Claim 1, second half: which positions does a model trained on the whole 40 kb window use?"""
    a = build_sim(work / "sim_long", shift=False, seed=100, width=40_000, bin_size=200, n_genes=n_genes)
    frames = []
    for seed in seeds:
        model = pt.tl.Prism(a, sample="SIM", seed=seed, **{**MODEL, "alpha": 0.0})
        model.fit(**FIT)
        test = a.obs_names[(a.obs["split"] == "test").to_numpy()]
        pt.tl.attribute(model, a, method="integrated_gradients", n_steps=32, genes=test, key_added="attr")
        frames.append(pt.tl.attribution_by_distance(a, key="attr").assign(seed=seed))
    return pd.concat(frames, ignore_index=True)


def part6(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    """Sequence-only baseline on the simulator (central 256 bp of DNA: the TATA box at -30 and nearby motifs)."""
    rows = []
    for shift in (False, True):
        sim_root = work / f"sim_seq_shift{int(shift)}"
        a = build_sim(sim_root, shift=shift, seed=100, width=256, bin_size=1, n_genes=n_genes)
        pt.pp.add_sequence(a, Path(sim_root) / "genome.fa", reverse_complement_minus=False)
        for seed in seeds:
            ev, _ = fit_eval(a, seed=seed, key="m", sample="SIM", **{"alpha": 0.0, "tracks": [], "use_sequence": True})
            rows.append(ev.iloc[0].to_dict() | {"model": "Sequence only (256 bp)", "shift": shift, "seed": seed})
    return pd.DataFrame(rows)


_PART7_PAIRS: dict[str, pd.DataFrame] = {}
WHATIF_MODEL = dict(d_model=32, n_layers=2, use_sequence=True)
#: part 7's window and training budget (``--whatif-*`` options; recorded in results.json)
WHATIF = dict(width=2000, fit={})


class _RidgeWhatIf:
    """Adapter giving the fitted ridge baseline the interface ``pt.tl.perturb_tracks`` uses (tracks, track_means,
    predict on an AnnData), so ridge answers the same perturbations through the same code path."""

    def __init__(self, a, sample: str):
        pt.tl.ridge_baseline(a, sample=sample, features="tracks", key_added="ridge_wi")
        self.uns, self.sample = a.uns["ridge_wi"], sample
        tab = pt._core.track_table(a)
        self.idx = pt._core.resolve_tracks(a, None, sample=sample)
        self.tracks = [tab["name"][i] for i in self.idx]
        self.registry = {"use_tracks": True, "use_sequence": False}
        train = np.flatnonzero(a.obs["split"].to_numpy() == "train")
        arr = np.nan_to_num(np.asarray(a.obsm["tracks"][train][:, self.idx], np.float64))
        self._means = arr.mean(axis=0).astype(np.float32)

    def track_means(self, adata=None):
        return self._means

    def predict(self, adata, *, key_added="ridge", batch_size=None):
        from prismtools.tl._ridge import _signed_log1p, tss_signal

        coef = self.uns["coef"]
        x = _signed_log1p(tss_signal(adata, self.idx, central_bp=self.uns["params"]["central_bp"]))
        z = (x - coef["mean"].to_numpy()) / coef["std"].to_numpy()
        adata.obs[f"{key_added}_pred"] = (z @ coef["coef"].to_numpy() + self.uns["params"]["intercept"]).astype(np.float32)


def _agreement(pred: pd.DataFrame, truth: pd.DataFrame, on: list[str]) -> dict:
    from scipy import stats

    df = pred.merge(truth[[*on, "true_effect"]], on=on, how="left").fillna({"true_effect": 0.0})
    nz = df[df["true_effect"].abs() > 1e-9]
    test = df[df["chrom"] == "chr5"]
    return {
        "n_pairs": len(df), "n_true_nonzero": len(nz),
        "pearson": float(stats.pearsonr(df["effect"], df["true_effect"])[0]) if df["true_effect"].std() > 0 else np.nan,
        "spearman": float(stats.spearmanr(df["effect"], df["true_effect"])[0]) if df["true_effect"].std() > 0 else np.nan,
        "sign_agreement": float((np.sign(nz["effect"]) == np.sign(nz["true_effect"])).mean()) if len(nz) else np.nan,
        "pearson_test_chrom": float(stats.pearsonr(test["effect"], test["true_effect"])[0])
        if len(test) > 2 and test["true_effect"].std() > 0 else np.nan,
        "mean_abs_pred_true_zero": float(df.loc[df["true_effect"].abs() <= 1e-9, "effect"].abs().mean()),
    }


def part7(work: Path, seeds, n_genes: int) -> pd.DataFrame:
    """What-if answers vs the simulator's truth (2 kb window, sequence at 1 bp, signals in 20 bp bins)."""
    root = work / "sim_whatif"
    a = build_sim(root, shift=False, seed=100, width=WHATIF["width"], bin_size=20, n_genes=n_genes)
    pt.pp.add_sequence(a, root / "genome.fa", reverse_complement_minus=False)
    vtruth = pd.read_csv(root / "variant_effects.tsv", sep="\t").rename(columns={"gene_id": "gene"})
    ptruth = pd.read_csv(root / "perturbation_effects.tsv", sep="\t").rename(columns={"gene_id": "gene"})
    ptruth = ptruth[ptruth["sample"] == "SIM"]
    rows = []
    models = {"Prism": {}, "Concatenation (alpha=0)": {"alpha": 0.0}}
    for seed in seeds:
        for name, kw in models.items():
            t = time.perf_counter()
            model = pt.tl.Prism(a, sample="SIM", seed=seed, **{**WHATIF_MODEL, **kw})
            model.fit(**{**FIT, **WHATIF["fit"]})
            model.predict(a, key_added="wi")
            ev = pt.tl.evaluate(a, pred_key="wi_pred", sample="SIM", split="test")
            fit_s = time.perf_counter() - t
            v = pt.tl.variant_effects(model, a, root / "variants.vcf", inplace=False)
            p = pt.tl.perturb_tracks(model, a, track="H3K27ac", region=root / "perturbations.bed", inplace=False)
            for what, res, truth, on in (("variants", v, vtruth, ["variant_id", "gene"]),
                                         ("perturbations", p, ptruth, ["region", "gene"])):
                rows.append({"what": what, "model": name, "seed": seed, "test_pearson_expr": float(ev["Pearson"].iloc[0]),
                             "fit_seconds": fit_s, **_agreement(res, truth, on)})
                logger.info("part 7: %s", rows[-1])
            res_dir = work / "whatif_tables"
            res_dir.mkdir(exist_ok=True)
            if name == "Prism" and seed == seeds[0]:  # one seed's pairs, with the truth, for the report's figures
                _PART7_PAIRS["variants"] = v.merge(vtruth[["variant_id", "gene", "true_effect"]], how="left",
                                                   on=["variant_id", "gene"]).fillna({"true_effect": 0.0})
                _PART7_PAIRS["perturbations"] = p.merge(ptruth[["region", "gene", "true_effect"]], how="left",
                                                        on=["region", "gene"]).fillna({"true_effect": 0.0})
            v.to_csv(res_dir / f"variants_{name.split()[0]}_{seed}.csv", index=False)
            p.to_csv(res_dir / f"perturbations_{name.split()[0]}_{seed}.csv", index=False)
    p = pt.tl.perturb_tracks(_RidgeWhatIf(a, "SIM"), a, track="H3K27ac", region=root / "perturbations.bed", inplace=False)
    rows.append({"what": "perturbations", "model": "Ridge (TSS signals)", "seed": -1, **_agreement(p, ptruth, ["region", "gene"])})
    p.to_csv(work / "whatif_tables" / "perturbations_Ridge.csv", index=False)
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    metrics = [m for m in ("MSE", "Pearson", "gate_vs_state_r", "fraction", "pearson", "sign_agreement") if m in df]
    g = df.groupby(by, sort=False)[metrics]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd")).join(g.size().rename("n_seeds"))
    return out.reset_index()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/validation")
    ap.add_argument("--work", default="/tmp/prism_validate")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--genes", type=int, default=1200)
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--quick", action="store_true", help="tiny run (tests)")
    ap.add_argument("--whatif-width", type=int, default=2000, help="part 7: window width (bp)")
    ap.add_argument("--whatif-steps", type=int, default=None, help="part 7: training steps (default: as the other parts)")
    ap.add_argument("--whatif-d-model", type=int, default=WHATIF_MODEL["d_model"], help="part 7: d_model")
    ap.add_argument("--whatif-layers", type=int, default=WHATIF_MODEL["n_layers"], help="part 7: n_layers")
    ap.add_argument("--report", metavar="RESULTS_DIR", help="only write docs/validation.md from a results folder")
    args = ap.parse_args(argv)
    if args.report:
        report(Path(args.report), Path(__file__).resolve().parents[1] / "docs")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    pt.settings.progress = False
    pt.settings.num_threads = 1
    WHATIF["width"] = args.whatif_width
    WHATIF_MODEL.update(d_model=args.whatif_d_model, n_layers=args.whatif_layers)
    if args.whatif_steps:
        WHATIF["fit"] = {"max_steps": args.whatif_steps, "warmup_steps": max(1, args.whatif_steps // 10)}
    if args.quick:
        FIT.update(max_steps=20, warmup_steps=2)
        args.genes = 200
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    results, t0 = {}, time.perf_counter()
    parts = ((3, part3, ["shift", "model"]), (1, part1, ["length"]), (2, part2, ["setting", "tracks"]),
             (4, part4, ["setting", "model"]), (5, part5, ["input", "bin"]),
             (6, part6, ["shift", "model"]), (7, part7, ["what", "model"]))
    for part, fn, by in parts:
        if part not in args.parts:
            continue
        t = time.perf_counter()
        df = fn(work, args.seeds, args.genes)
        df.to_csv(out / f"part{part}.csv", index=False)
        summ = summarise(df, [b for b in by if b in df.columns])
        (out / f"part{part}.md").write_text(summ.to_markdown(index=False, floatfmt=".4f"))
        for what, pairs in _PART7_PAIRS.items() if part == 7 else ():
            pairs.to_csv(out / f"part7_pairs_{what}.csv", index=False, float_format="%.5f")
        results[f"part{part}"] = {"seconds": time.perf_counter() - t, "summary": summ.to_dict(orient="records")}
        if part == 7:
            results["part7"]["settings"] = {"model": WHATIF_MODEL, "fit": {**FIT, **WHATIF["fit"]},
                                            "width": WHATIF["width"], "seeds": args.seeds, "genes": args.genes}
        logger.info("part %d done in %.0f s\n%s", part, time.perf_counter() - t, summ.to_string())
    results["settings"] = {"model": MODEL, "fit": FIT, "seeds": args.seeds, "genes": args.genes,
                           "total_seconds": time.perf_counter() - t0}
    old = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    (out / "results.json").write_text(json.dumps(old | results, indent=1, default=str))
    return 0




def report(results_dir: Path, docs: Path) -> None:
    """Write docs/validation.md (tables inline) and figures into docs/_static/validation from the part CSVs."""
    import matplotlib

    matplotlib.use("agg")
    fig_dir = docs / "_static" / "validation"
    fig_dir.mkdir(parents=True, exist_ok=True)
    parts = {p: pd.read_csv(results_dir / f"part{p}.csv") for p in (1, 2, 3, 4, 5, 6, 7) if (results_dir / f"part{p}.csv").exists()}
    meta = json.loads((results_dir / "results.json").read_text()) if (results_dir / "results.json").exists() else {}
    md = [VALIDATION_HEADER.format(settings=json.dumps(meta.get("settings", {}), default=str))]

    def table(df, by, metrics):
        summ = pt.tl.summarize_seeds(df, by=by, metrics=metrics)
        return summ.to_markdown(index=False, floatfmt=".3f")

    if 1 in parts:
        df = parts[1]
        pt.pl.length_curve(df, metric="Pearson", save=fig_dir / "length_curve.png", show=False)
        md.append("## 1. Length sweep (simulator, Prism, signals binned to 200 bp)\n\n"
                  + table(df, ["length"], ["MSE", "Pearson"]) + "\n\n![length curve](_static/validation/length_curve.png)\n")
    if 5 in parts:
        df = parts[5]
        df = df[df["n_positions"] > 0]
        summ = df.groupby(["input", "dist_lo", "dist_hi"], sort=True).agg(
            fraction_mean=("fraction", "mean"), fraction_sd=("fraction", "std"), n_positions=("n_positions", "first"),
            mean_abs_per_position=("mean_abs", "mean")).reset_index()
        md.append("### Which positions a 40 kb model uses (integrated gradients, test genes, concatenation model)\n\n"
                  "Per distance bin from the TSS (bp): the fraction of total |attribution| (mean and SD over seeds), "
                  "the number of 200 bp positions in the bin, and the mean |attribution| per position. Log-spaced "
                  "bins hold more positions further out, so the per-position column is the one that says how "
                  "proximal the model's use of the signals is.\n\n"
                  + summ.to_markdown(index=False, floatfmt=".4f") + "\n")
    if 2 in parts:
        df = parts[2]
        pt.pl.signal_ablation(df, metric="MSE", save=fig_dir / "signal_ablation_sim.png", show=False)
        md.append("## 2. Signal ablation (simulator, concatenation model)\n\n"
                  + table(df, ["setting", "tracks"], ["MSE", "Pearson"])
                  + "\n\n![signal ablation](_static/validation/signal_ablation_sim.png)\n")
    if 3 in parts:
        df = parts[3] if 6 not in parts else pd.concat([parts[3], parts[6]], ignore_index=True)
        metrics = ["MSE", "Pearson"] + (["gate_vs_state_r"] if "gate_vs_state_r" in df else [])
        md.append("## 3. Prism vs baselines, with and without a confounding shift (simulator)\n\n"
                  + table(df, ["shift", "model"], metrics) + "\n")
    if 4 in parts:
        df = parts[4]
        models = df[df["setting"] == "model"]
        abl = df[df["setting"] != "model"]
        md.append("## 4. Real K562 data (bundled chr16 + chr22 genes)\n\n"
                  + table(models, ["model"], ["MSE", "Pearson"]) + "\n\nSignal ablation (concatenation model):\n\n"
                  + table(abl, ["setting", "tracks"], ["MSE", "Pearson"]) + "\n")
    if 7 in parts:
        md.append(whatif_section(parts[7], results_dir, fig_dir, meta.get("part7", {})))
    findings = results_dir / "findings.md"
    if findings.exists():  # the written interpretation, kept beside the numbers it interprets
        md.insert(1, findings.read_text())
    (docs / "validation.md").write_text("\n".join(md) + "\n" + VALIDATION_FOOTER)


def whatif_section(df: pd.DataFrame, results_dir: Path, fig_dir: Path, meta: dict) -> str:
    """The what-if section of docs/validation.md (part 7) and its figures."""
    import matplotlib.pyplot as plt

    cols = ["pearson", "spearman", "sign_agreement", "pearson_test_chrom", "mean_abs_pred_true_zero"]
    g = df.groupby(["what", "model"], sort=False)
    summ = g[cols].mean().add_suffix("_mean").join(g[["pearson", "sign_agreement"]].std(ddof=1).add_suffix("_sd"))
    summ = summ.join(g.size().rename("n_seeds")).join(g[["n_pairs", "n_true_nonzero"]].first()).reset_index()
    figs = []
    for what, xlab in (("variants", "true effect of the SNV"), ("perturbations", "true effect of silencing")):
        f = results_dir / f"part7_pairs_{what}.csv"
        if not f.exists():
            continue
        pairs = pd.read_csv(f)
        fig, ax = plt.subplots(figsize=(3.6, 3.0))
        ax.scatter(pairs["true_effect"], pairs["effect"], s=8, alpha=0.6, lw=0)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set_xlabel(xlab)
        ax.set_ylabel("predicted effect (Prism)")
        ax.set_title(f"{what}: {len(pairs)} pairs, first seed", fontsize=9)
        fig.savefig(fig_dir / f"whatif_{what}.png", dpi=80, bbox_inches="tight")
        plt.close(fig)
        figs.append(f"![{what}](_static/validation/whatif_{what}.png)")
    text = (results_dir / "whatif_findings.md").read_text() if (results_dir / "whatif_findings.md").exists() else ""
    return ("## 7. What-if answers against the planted truth (simulator)\n\n" + text + "\n"
            + summ.to_markdown(index=False, floatfmt=".3f") + "\n\n" + " ".join(figs) + "\n")


VALIDATION_HEADER = """# Validation of the paper's claims (simulator and real K562 data)

Produced by `python benchmarks/validate_claims.py --seeds 0 1 2 --out benchmarks/results/validation` and then
`python benchmarks/validate_claims.py --report benchmarks/results/validation`, on a shared 2-core CPU. Means and
standard deviations are over seeds (each table's `n_seeds`; the ridge baseline is deterministic: one row). These are **small CPU
models** (d_model 32, 2 layers, 400 steps, signals only: no DNA sequence, binned tracks), not the paper's GPU
recipe, so they test the toolkit's behaviour and the simulator's planted structure, not the published numbers.
Settings: `{settings}`.

The simulator (`pt.datasets.simulate`): expression = promoter motifs + foreground (H3K27ac-like) peak at the TSS
+ weak distal enhancers (10-100 kb, decaying) + w_c x background state C + noise; C also drives the DNase-like
track and Hi-C compartments, so it confounds. Test chromosome chr5, validation chr4. "Shift" flips w_c from
+0.5 (training chromosomes) to -0.5 on the test chromosome.
"""

VALIDATION_FOOTER = """
## What the simulator can and cannot say

It can check that a method recovers planted proximal effects, uses the foreground signal, how much it leans on
background signals that carry a confounder, and how it behaves when the confounder's association with
expression changes between training and test chromosomes. It cannot speak to real regulatory grammar, real
chromatin biology, 3D genome structure beyond distance decay and compartments, or assay artefacts; nor does a
signals-only CPU model speak to the sequence models of the paper. The real-data section uses 1,516 K562 genes
with TSS-level (not per-base) H3K27ac/DNase and chr22-only Hi-C, so it is small and noisy.
"""


if __name__ == "__main__":
    raise SystemExit(main())
