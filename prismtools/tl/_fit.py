"""The work of :meth:`prismtools.tl.Prism.fit`: checks, training genes, the Lightning plan and data module."""

from __future__ import annotations

import logging

import pandas as pd
import torch

from .._core import uns_safe
from .._settings import settings
from ._datamodule import PrismDataModule
from ._device import LIGHTNING_PRECISION, distributed_env, resolve_precision, trainer_devices
from ._network import models_module
from ._predict import DEFAULT_EVAL_BATCH, gene_dataset, model_window
from ._registry import covariate_stats, match_adata, read_covariates, standardise_covariates, training_genes
from ._train import FitConfig, train
from ._training_plan import PrismTrainingPlan

logger = logging.getLogger(__name__)


def fit_model(
    model, *, max_steps, batch_size, lr, warmup_steps, device, precision, checkpoint_dir, resume, progress,
    accelerator, devices, strategy, logger_, callbacks, early_stopping, early_stopping_patience, split_key,
) -> None:
    """Train ``model`` (a :class:`~prismtools.tl.Prism`) in place; the arguments are :meth:`Prism.fit`'s."""
    if model.adata is None:
        raise ValueError("This model has no AnnData attached (it was loaded without one); cannot fit.")
    checks = (("max_steps", max_steps, 1), ("batch_size", batch_size, 1), ("warmup_steps", warmup_steps, 0))
    for name, val, low in checks:
        if int(val) != val or val < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {val!r}.")
    if not (float(lr) > 0):
        raise ValueError(f"lr must be > 0, got {lr!r}.")
    if warmup_steps >= max_steps:
        logger.warning(
            "warmup_steps=%d >= max_steps=%d: the learning rate never leaves the warm-up; pass a smaller "
            "warmup_steps= for short runs.", warmup_steps, max_steps,
        )
    models = models_module()
    adata = model.adata
    reg = model.registry
    track_idx = match_adata(adata, reg)
    y, train_genes, valid_genes, n_dropped = training_genes(adata, reg["sample"], split_key or model.split_key)

    cov = read_covariates(adata, reg["covariates"])
    mean, std = covariate_stats(cov[train_genes])
    reg["covariate_mean"], reg["covariate_std"] = mean.tolist(), std.tolist()
    cov = standardise_covariates(cov, mean, std)
    data = gene_dataset(adata, reg, track_idx, targets=y, covariates=cov)
    window = model_window(reg)

    where = trainer_devices(device, accelerator, devices, strategy)
    prec = resolve_precision(precision, where.device)
    cfg = FitConfig(
        max_steps=int(max_steps), batch_size=int(batch_size), lr=float(lr), warmup_steps=int(warmup_steps),
        alpha=model.alpha, beta=model.beta if model.intervene else 0.0, seed=model.seed,
        eval_batch_size=max(DEFAULT_EVAL_BATCH, 4 * int(batch_size)), n_workers=settings.n_jobs,
        checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir), resume=bool(resume),
        progress=bool(progress),
    )
    meta = {k: v for k, v in reg.items() if k != "training"}
    logger.info(
        "training on %d genes (validation %d) for %d steps on %s, precision %s",
        len(train_genes), len(valid_genes), max_steps, where.device, prec.name,
    )
    plan = PrismTrainingPlan(
        model.module, models.prism_loss, lr=cfg.lr, max_steps=cfg.max_steps, warmup_steps=cfg.warmup_steps,
        alpha=cfg.alpha, beta=cfg.beta, window=window, valid_data=data, valid_genes=valid_genes,
        valid_y=y[valid_genes], eval_batch_size=cfg.eval_batch_size, n_workers=cfg.n_workers,
        eval_precision=prec,
    )
    plan.checkpoint_extra = {"fit": cfg.as_dict(), "registry": meta}
    dm = PrismDataModule(
        data, train_genes, batch_size=cfg.batch_size, seed=cfg.seed, window=window, n_workers=cfg.n_workers
    )
    fork_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=fork_devices):  # the user's global RNG is left as it was
        res = train(
            plan, dm, cfg=cfg, meta=meta, accelerator=where.accelerator, devices=where.devices,
            num_nodes=where.num_nodes, strategy=where.strategy, precision=LIGHTNING_PRECISION[prec.name],
            logger_="auto" if logger_ is None else logger_, callbacks=callbacks,
            early_stopping=early_stopping, early_stopping_patience=early_stopping_patience,
        )
    dev = where.device
    env = distributed_env()
    model.history_ = pd.DataFrame(res.history)
    if len(model.history_):
        model.history_["step"] = model.history_["step"].astype(int)
    model.best_step_ = res.best_step
    model.device_ = dev
    model.precision_ = prec.name
    model.is_trained_ = True
    per_step = res.seconds / res.steps_this_run if res.steps_this_run else float("nan")
    model.fit_time_ = {"seconds": res.seconds, "steps": res.steps_this_run, "seconds_per_step": per_step}
    reg["training"] = uns_safe({
        **cfg.as_dict(), "precision": prec.name, "device": str(dev), "n_train": len(train_genes),
        "n_valid": len(valid_genes), "n_nan_dropped": n_dropped, "best_step": res.best_step,
        "best_val_mse": res.best_val_mse, "world_size": env.world_size,
    })
    logger.info(
        "trained %d steps in %.1f s (%.3f s/step); best step %s, val MSE %.4f",
        res.steps_this_run, res.seconds, per_step, res.best_step, res.best_val_mse,
    )
