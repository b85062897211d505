"""One GPU check for prismtools: environment, a tiny fit + predict, bf16 vs fp32, scan timings, the
reference-size training step per precision, the projected 50,000-step recipe, and a DDP smoke test.

Usage::

    python benchmarks/gpu_check.py                        # on a GPU machine (under 8 minutes on one GPU)
    python benchmarks/gpu_check.py --device cpu --quick   # logic check without a GPU (small sizes)
    python benchmarks/gpu_check.py --out DIR              # default benchmarks/results/gpu_check

Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``. Every section has a time budget and records
its own errors instead of stopping the run; sections that need CUDA say "skipped" on CPU. The training
step uses :class:`prismtools.models.PrismNet` directly at the reference configuration (d_model 128, 4
layers, L = 2,000, batch 8 genes, 3 tracks so 3 paths = 24 sequences per scan): forward, loss,
backward, clipping and an AdamW step, timed with CUDA synchronisation, with
``torch.cuda.max_memory_allocated`` as the peak. The recipe projection is
``step time x 50,000 + validation`` with validation estimated from the forward-only time of a batch
(twice per epoch, ``--n-train-genes`` / ``--n-valid-genes``, the EPInformer-fold sizes by default).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RECIPE_STEPS = 50_000
REF = dict(d_model=128, n_layers=4, length=2000, batch=8, n_tracks=3, n_covariates=9)
SCAN_REF = dict(batch=24, length=2000, d_inner=256, d_state=16)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: str, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


class Section:
    """Runs one section, records its result or error, its wall time, and skips it once over budget."""

    def __init__(self, report: dict, deadline: float) -> None:
        self.report, self.deadline = report, deadline

    def run(self, name: str, fn, *, needs_cuda: bool = False, device: str = "cpu", always: bool = False) -> dict:
        if needs_cuda and device != "cuda":
            res = {"status": "skipped", "reason": "needs CUDA (run with --device cuda on a GPU machine)"}
        elif time.perf_counter() > self.deadline and not always:
            res = {"status": "skipped", "reason": "time budget used up"}
        else:
            t0 = time.perf_counter()
            try:
                res = {"status": "ok", **fn()}
            except Exception as err:  # a failed section must not hide the others
                res = {"status": "error", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
            res["wall_s"] = round(time.perf_counter() - t0, 2)
        self.report[name] = res
        shown = json.dumps({k: v for k, v in res.items() if k != "traceback"}, default=str)[:400]
        print(f"[{name}] {res['status']} {shown}", flush=True)
        return res


def environment(device: str) -> dict:
    import importlib.metadata as md

    import torch

    from prismtools.models import scan as S

    def version(pkg: str) -> str | None:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "n_gpus": torch.cuda.device_count(),
        "mamba_ssm": version("mamba-ssm") or version("mamba_ssm"),
        "causal_conv1d": version("causal-conv1d") or version("causal_conv1d"),
        "mamba_ssm_fast_path_usable": S.mamba_ssm_available(),
        "numba": version("numba"),
        "scan_auto": S.default_scan_impl(device),
        "cpu_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }
    if torch.cuda.is_available():
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        env["bf16_supported"] = torch.cuda.is_bf16_supported()
        try:
            q = "name,driver_version,memory.total"
            out = subprocess.run(
                ["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
            )
            env["nvidia_smi"] = out.stdout.strip().splitlines()
        except (OSError, subprocess.TimeoutExpired) as err:
            env["nvidia_smi"] = f"unavailable: {err}"
    return env


def tiny_fit(device: str, quick: bool) -> dict:
    """Public API: toy data, a small Prism, ``fit`` on ``device`` and ``predict``; bf16 vs fp32 predictions."""
    import numpy as np

    import prismtools as pt

    adata = pt.datasets.toy(n_genes=96, width=128)
    model = pt.tl.Prism(adata, sample="toy", d_model=32, n_layers=2)
    precision = "bf16" if device == "cuda" else "32"
    t0 = time.perf_counter()
    model.fit(max_steps=10 if quick else 60, batch_size=8, device=device, precision=precision, progress=False)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.predict(adata, key_added="gc")
    predict_s = time.perf_counter() - t0
    pred = np.asarray(adata.obs["gc_pred"], dtype=np.float64)
    y = np.asarray(adata.X, dtype=np.float64).reshape(-1)
    res = {
        "fit_s": round(fit_s, 2),
        "predict_s": round(predict_s, 2),
        "fit_precision": precision,
        "predictions_finite": bool(np.isfinite(pred).all()),
        "pearson_train_data": float(np.corrcoef(pred, y)[0, 1]) if np.std(pred) > 0 else float("nan"),
    }
    return res


def bf16_vs_fp32(device: str, quick: bool) -> dict:
    """The same PrismNet weights (reference config) run in float32 and under bf16 autocast."""
    import torch

    from prismtools.models import PrismNet

    torch.manual_seed(0)
    length = 256 if quick else REF["length"]
    net = PrismNet(n_tracks=REF["n_tracks"], n_covariates=REF["n_covariates"]).to(device).eval()
    seq, tracks, cov, _ = _batch(REF["batch"], length, device)
    with torch.no_grad():
        out32 = net(seq, tracks, cov)
        with torch.autocast(device_type=device, dtype=torch.bfloat16):
            out16 = net(seq, tracks, cov)
    p32, p16 = _pred(out32).float(), _pred(out16).float()
    diff = (p32 - p16).abs()
    return {
        "length": length,
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float((diff / p32.abs().clamp_min(1e-6)).max()),
        "pred_std_fp32": float(p32.std()),
    }


def _pred(out):
    """The expression prediction from PrismNet's output (a tensor or a dict/tuple holding it)."""
    import torch

    if isinstance(out, torch.Tensor):
        return out.reshape(-1)
    if isinstance(out, dict):
        for key in ("pred", "y", "prediction"):
            if key in out:
                return out[key].reshape(-1)
        return next(iter(out.values())).reshape(-1)
    return out[0].reshape(-1)


