"""The Lightning training plan: loss, optimiser and schedule of the Prism recipe, and validation by MSE."""

from __future__ import annotations

import math

import lightning.pytorch as L
import numpy as np
import torch

from ._data import GeneBatches
from ._device import Precision
from ._inference import forward, run_inference
from ._metrics import validation_metrics

WARMUP_START_LR = 1e-5
MIN_LR = 1e-4
GRAD_CLIP = 1.0
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 1e-6


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


class PrismTrainingPlan(L.LightningModule):
    """Owns the network's training: the Prism loss, AdamW and the warm-up + cosine schedule, and validation.

    Parameters
    ----------
    net
        The :class:`~prismtools.models.PrismNet`.
    loss_fn
        ``loss_fn(outputs, y, alpha=, beta=) -> (loss, parts)``.
    lr, max_steps, warmup_steps
        Peak learning rate and the schedule (:func:`lr_at`, applied per step).
    alpha, beta
        Loss weights.
    window
        ``{"width", "bin_size", "upsample"}``: how binned tracks are upsampled on the device.
    valid_data, valid_genes, valid_y
        Validation genes, their dataset and targets (:meth:`validate`).
    eval_batch_size, n_workers, eval_precision
        Validation batches (streamed like ``predict``).
    """

    def __init__(
        self, net: torch.nn.Module, loss_fn, *, lr: float, max_steps: int, warmup_steps: int, alpha: float,
        beta: float, window: dict, valid_data: GeneBatches, valid_genes: np.ndarray, valid_y: np.ndarray,
        eval_batch_size: int, n_workers: int = 0, eval_precision: Precision | None = None,
    ):
        super().__init__()
        self.net = net
        self.loss_fn = loss_fn
        self.lr, self.max_steps, self.warmup_steps = float(lr), int(max_steps), int(warmup_steps)
        self.alpha, self.beta = float(alpha), float(beta)
        self.window = dict(window)
        self.valid_data, self.valid_genes, self.valid_y = valid_data, np.asarray(valid_genes), np.asarray(valid_y)
        self.eval_batch_size, self.n_workers = int(eval_batch_size), int(n_workers)
        self.eval_precision = eval_precision or Precision("32", None, False)
        self.checkpoint_extra: dict = {}
        self._reset_sums()

    # ------------------------------------------------------------------------------------------- training

    def _reset_sums(self) -> None:
        self._loss_sum, self._parts_sum, self._n_since = 0.0, {}, 0

    def training_step(self, batch, batch_idx):
        out = {k: v.float() for k, v in forward(self.net, batch).items()}
        loss, parts = self.loss_fn(out, batch["y"], alpha=self.alpha, beta=self.beta)
        d = loss.detach().double()
        self._loss_sum = self._loss_sum + d
        for k, v in (parts or {}).items():
            v = v.detach().double() if torch.is_tensor(v) else torch.tensor(float(v), dtype=torch.float64)
            self._parts_sum[k] = self._parts_sum.get(k, 0.0) + v.to(d.device)
        self._n_since += 1
        self.last_loss = d
        return loss

    def configure_optimizers(self):
        opt = torch.optim.AdamW(param_groups(self.net), lr=self.lr, betas=BETAS)
        lr, max_steps, warmup = self.lr, self.max_steps, self.warmup_steps

        def factor(step: int) -> float:  # a closure: LambdaLR saves no state for it, so a resumed fit's
            return lr_at(step, lr=lr, max_steps=max_steps, warmup_steps=warmup) / lr  # new max_steps apply

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    def train_summary(self) -> dict[str, float]:
        """Mean training loss (and loss parts) since the previous call, and the current learning rate."""
        n = max(1, self._n_since)
        row = {"train_loss": float(self._loss_sum) / n}
        row.update({f"train_{k}": float(v) / n for k, v in self._parts_sum.items()})
        row["lr"] = float(self.lr_schedulers().get_last_lr()[0])
        self._reset_sums()
        return row

    # ----------------------------------------------------------------------------------------- validation

    def validate(self) -> dict[str, float]:
        """``val_mse``, ``val_mae``, ``val_pearson`` on the validation genes (NaN without any)."""
        if not len(self.valid_genes):
            return {"val_mse": float("nan"), "val_mae": float("nan"), "val_pearson": float("nan")}
        pred = run_inference(
            self.net, self.valid_data, self.valid_genes, batch_size=self.eval_batch_size, device=self.device,
            precision=self.eval_precision, window=self.window, n_workers=self.n_workers,
        )["pred"]
        m = validation_metrics(pred, self.valid_y)
        return {"val_mse": m["mse"], "val_mae": m["mae"], "val_pearson": m["pearson"]}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint.update(self.checkpoint_extra)
