"""Benchmark the selective-scan implementations and one PrismNet training step on this machine.

Usage::

    python benchmarks/bench_scan.py                # reference size, CPU, torch's default threads
    python benchmarks/bench_scan.py --threads 1    # pin intra-op threads
    python benchmarks/bench_scan.py --quick        # smaller L, for a smoke run
    python benchmarks/bench_scan.py --ref-full     # + autograd through the naive loop at full L (slow)
    python benchmarks/bench_scan.py --device cuda  # on a GPU machine (timings synchronised)
    python benchmarks/bench_scan.py --compare loop,numba --rounds 5 --threads 1
                                                   # interleaved side-by-side runs (see below)

Every case runs in a fresh subprocess so that its peak RSS (``resource.getrusage(...).ru_maxrss``) is its
own; "base RSS" is the peak before the timed calls (torch imported, inputs allocated). Times are
medians over ``--repeats`` runs after one warm-up run (the slow chunked forward+backward cases on CPU run
once, without warm-up). The naive reference recurrence (autograd through
every step) is timed forward-only at the full length and forward+backward at a short length, where the
loop scan is timed too for a like-for-like speed-up.

``--compare A,B,...`` runs the named implementations interleaved: ``--rounds`` rounds, each running every
implementation's forward, forward + backward and (unless ``--skip-train``) one reference-size training step
with ``scan=`` that implementation, each in a fresh subprocess (one warm-up call, then one timed call).
Medians over rounds are reported, so slow phases of a shared machine hit every implementation alike;
peak RSS is the maximum over rounds. The load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# reference size: 8 genes x 3 paths, L = 2000, d_inner 256, d_state 16
REF = dict(batch=24, length=2000, d_inner=256, d_state=16)
SHORT_L = 250


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _scan_inputs(batch: int, length: int, d_inner: int, d_state: int, device: str, seed: int = 0):
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, d_inner, generator=g)
    dt = F.softplus(torch.randn(batch, length, d_inner, generator=g) - 3.0)  # ~ Mamba's initial range
    A = -torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)
    B = torch.randn(batch, length, d_state, generator=g)
    C = torch.randn(batch, length, d_state, generator=g)
    D = torch.ones(d_inner)
    return [t.to(device).requires_grad_() for t in (x, dt, A, B, C, D)]


WARMUP = False  # set by --warmup (children of --compare): always one untimed call first


def _time(fn, repeats: int, device: str) -> list[float]:
    if repeats > 1 or device == "cuda" or WARMUP:
        fn()  # warm-up (skipped for single CPU runs of the slow cases)
        _sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def run_case(case: str, length: int, repeats: int, device: str) -> dict:
    """Run one case in this process; returns timings (s) and RSS (MB)."""
    import torch

    from prismtools.models import scan as S

    if case.startswith("train_step"):
        scan = case.split(":")[1] if ":" in case else "auto"
        return _train_step(length, repeats, device, scan)
    impl, mode = case.split(":")
    fns = {
        "ref": S.selective_scan_ref,
        "loop": S.selective_scan_loop,
        "chunked": S.selective_scan_chunked,
        "chunked_k16x4": lambda *a: S.selective_scan_chunked(*a, chunk_size=16, chunks_per_block=4),
        "numba": S.selective_scan_numba,
        "mamba_ssm": lambda *a: S.selective_scan(*a, impl="mamba_ssm"),
    }
    fn = fns[impl]
    if impl == "numba":  # load the compiled kernels (LLVM, ~100 MB of code) before measuring the base
        tiny = _scan_inputs(2, 8, 4, 2, device)
        fn(*tiny)
        torch.autograd.grad(fn(*tiny).sum(), tiny)
    inputs = _scan_inputs(REF["batch"], length, REF["d_inner"], REF["d_state"], device)
    base = _rss_mb()

    if mode == "fwd":

        def step():
            with torch.no_grad():
                fn(*inputs)

    else:

        def step():
            y = fn(*inputs)
            torch.autograd.grad(y.sum(), inputs)

    times = _time(step, repeats, device)
    res = {"times": times, "median": statistics.median(times), "base_rss_mb": base, "peak_rss_mb": _rss_mb()}
    if device == "cuda":
        res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def _train_step(length: int, repeats: int, device: str, scan: str = "auto") -> dict:
    import torch

    from prismtools.models import PrismNet, prism_loss

    torch.manual_seed(0)
    n_genes = 8
    model = PrismNet(n_tracks=3, n_covariates=9, scan=scan).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.95), weight_decay=1e-6)
    g = torch.Generator().manual_seed(0)
    seq = torch.randint(0, 5, (n_genes, length), generator=g, dtype=torch.uint8).to(device)
    tracks = torch.rand(n_genes, 3, length, generator=g).to(device)
    cov = torch.randn(n_genes, 9, generator=g).to(device)
    y = torch.randn(n_genes, generator=g).to(device)
    base = _rss_mb()

    def step():
        opt.zero_grad(set_to_none=True)
        loss, _ = prism_loss(model(seq, tracks, cov), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    times = _time(step, repeats, device)
    med = statistics.median(times)
    res = {"times": times, "median": med, "steps_per_s": 1.0 / med, "base_rss_mb": base, "peak_rss_mb": _rss_mb()}
    if device == "cuda":
        res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def _subprocess_case(case: str, length: int, repeats: int, device: str, threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--case", case, "--length", str(length), "--repeats", str(repeats)]
    cmd += ["--device", device]
    if WARMUP:
        cmd += ["--warmup"]
    if threads:
        cmd += ["--threads", str(threads)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    return res


def machine_info(threads: int) -> str:
    import torch

    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()[:20]
        keep = ("Architecture", "CPU(s):", "Model name", "Thread(s)", "Core(s)", "L2 cache", "L3 cache")
        lscpu = [line for line in lscpu if line.startswith(keep)]
    except OSError:
        lscpu = [platform.processor()]
    load = os.getloadavg()
    lines = [f"- {line.split(':', 1)[0].strip()}: {line.split(':', 1)[1].strip()}" for line in lscpu]
    lines += [
        f"- torch {torch.__version__}, intra-op threads {threads}, Python {platform.python_version()}",
        f"- load average at start (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
    ]
    return "\n".join(lines)


def compare(impls: list[str], rounds: int, length: int, device: str, threads: int | None, train: bool) -> str:
    """Interleaved side-by-side runs of ``impls``; returns a Markdown table."""
    cases = [(f"{impl}:{mode}", impl, mode) for mode in ("fwd", "fwdbwd") for impl in impls]
    if train:
        cases += [(f"train_step:{impl}", impl, "train step") for impl in impls]
    runs: dict[str, list[dict]] = {key: [] for key, _, _ in cases}
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    for r in range(rounds):
        for key, _, _ in cases:
            if key.startswith("train_step") and r >= max(2, rounds // 2):
                continue  # training steps are long: at most max(2, rounds // 2) rounds
            res = _subprocess_case(key, length, 1, device, threads)
            runs[key].append(res)
            print(f"round {r + 1} {key}: {res.get('median', res.get('error'))}", flush=True)
    load1 = os.getloadavg()
    lines = [
        f"Interleaved comparison, {rounds} rounds, L = {length}, device {device}, "
        f"threads {threads or 'torch default'}; "
        f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; {time.perf_counter() - t0:.0f} s wall",
        "",
        "| case | impl | median s | runs (s) | peak RSS MB (max over rounds; base) |",
        "|---|---|---|---|---|",
    ]
    medians = {}
    for key, impl, mode in cases:
        ok = [x for x in runs[key] if "error" not in x]
        if not ok:
            err = runs[key][0].get("error", "not run") if runs[key] else "not run"
            lines.append(f"| {mode} | {impl} | error: {err} | | |")
            continue
        times = [x["median"] for x in ok]
        medians[(mode, impl)] = statistics.median(times)
        peak = max(x["peak_rss_mb"] for x in ok)
        base = statistics.median(x["base_rss_mb"] for x in ok)
        cuda = f", CUDA peak {max(x['cuda_peak_mb'] for x in ok):.0f}" if "cuda_peak_mb" in ok[0] else ""
        lines.append(
            f"| {mode} | {impl} | {medians[(mode, impl)]:.3f} | {', '.join(f'{t:.2f}' for t in times)} | "
            f"{peak:.0f} (base {base:.0f}{cuda}) |"
        )
    first = impls[0]
    lines.append("")
    for mode in ("fwd", "fwdbwd", "train step"):
        for impl in impls[1:]:
            if (mode, first) in medians and (mode, impl) in medians:
                ratio = medians[(mode, first)] / medians[(mode, impl)]
                lines.append(f"- {mode}: {impl} is {ratio:.1f}x faster than {first}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--length", type=int, default=REF["length"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="L = 500 and 2 repeats")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument(
        "--ref-full",
        action="store_true",
        help="also time autograd through the naive recurrence at the full length (minutes, ~4 GB)",
    )
    ap.add_argument("--markdown", type=Path, default=None, help="also write the results table here")
    ap.add_argument("--compare", default=None, help="comma-separated implementations to run interleaved")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of --compare")
    ap.add_argument("--warmup", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global WARMUP
    WARMUP = args.warmup or bool(args.compare)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.case:  # child process
        print(json.dumps(run_case(args.case, args.length, args.repeats, args.device)))
        return

    threads = torch.get_num_threads()
    length = 500 if args.quick else args.length
    if args.compare:
        info = machine_info(threads)
        print(info, flush=True)
        text = info + "\n\n" + compare(
            args.compare.split(","), args.rounds, length, args.device, args.threads, not args.skip_train
        )
        print("\n" + text)
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return
    repeats = 2 if args.quick else args.repeats
    info = machine_info(threads)
    print(info, flush=True)
    from prismtools.models.scan import default_scan_impl

    auto = default_scan_impl(args.device)
    cases = [
        ("ref:fwd", "naive recurrence (autograd loop), forward", length, repeats),
        ("loop:fwd", "loop, forward", length, repeats),
        ("loop:fwdbwd", "loop, forward + backward", length, repeats),
        ("chunked:fwd", "chunked (K=32, 2^26-element blocks), forward", length, min(repeats, 2)),
        ("chunked:fwdbwd", "chunked (K=32, 2^26-element blocks), forward + backward", length, 1),
        ("chunked_k16x4:fwd", "chunked (K=16, 4 chunks per block), forward", length, repeats),
        ("chunked_k16x4:fwdbwd", "chunked (K=16, 4 chunks per block), forward + backward", length, 1),
        ("ref:fwdbwd", "naive recurrence (autograd loop), forward + backward", SHORT_L, repeats),
        ("loop:fwdbwd", "loop, forward + backward", SHORT_L, repeats),
    ]
    if args.ref_full:
        cases.append(("ref:fwdbwd", "naive recurrence (autograd loop), forward + backward", length, 1))
    results = {}
    rows = []
    t_start = time.perf_counter()
    for key, label, n, rep in cases:
        res = _subprocess_case(key, n, rep, args.device, args.threads)
        results[(key, n)] = res
        if "error" in res:
            rows.append(f"| {label} | {n} | error: {res['error']} | | |")
        else:
            cuda = f" (CUDA peak {res['cuda_peak_mb']:.0f} MB)" if "cuda_peak_mb" in res else ""
            rows.append(
                f"| {label} | {n} | {res['median']:.3f} | {res['base_rss_mb']:.0f} -> {res['peak_rss_mb']:.0f}{cuda} |"
                f" {', '.join(f'{t:.2f}' for t in res['times'])} |"
            )
        print(rows[-1], flush=True)

    def med(key, n):
        r = results.get((key, n), {})
        return r.get("median", float("nan"))

    speed = [
        f"- `impl=\"auto\"` on {args.device} picks **{auto}**.",
        f"- forward at L={length}: loop is {med('ref:fwd', length) / med('loop:fwd', length):.1f}x faster than the "
        f"naive recurrence and {med('chunked:fwd', length) / med('loop:fwd', length):.1f}x faster than the chunked scan "
        f"({med('chunked_k16x4:fwd', length) / med('loop:fwd', length):.1f}x for K=16 x 4).",
        f"- forward + backward at L={length}: loop is {med('chunked:fwdbwd', length) / med('loop:fwdbwd', length):.1f}x "
        f"faster than the chunked scan ({med('chunked_k16x4:fwdbwd', length) / med('loop:fwdbwd', length):.1f}x "
        "for K=16 x 4).",
        f"- forward + backward at L={SHORT_L}: loop is "
        f"{med('ref:fwdbwd', SHORT_L) / med('loop:fwdbwd', SHORT_L):.1f}x faster than autograd through the naive "
        "recurrence.",
    ]
    if args.ref_full:
        speed.append(
            f"- forward + backward at L={length}: loop is "
            f"{med('ref:fwdbwd', length) / med('loop:fwdbwd', length):.1f}x faster than autograd through the naive "
            "recurrence."
        )
    train_lines = []
    if not args.skip_train:
        res = _subprocess_case("train_step", length, min(repeats, 2), args.device, args.threads)
        if "error" in res:
            train_lines.append(f"- training step failed: {res['error']}")
        else:
            train_lines.append(
                f"- one PrismNet training step (reference size, 8 genes x 3 paths, L={length}, AdamW, clip 1.0, "
                f"scan={auto}): median {res['median']:.2f} s = {res['steps_per_s']:.3f} steps/s "
                f"(runs: {', '.join(f'{t:.2f}' for t in res['times'])} s); peak RSS {res['peak_rss_mb']:.0f} MB "
                f"(base {res['base_rss_mb']:.0f} MB)"
            )
    load = os.getloadavg()
    train_lines.append(
        f"- total benchmark wall time {time.perf_counter() - t_start:.0f} s; load average at end "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    header = [
        "| scan (B=24, Din=256, N=16) | L | median s | RSS MB (base -> peak) | runs (s) |",
        "|---|---|---|---|---|",
    ]
    text = "\n".join([info, "", *header, *rows, "", *speed, *train_lines])
    print("\n" + "\n".join(speed + train_lines))
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
