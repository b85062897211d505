"""The training loop: AdamW without decay on 1-D parameters, warm-up + cosine schedule, clipping, validation
by MSE with the best weights kept, resumable checkpoints, optional DistributedDataParallel.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._settings import settings
from ._checkpoint import BEST, LAST, load_training_checkpoint, save_training_checkpoint
from ._data import GeneBatches, GeneBatchSampler, make_loader, to_device
from ._device import DistEnv, Precision, sync_buffers, wrap_ddp
from ._inference import forward, run_inference

logger = logging.getLogger(__name__)

WARMUP_START_LR = 1e-5
MIN_LR = 1e-4
GRAD_CLIP = 1.0
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 1e-6
#: Fields of a checkpoint's fit settings that must agree for ``resume=True``.
RESUME_MUST_MATCH = ("batch_size",)


def param_groups(net: torch.nn.Module, weight_decay: float = WEIGHT_DECAY) -> list[dict]:
    """Two AdamW groups: weight decay on matrices/kernels; none on biases, norm weights and other 1-D params.

    Parameters flagged ``_no_weight_decay`` (Mamba's ``A_log`` and ``D``) are not decayed either.
    """
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        lname = name.lower()
        if p.ndim < 2 or lname.endswith("bias") or "norm" in lname or getattr(p, "_no_weight_decay", False):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, *, lr: float, max_steps: int, warmup_steps: int) -> float:
    """Learning rate of update ``step`` (0-based): linear warm-up from 1e-5, then cosine down to 1e-4.

    Both the warm-up start and the floor are clamped to at most ``lr``.
    """
    start, floor = min(WARMUP_START_LR, lr), min(MIN_LR, lr)
    if warmup_steps > 0 and step < warmup_steps:
        return start + (lr - start) * step / warmup_steps
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class _LrFactor:
    """The multiplicative factor ``lr_at(step) / lr`` that LambdaLR applies (rebuilt, not unpickled, on resume)."""

    def __init__(self, lr: float, max_steps: int, warmup_steps: int):
        self.lr, self.max_steps, self.warmup_steps = lr, max_steps, warmup_steps

    def __call__(self, step: int) -> float:
        return lr_at(step, lr=self.lr, max_steps=self.max_steps, warmup_steps=self.warmup_steps) / self.lr


def make_optimizer(net: torch.nn.Module, *, lr: float, max_steps: int, warmup_steps: int):
    opt = torch.optim.AdamW(param_groups(net), lr=lr, betas=BETAS)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _LrFactor(lr, max_steps, warmup_steps))
    return opt, sched


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred, y = np.asarray(pred, np.float64), np.asarray(y, np.float64)
    if len(y) == 0:
        return {"mse": float("nan"), "mae": float("nan"), "pearson": float("nan")}
    err = pred - y
    with np.errstate(all="ignore"):
        r = float(np.corrcoef(pred, y)[0, 1]) if len(y) > 1 and pred.std() > 0 and y.std() > 0 else float("nan")
    return {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err))), "pearson": r}


@dataclass
class FitConfig:
    max_steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    alpha: float
    beta: float
    seed: int
    eval_batch_size: int
    n_workers: int
    checkpoint_dir: str | None
    resume: bool
    progress: bool

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("max_steps", "batch_size", "lr", "warmup_steps", "alpha", "beta", "seed")}


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_step: int | None = None
    best_val_mse: float = float("nan")
    steps_done: int = 0
    seconds: float = 0.0
    steps_this_run: int = 0


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(
    net: torch.nn.Module,
    loss_fn,
    *,
    train_data: GeneBatches,
    train_genes: np.ndarray,
    valid_genes: np.ndarray,
    valid_y: np.ndarray,
    window: dict,
    cfg: FitConfig,
    device: torch.device,
    precision: Precision,
    env: DistEnv,
    meta: dict,
) -> FitResult:
    """Train ``net`` in place (its best weights loaded at the end) and return the history.

    ``meta`` (the model registry) is stored in checkpoints and compared on resume.
    """
    res = FitResult()
    net.to(device)
    sampler = GeneBatchSampler(
        train_genes, cfg.batch_size, seed=cfg.seed, chunk_bounds=train_data.chunk_bounds,
        buffer_chunks=train_data.buffer_chunks, rank=env.rank, world_size=env.world_size,
    )
    steps_per_epoch = sampler.steps_per_epoch
    val_every = max(1, steps_per_epoch // 2)
    opt, sched = make_optimizer(net, lr=cfg.lr, max_steps=cfg.max_steps, warmup_steps=cfg.warmup_steps)
    scaler = torch.amp.GradScaler(device.type) if precision.use_scaler else None
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir is not None else None
    if ckpt_dir is not None and env.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(cfg.seed)
    start = 0
    best_state = None
    if cfg.resume and ckpt_dir is not None:
        last = ckpt_dir / LAST
        if last.is_file():
            ck = load_training_checkpoint(last)
            _check_resumable(ck, cfg, meta, last)
            net.load_state_dict(ck["state_dict"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            sched.lr_lambdas[0] = _LrFactor(cfg.lr, cfg.max_steps, cfg.warmup_steps)
            if scaler is not None and ck.get("scaler"):
                scaler.load_state_dict(ck["scaler"])
            _set_rng_state(ck["rng"], device)
            start = int(ck["step"])
            res.history = list(ck["history"])
            res.best_step = ck["best_step"]
            res.best_val_mse = float(ck["best_val_mse"])
            best_state = ck["best_state"]
            if env.is_main:
                logger.info("resuming from %s at step %d of %d", last, start, cfg.max_steps)
        elif env.is_main:
            logger.warning("resume=True but %s does not exist; training from scratch.", last)
    elif cfg.resume:
        raise ValueError("resume=True needs checkpoint_dir= (the directory holding last.pt).")

    if start >= cfg.max_steps:
        if env.is_main:
            logger.warning(
                "The checkpoint is already at step %d >= max_steps=%d; nothing to train.", start, cfg.max_steps
            )
    sampler.start_step = start
    loader = make_loader(
        train_data, sampler, n_workers=cfg.n_workers, pin_memory=device.type == "cuda", seed=cfg.seed, persistent=True
    )
    model = wrap_ddp(net, env, device)
    params = [p for p in net.parameters() if p.requires_grad]
    upsample = dict(bin_size=window["bin_size"], width=window["width"], upsample=window["upsample"])

    show = cfg.progress and settings.progress and env.is_main
    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.max_steps, initial=start, disable=not show, desc="Prism fit", unit="step", dynamic_ncols=True)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    parts_sum: dict[str, torch.Tensor] = {}
    n_since = 0
    last_val = res.history[-1]["val_mse"] if res.history else float("nan")
    t0 = time.perf_counter()
    it = iter(loader) if start < cfg.max_steps else None
    try:
        for step in range(start, cfg.max_steps):
            batch = to_device(next(it), device, **upsample)
            model.train()
            with precision.autocast(device):
                out = forward(model, batch)
            out = {k: v.float() for k, v in out.items()}
            loss, parts = loss_fn(out, batch["y"], alpha=cfg.alpha, beta=cfg.beta)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
                opt.step()
            sched.step()
            loss_sum += loss.detach().double()
            for k, v in (parts or {}).items():
                v = v.detach().double() if torch.is_tensor(v) else torch.tensor(float(v), dtype=torch.float64)
                parts_sum[k] = parts_sum.get(k, 0.0) + v.to(device)
            n_since += 1
            done = step + 1
            res.steps_this_run += 1
            if show and (done % 10 == 0 or n_since == 1):
                bar.set_postfix(loss=f"{loss.item():.4f}", val_mse=f"{last_val:.4f}", refresh=False)
            bar.update(1)
            if done % val_every == 0 or done == cfg.max_steps:
                sync_buffers(net, env)
                train_loss = float(loss_sum.item()) / n_since
                if not math.isfinite(train_loss):
                    raise FloatingPointError(
                        f"The training loss became {train_loss} by step {done}; lower lr= or use precision='32'."
                    )
                row = {"step": done, "epoch": done / steps_per_epoch, "train_loss": train_loss}
                row.update({f"train_{k}": float(v.item()) / n_since for k, v in parts_sum.items()})
                row["lr"] = float(sched.get_last_lr()[0])
                if len(valid_genes):
                    pred = run_inference(
                        net, train_data, valid_genes, batch_size=cfg.eval_batch_size, device=device,
                        precision=precision, window=window, n_workers=cfg.n_workers,
                    )["pred"]
                    m = regression_metrics(pred, valid_y)
                    row.update({"val_mse": m["mse"], "val_mae": m["mae"], "val_pearson": m["pearson"]})
                    last_val = m["mse"]
                    improved = math.isfinite(m["mse"]) and not (m["mse"] >= res.best_val_mse)  # NaN best -> True
                else:
                    row.update({"val_mse": float("nan"), "val_mae": float("nan"), "val_pearson": float("nan")})
                    improved = True  # without validation genes the last weights are kept
                if improved:
                    res.best_step = done
                    res.best_val_mse = row["val_mse"]
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
                res.history.append(row)
                loss_sum.zero_()
                parts_sum, n_since = {}, 0
                if env.is_main:
                    logger.info(
                        "step %d/%d: train_loss %.4f, val_mse %.4f, val_pearson %.4f, lr %.2e",
                        done, cfg.max_steps, row["train_loss"], row["val_mse"], row["val_pearson"], row["lr"],
                    )
                    bar.set_postfix(loss=f"{row['train_loss']:.4f}", val_mse=f"{last_val:.4f}", refresh=False)
                    if ckpt_dir is not None:
                        state = {
                            "step": done,
                            "state_dict": net.state_dict(),
                            "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(),
                            "scaler": scaler.state_dict() if scaler is not None else None,
                            "rng": _rng_state(device),
                            "history": res.history,
                            "best_step": res.best_step,
                            "best_val_mse": res.best_val_mse,
                            "best_state": best_state,
                            "fit": cfg.as_dict(),
                            "registry": meta,
                        }
                        save_training_checkpoint(ckpt_dir / LAST, state)
                        if improved:
                            save_training_checkpoint(ckpt_dir / BEST, state)
    finally:
        bar.close()
        del it
    res.seconds = time.perf_counter() - t0
    res.steps_done = max(start, cfg.max_steps)
    if best_state is not None:
        net.load_state_dict(best_state)
    return res


def settings_diff(old, new, prefix: str = "") -> list[str]:
    """``"key: old -> new"`` for every (nested) setting that differs between two registries."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in list(old) + [k for k in new if k not in old]:
            name = f"{prefix}{k}"
            if k not in new:
                out.append(f"{name}: {old[k]!r} -> (absent)")
            elif k not in old:
                out.append(f"{name}: (absent) -> {new[k]!r}")
            else:
                out.extend(settings_diff(old[k], new[k], f"{name}."))
        return out
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)) and len(old) == len(new):
        if all(isinstance(v, dict) for v in list(old) + list(new)):
            return [d for i, (a, b) in enumerate(zip(old, new)) for d in settings_diff(a, b, f"{prefix}[{i}].")]
    if old != new:
        return [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]
    return []


def _check_resumable(ck: dict, cfg: FitConfig, meta: dict, path: Path) -> None:
    if ck.get("registry") != meta:
        diff = settings_diff(ck.get("registry") or {}, meta)
        raise ValueError(
            f"{str(path)!r} was written by a model with different inputs or settings; cannot resume. "
            f"Differences (checkpoint -> this model): {'; '.join(diff)}."
        )
    old = ck.get("fit", {})
    for k in RESUME_MUST_MATCH:
        if old.get(k) != getattr(cfg, k):
            raise ValueError(
                f"Cannot resume {str(path)!r}: it was trained with {k}={old.get(k)}, not {getattr(cfg, k)}."
            )
    changed = [k for k in ("max_steps", "lr", "warmup_steps", "alpha", "beta", "seed") if old.get(k) != getattr(cfg, k)]
    if changed:
        logger.warning(
            "Resuming %s with changed %s (was %s); the schedule follows the new values.",
            path, changed, {k: old.get(k) for k in changed},
        )