def _batch(batch: int, length: int, device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 5, (batch, length), generator=g, dtype=torch.uint8).to(device)
    tracks = torch.rand(batch, REF["n_tracks"], length, generator=g).to(device)
    cov = torch.randn(batch, REF["n_covariates"], generator=g).to(device)
    y = torch.randn(batch, generator=g).to(device)
    return seq, tracks, cov, y


def scan_timings(device: str, quick: bool, impls: list[str], repeats: int) -> dict:
    """Forward + backward of every scan implementation at the reference scan size (one direction, one layer)."""
    import torch
    import torch.nn.functional as F

    from prismtools.models import scan as S

    length = 256 if quick else SCAN_REF["length"]
    b, d, n = SCAN_REF["batch"], SCAN_REF["d_inner"], SCAN_REF["d_state"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, length, d, generator=g)
    dt = F.softplus(torch.randn(b, length, d, generator=g) - 3.0)
    A = -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1)
    B = torch.randn(b, length, n, generator=g)
    C = torch.randn(b, length, n, generator=g)
    D = torch.ones(d)
    inputs = [t.to(device).requires_grad_() for t in (x, dt, A, B, C, D)]
    out = {"length": length, "shape": f"B={b}, L={length}, Din={d}, N={n}"}
    for impl in impls:
        try:
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()

            def fwd():
                with torch.no_grad():
                    S.selective_scan(*inputs, impl=impl)

            def fwdbwd():
                y = S.selective_scan(*inputs, impl=impl)
                torch.autograd.grad(y.sum(), inputs)

            reps = 1 if impl == "ref" else repeats
            t_f = _timed(fwd, device, 1, reps)
            t_fb = _timed(fwdbwd, device, 0 if impl == "ref" else 1, 1 if impl == "ref" else reps)
            rec = {"fwd_s": statistics.median(t_f), "fwdbwd_s": statistics.median(t_fb)}
            if device == "cuda":
                rec["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            out[impl] = rec
        except Exception as err:
            out[impl] = {"error": f"{type(err).__name__}: {err}"}
    timed = {k: v["fwdbwd_s"] for k, v in out.items() if isinstance(v, dict) and "fwdbwd_s" in v and k != "ref"}
    if timed:
        out["fastest_fwdbwd"] = min(timed, key=timed.get)
    return out


def train_step(device: str, quick: bool, precision: str, scan: str, warmup: int, repeats: int) -> dict:
    """One reference-size PrismNet training step (fwd + loss + bwd + clip + AdamW) and a forward-only batch."""
    import torch

    from prismtools.models import PrismNet, prism_loss

    torch.manual_seed(0)
    length = 256 if quick else REF["length"]
    net = PrismNet(n_tracks=REF["n_tracks"], n_covariates=REF["n_covariates"], scan=scan).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-4, betas=(0.9, 0.95), weight_decay=1e-6)
    seq, tracks, cov, y = _batch(REF["batch"], length, device)
    dtype = {"32": None, "bf16": torch.bfloat16}[precision]

    def autocast():
        return torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss, _ = prism_loss(net(seq, tracks, cov), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    def forward_only():
        with torch.no_grad(), autocast():
            net(seq, tracks, cov)

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    times = _timed(step, device, warmup, repeats)
    res = {
        "precision": precision,
        "scan": scan,
        "length": length,
        "step_s_median": statistics.median(times),
        "step_s_runs": [round(t, 4) for t in times],
    }
    if device == "cuda":
        res["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    res["forward_only_s"] = statistics.median(_timed(forward_only, device, 1, max(1, repeats // 2)))
    return res


def project(step: dict, n_train: int, n_valid: int, batch: int) -> dict:
    steps_per_epoch = max(1, n_train // batch)
    n_val = max(1, RECIPE_STEPS // max(1, steps_per_epoch // 2))
    val_s = n_val * (-(-n_valid // batch)) * step["forward_only_s"]
    train_s = RECIPE_STEPS * step["step_s_median"]
    return {
        "train_s": train_s,
        "validation_s": val_s,
        "total_min": (train_s + val_s) / 60,
        "assumptions": f"{n_train} training / {n_valid} validation genes, batch {batch}, validation twice per epoch "
        f"({n_val} rounds), eval batch = train batch; from the {step['precision']} step with scan={step['scan']}",
        "goal_met_15_min": (train_s + val_s) / 60 < 15,
    }


def ddp_smoke(out_dir: Path, timeout: int) -> dict:
    """``torchrun`` with 2 processes: a tiny fit through the public API (which wraps the model in DDP)."""
    import torch

    n = torch.cuda.device_count()
    if n < 2:
        return {"status_detail": f"skipped: {n} GPU(s) (needs 2 or more)"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
           "--ddp-child", "--out", str(out_dir)]  # fmt: skip
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    marker = out_dir / "ddp_child.json"
    res = {"returncode": proc.returncode, "wall_s": time.perf_counter() - t0, "tail": proc.stderr[-2000:]}
    if marker.exists():
        res["child"] = json.loads(marker.read_text())
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun exited {proc.returncode}: {proc.stderr[-800:]}")
    return res


def ddp_child(out_dir: Path) -> None:
    import numpy as np

    import prismtools as pt

    adata = pt.datasets.toy(n_genes=96, width=128)
    model = pt.tl.Prism(adata, sample="toy", d_model=32, n_layers=2)
    model.fit(max_steps=20, batch_size=8, device="cuda", precision="bf16", progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        model.predict(adata, key_added="ddp")
        pred = np.asarray(adata.obs["ddp_pred"], dtype=np.float64)
        info = {"world_size": int(os.environ.get("WORLD_SIZE", "1")), "finite": bool(np.isfinite(pred).all())}
        (out_dir / "ddp_child.json").write_text(json.dumps(info))


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# prismtools GPU check",
        "",
        f"Command: `{report['command']}`; total {report['total_s']:.0f} s; device {report['device']}"
        + (" (quick sizes: L = 256)" if report["quick"] else ""),
        "",
        "## Environment",
        "",
    ]
    for k, v in env.items():
        if k not in ("status", "wall_s"):
            lines.append(f"- {k}: {v}")
    for name in ("tiny_fit", "bf16_vs_fp32"):
        sec = report[name]
        lines += ["", f"## {name}", ""] + [f"- {k}: {v}" for k, v in sec.items() if k != "traceback"]
    sec = report["scans"]
    lines += ["", "## Scan implementations (forward, forward + backward)", ""]
    if sec.get("status") == "ok":
        lines += [f"{sec['shape']}; medians", "", "| impl | fwd s | fwd+bwd s | CUDA peak MB |", "|---|---|---|---|"]
        for impl, rec in sec.items():
            if isinstance(rec, dict) and ("fwd_s" in rec or "error" in rec):
                if "error" in rec:
                    lines.append(f"| {impl} | error: {rec['error']} | | |")
                else:
                    lines.append(
                        f"| {impl} | {rec['fwd_s']:.4f} | {rec['fwdbwd_s']:.4f} | "
                        f"{rec.get('cuda_peak_mb', float('nan')):.0f} |"
                    )
        lines.append(f"\nfastest forward + backward: **{sec.get('fastest_fwdbwd')}**")
    else:
        lines.append(f"- {sec.get('status')}: {sec.get('reason', sec.get('error'))}")
    lines += ["", "## Reference-size training step", ""]
    lines += ["| precision | scan | step s (median) | fwd-only s | peak MB |", "|---|---|---|---|---|"]
    for name, sec in report.items():
        if name.startswith("train_step_"):
            if sec.get("status") == "ok":
                lines.append(
                    f"| {sec['precision']} | {sec['scan']} | {sec['step_s_median']:.4f} | "
                    f"{sec['forward_only_s']:.4f} | "
                    f"{sec.get('peak_mem_mb', float('nan')):.0f} |"
                )
            else:
                lines.append(f"| {name} | {sec.get('status')}: {sec.get('reason', sec.get('error'))} | | | |")
    lines += ["", "## Projected 50,000-step recipe", ""]
    lines += [f"- {k}: {v}" for k, v in report["projection"].items() if k != "traceback"]
    lines += ["", "## DDP smoke test", ""] + [f"- {k}: {v}" for k, v in report["ddp"].items() if k != "traceback"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--quick", action="store_true", help="small sizes (L = 256), for a logic check on CPU")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_check")
    ap.add_argument("--budget-s", type=float, default=450.0, help="stop starting sections after this many seconds")
    ap.add_argument("--n-train-genes", type=int, default=16_000)
    ap.add_argument("--n-valid-genes", type=int, default=1_100)
    ap.add_argument("--ddp-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.ddp_child:
        ddp_child(args.out)
        return 0

    import torch

    if args.device == "cpu":
        torch.set_num_threads(1)  # shared CPUs: one thread avoids OpenMP stalls (benchmarks/README.md section 3)
    t_start = time.perf_counter()
    command = " ".join([Path(sys.executable).name, *sys.argv])
    report: dict = {"command": command, "device": args.device, "quick": args.quick}
    sec = Section(report, t_start + args.budget_s)
    env = sec.run("environment", lambda: environment(args.device))
    if args.device == "cuda" and not torch.cuda.is_available():
        msg = "no CUDA device here: only the environment was recorded (use --device cpu --quick for a logic check)"
        print(msg, file=sys.stderr)
        report["error"] = msg
        report["total_s"] = time.perf_counter() - t_start
        for name in ("tiny_fit", "bf16_vs_fp32", "scans", "projection", "ddp"):
            report[name] = {"status": "skipped", "reason": "no CUDA device"}
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
        (args.out / "gpu_check.md").write_text(markdown(report))
        return 1
    dev = args.device
    gpu = dev == "cuda"
    sec.run("tiny_fit", lambda: tiny_fit(dev, args.quick))
    sec.run("bf16_vs_fp32", lambda: bf16_vs_fp32(dev, args.quick))
    impls = ["mamba_ssm", "chunked", "loop", "ref"] if gpu else ["numba", "loop", "chunked"]
    if gpu and not env.get("mamba_ssm_fast_path_usable"):
        impls.remove("mamba_ssm")
    scans = sec.run("scans", lambda: scan_timings(dev, args.quick, impls, 5 if gpu else 2))
    auto = env.get("scan_auto", "auto")
    warmup, reps = (3, 20) if gpu else (1, 2)
    steps = {}
    for precision in ("32", "bf16"):
        steps[precision] = sec.run(
            f"train_step_{precision}_{auto}", lambda p=precision: train_step(dev, args.quick, p, auto, warmup, reps)
        )
    if gpu and auto == "mamba_ssm":  # the alternative CUDA default, for choosing scan="auto"
        sec.run("train_step_bf16_chunked", lambda: train_step(dev, args.quick, "bf16", "chunked", warmup, reps))
    best = steps.get("bf16") if steps.get("bf16", {}).get("status") == "ok" else steps.get("32")
    if best and best.get("status") == "ok":
        sec.run("projection", lambda: project(best, args.n_train_genes, args.n_valid_genes, REF["batch"]), always=True)
    else:
        report["projection"] = {"status": "skipped", "reason": "no training-step timing"}
    sec.run("ddp", lambda: ddp_smoke(args.out, 240), needs_cuda=True, device=dev)
    if scans.get("status") == "ok":
        report["recommended_scan_auto"] = scans.get("fastest_fwdbwd")
    report["total_s"] = time.perf_counter() - t_start
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (args.out / "gpu_check.md").write_text(markdown(report))
    print(f"wrote {args.out / 'gpu_check.json'} and gpu_check.md in {report['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
