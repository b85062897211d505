"""Driving a fit: a Lightning ``Trainer`` over :class:`PrismTrainingPlan` and :class:`PrismDataModule`.

Lightning does the loop, devices, precision, DDP (``torchrun`` or ``devices=N``), loggers and callbacks.
Ours are three small pieces Lightning does not give in this form:

- :class:`ValidationCallback`: validation by MSE twice per epoch *and at the last step* over an endless
  sampler, with the best weights kept in memory (no checkpoint directory needed) and restored at the end, and
  the ``history_`` rows. Lightning's own validation loop would skip the last step of a run whose length is
  not a multiple of the interval, and skip every validation when there are no validation genes (we still
  record the training curve and keep the last weights).
- :class:`PrismCheckpointIO` (a Lightning ``CheckpointIO`` plugin): atomic writes, a format tag and a content
  hash verified on load (see :mod:`._checkpoint`).
- Exact resume: Lightning restores weights, optimiser, scheduler and loop counters, but neither the torch RNG
  nor the position inside an epoch of a custom sampler. The callback stores the RNG state; the data module
  starts its sampler at ``trainer.global_step`` (:mod:`._datamodule`). A resumed CPU fit ends bit-identical
  to an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as L
import torch
from lightning.fabric.plugins.io import CheckpointIO
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from .._settings import settings
from ._checkpoint import (
    BEST,
    LAST,
    CheckpointError,
    atomic_torch_save,
    load_training_checkpoint,
    save_training_checkpoint,
)
from ._training_plan import (  # noqa: F401 - re-exported: the recipe's public pieces
    BETAS,
    GRAD_CLIP,
    MIN_LR,
    WARMUP_START_LR,
    WEIGHT_DECAY,
    PrismTrainingPlan,
    lr_at,
    param_groups,
)

logger = logging.getLogger(__name__)

_RESULTS_KEY = "_prismtools_fit_results"
#: Fields of a checkpoint's fit settings that must agree for ``resume=True``.
RESUME_MUST_MATCH = ("batch_size",)
#: Lightning's start-up lines ("GPU available: ...") are demoted to DEBUG unless prismtools logs at DEBUG.
_QUIET_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                  "lightning.pytorch.accelerators.cuda", "lightning.fabric.utilities.distributed")
#: Lightning warnings that do not apply to this loop (endless sampler, in-process data, own validation).
_EXPECTED_WARNINGS = (
    r".*does not have many workers.*",
    r".*You're resuming from a checkpoint that ended before the epoch ended.*",
    r".*`training_step` returned `None`.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning 2.6 vs torch >= 2.10 internals
)


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


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


class PrismCheckpointIO(CheckpointIO):
    """Lightning checkpoints written atomically with a format tag and content hash, and verified on load."""

    def __init__(self, preloaded: dict | None = None):
        self.preloaded = dict(preloaded or {})

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        if "global_step" not in checkpoint:  # Lightning moving weights between processes: a plain file
            atomic_torch_save(checkpoint, path)
            return
        # looked up at call time (module attribute), so tests can interrupt a fit right after a save
        save_training_checkpoint(Path(path), {"step": int(checkpoint["global_step"]), **checkpoint})

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        key = str(Path(path))
        if key in self.preloaded:
            return self.preloaded.pop(key)
        try:
            return load_training_checkpoint(path)
        except CheckpointError as err:
            if "is not a" not in str(err):
                raise
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)

    def remove_checkpoint(self, path) -> None:
        Path(path).unlink(missing_ok=True)


class ValidationCallback(Callback):
    """Validate every ``every`` steps and at ``max_steps``; keep the best weights and the history rows.

    At each validation: a history row (step, epoch, mean training loss since the previous row, loss parts,
    learning rate, validation metrics) is logged to the trainer's loggers, ``val_mse`` is exposed to
    early-stopping callbacks, the weights are copied to memory when the validation MSE improves, and
    ``last.pt`` (and ``best.pt`` on improvement) are written when a checkpoint directory is set.
    """

    def __init__(self, *, every: int, max_steps: int, steps_per_epoch: int, checkpoint_dir: Path | None):
        self.every, self.max_steps, self.steps_per_epoch = int(every), int(max_steps), int(steps_per_epoch)
        self.checkpoint_dir = checkpoint_dir
        self.history: list[dict] = []
        self.best_step: int | None = None
        self.best_val_mse = float("nan")
        self.best_state: dict | None = None
        self._rng: dict | None = None
        self.steps_this_run = 0

    def state_dict(self) -> dict:
        return {"history": self.history, "best_step": self.best_step, "best_val_mse": self.best_val_mse,
                "best_state": self.best_state, "rng": _rng_state()}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"])
        self.best_step, self.best_val_mse = state["best_step"], float(state["best_val_mse"])
        self.best_state, self._rng = state["best_state"], state.get("rng")

    def on_train_start(self, trainer, plan) -> None:
        if self._rng is not None:  # after every other restore step, right before the first resumed batch
            _set_rng_state(self._rng)
            self._rng = None

    def on_train_batch_end(self, trainer, plan: PrismTrainingPlan, outputs, batch, batch_idx) -> None:
        self.steps_this_run += 1
        done = trainer.global_step
        if not (done % self.every == 0 or done >= self.max_steps):
            return
        if trainer.world_size > 1:  # every rank validates (and keeps) rank 0's BatchNorm statistics
            for buf in plan.net.buffers():
                torch.distributed.broadcast(buf.data, src=0)
        row = {"step": done, "epoch": done / self.steps_per_epoch, **plan.train_summary()}
        if not math.isfinite(row["train_loss"]):
            raise FloatingPointError(
                f"The training loss became {row['train_loss']} by step {done}; lower lr= or use precision='32'."
            )
        row.update(plan.validate())
        val = row["val_mse"]
        if len(plan.valid_genes):
            improved = math.isfinite(val) and not (val >= self.best_val_mse)  # NaN best -> True
        else:
            improved = True  # without validation genes the last weights are kept
        if improved:
            self.best_step, self.best_val_mse = done, val
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in plan.net.state_dict().items()}
        self.history.append(row)
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in row.items() if k.startswith("val_")})
        if trainer.is_global_zero:
            for lg in trainer.loggers:
                lg.log_metrics({k: v for k, v in row.items() if k != "step"}, step=done)
            logger.info(
                "step %d/%d: train_loss %.4f, val_mse %.4f, val_pearson %.4f, lr %.2e",
                done, self.max_steps, row["train_loss"], val, row["val_pearson"], row["lr"],
            )
        if self.checkpoint_dir is not None:
            trainer.save_checkpoint(self.checkpoint_dir / LAST)
            if improved:
                trainer.save_checkpoint(self.checkpoint_dir / BEST)
        for cb in trainer.callbacks:  # our validation is the trainer's: early stopping and the like react to it
            if cb is not self and isinstance(cb, (EarlyStopping, ModelCheckpoint)):
                cb.on_validation_end(trainer, plan)

    def on_fit_end(self, trainer, plan) -> None:
        if self.best_state is not None:
            plan.net.load_state_dict(self.best_state)
        # with processes Lightning forked or spawned (devices=N, "ddp_notebook"), rank 0's callback_metrics is
        # what travels back to the calling process (the weights travel on their own): carry the curves there
        trainer.callback_metrics[_RESULTS_KEY] = self.results()

    def results(self) -> dict:
        return {"history": self.history, "best_step": self.best_step, "best_val_mse": self.best_val_mse,
                "steps_this_run": self.steps_this_run}


class ProgressBarCallback(Callback):
    """A ``tqdm.auto`` bar over optimiser steps (Lightning's own bar has no total for an endless sampler)."""

    def __init__(self, max_steps: int):
        self.max_steps, self.bar = int(max_steps), None

    def on_train_start(self, trainer, plan) -> None:
        from .._progress import progress_bar

        self.bar = progress_bar(total=self.max_steps, initial=trainer.global_step, desc="Prism fit", unit="step",
                                dynamic_ncols=True, disable=not trainer.is_global_zero)

    def on_train_batch_end(self, trainer, plan, outputs, batch, batch_idx) -> None:
        self.bar.update(1)
        if trainer.global_step % 10 == 0:
            self.bar.set_postfix(loss=f"{float(plan.last_loss):.4f}", refresh=False)

    def on_train_end(self, trainer, plan) -> None:
        if self.bar is not None:
            self.bar.close()

    on_exception = lambda self, trainer, plan, exc: self.on_train_end(trainer, plan)  # noqa: E731


@contextlib.contextmanager
def quiet_lightning():
    """Lightning's banner to DEBUG-level silence, and the warnings that do not apply to this loop ignored."""
    levels = {}
    if logging.getLogger("prismtools").getEffectiveLevel() > logging.DEBUG:
        for name in _QUIET_LOGGERS:
            lg = logging.getLogger(name)
            levels[name] = lg.level
            lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for msg in _EXPECTED_WARNINGS:
                warnings.filterwarnings("ignore", message=msg)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


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



def make_logger(logger_, checkpoint_dir: Path | None):
    """``"auto"``: a CSV logger in ``checkpoint_dir/logs`` when there is a checkpoint directory, else none;
    ``True``/``"csv"``: a CSV logger (in ``checkpoint_dir/logs`` or ``./prism_logs``); ``False``/``None``: none;
    anything else (a Lightning logger or a list of them) is passed to the trainer as is.
    """
    from lightning.pytorch.loggers import CSVLogger

    if logger_ is None or logger_ is False:
        return False
    if isinstance(logger_, str) and logger_ == "auto":
        return CSVLogger(checkpoint_dir, name="logs") if checkpoint_dir is not None else False
    if logger_ is True or (isinstance(logger_, str) and logger_.lower() == "csv"):
        return CSVLogger(checkpoint_dir if checkpoint_dir is not None else "prism_logs", name="logs")
    if isinstance(logger_, str):
        raise ValueError(f"logger must be 'auto', 'csv', True/False or a Lightning logger, got {logger_!r}.")
    return logger_


def train(
    plan: PrismTrainingPlan,
    datamodule,
    *,
    cfg: FitConfig,
    meta: dict,
    accelerator,
    devices,
    num_nodes: int = 1,
    strategy="auto",
    precision: str = "32-true",
    logger_="auto",
    callbacks=None,
    early_stopping: bool = False,
    early_stopping_patience: int = 10,
) -> FitResult:
    """Train ``plan.net`` in place with a Lightning ``Trainer`` (best weights loaded at the end).

    ``meta`` (the model registry) is stored in checkpoints and compared on resume.
    """
    res = FitResult()
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir is not None else None
    ckpt_path, preloaded = None, {}
    if cfg.resume:
        if ckpt_dir is None:
            raise ValueError("resume=True needs checkpoint_dir= (the directory holding last.pt).")
        last = ckpt_dir / LAST
        if last.is_file():
            ck = load_training_checkpoint(last)
            _check_resumable(ck, cfg, meta, last)
            start = int(ck["step"])
            logger.info("resuming from %s at step %d of %d", last, start, cfg.max_steps)
            if start >= cfg.max_steps:
                logger.warning(
                    "The checkpoint is already at step %d >= max_steps=%d; nothing to train.", start, cfg.max_steps
                )
                state = ck["callbacks"][ValidationCallback.__qualname__]
                plan.net.load_state_dict(state["best_state"] or {k[4:]: v for k, v in ck["state_dict"].items()})
                res.history, res.best_step = list(state["history"]), state["best_step"]
                res.best_val_mse, res.steps_done = float(state["best_val_mse"]), start
                return res
            ckpt_path, preloaded = str(last), {str(last): ck}
        else:
            logger.warning("resume=True but %s does not exist; training from scratch.", last)

    val_cb = ValidationCallback(every=1, max_steps=cfg.max_steps, steps_per_epoch=1, checkpoint_dir=ckpt_dir)
    cbs = [val_cb] + list(callbacks or [])
    if early_stopping:
        cbs.append(EarlyStopping(monitor="val_mse", mode="min", patience=int(early_stopping_patience),
                                 check_on_train_epoch_end=False, check_finite=False))
    if cfg.progress and settings.progress:
        cbs.append(ProgressBarCallback(cfg.max_steps))
    torch.manual_seed(cfg.seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(cfg.seed)
    had_group = torch.distributed.is_available() and torch.distributed.is_initialized()
    with quiet_lightning():
        trainer = L.Trainer(
            accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy, precision=precision,
            max_steps=cfg.max_steps, max_epochs=-1, logger=make_logger(logger_, ckpt_dir), callbacks=cbs,
            gradient_clip_val=GRAD_CLIP, gradient_clip_algorithm="norm", limit_val_batches=0,
            num_sanity_val_steps=0, check_val_every_n_epoch=None, enable_progress_bar=False,
            enable_model_summary=False, enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in cbs),
            use_distributed_sampler=False, plugins=[PrismCheckpointIO(preloaded)],
            default_root_dir=ckpt_dir if ckpt_dir is not None else os.getcwd(), log_every_n_steps=50,
        )
        spe = datamodule.steps_per_epoch(trainer.world_size)
        val_cb.every, val_cb.steps_per_epoch = max(1, spe // 2), spe
        if ckpt_dir is not None and trainer.is_global_zero:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            trainer.fit(plan, datamodule=datamodule, ckpt_path=ckpt_path)
        except SystemExit:
            if not trainer.interrupted:
                raise
            # Lightning answers Ctrl+C (or a kernel interrupt) with sys.exit(1) and leaves SIGINT ignored, which
            # would end a notebook's kernel loop and disable later interrupts: give the user a KeyboardInterrupt.
            with contextlib.suppress(ValueError):  # not in the main thread
                signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt from None
        finally:
            if not had_group and torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
    res.seconds = time.perf_counter() - t0
    out = val_cb.results()
    if not out["history"]:  # trained in processes Lightning started: the results came back with the metrics
        out = trainer.callback_metrics.get(_RESULTS_KEY, out)
    trainer.callback_metrics.pop(_RESULTS_KEY, None)
    res.history, res.best_step, res.best_val_mse = out["history"], out["best_step"], out["best_val_mse"]
    res.steps_this_run, res.steps_done = out["steps_this_run"], int(trainer.global_step)
    return res
