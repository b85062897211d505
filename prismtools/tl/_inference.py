"""Streaming, gradient-free inference over genes (validation, ``predict``, ``stratum_effects``)."""

from __future__ import annotations

import numpy as np
import torch

from ._data import GeneBatches, make_loader, sequential_batches, to_device
from ._device import Precision


def forward(net: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Call the network with the inputs present in ``batch`` (absent ones are passed as ``None``)."""
    return net(batch.get("sequence"), batch.get("tracks"), batch.get("covariates"))


@torch.no_grad()
def run_inference(
    net: torch.nn.Module,
    dataset: GeneBatches,
    genes: np.ndarray,
    *,
    batch_size: int,
    device: torch.device,
    precision: Precision,
    window: dict,
    outputs: tuple[str, ...] = ("pred",),
    track_means: bool = False,
    n_workers: int = 0,
    progress=None,
) -> dict[str, np.ndarray]:
    """Run ``net`` (in eval mode, restored afterwards) on ``genes`` in batches; return float32 numpy arrays.

    Results are in the order of ``np.sort(genes)``, keyed by the requested network ``outputs``, plus
    ``"track_mean"`` (mean of each input track over the window, genes x tracks) when ``track_means``.
    """
    was_training = net.training
    net.eval()
    batches = sequential_batches(genes, batch_size)
    loader = make_loader(dataset, batches, n_workers=n_workers, pin_memory=device.type == "cuda")
    collected: dict[str, list[np.ndarray]] = {k: [] for k in outputs}
    if track_means:
        collected["track_mean"] = []
    try:
        for batch in loader:
            if track_means:
                collected["track_mean"].append(batch["tracks"].mean(dim=2).numpy())
            b = to_device(batch, device, bin_size=window["bin_size"], width=window["width"],
                          upsample=window["upsample"])
            with precision.autocast(device):
                out = forward(net, b)
            for k in outputs:
                if k not in out:
                    raise KeyError(f"The network returned no {k!r} (outputs: {sorted(out)}).")
                collected[k].append(out[k].detach().float().cpu().numpy())
            if progress is not None:
                progress.update(len(batch["index"]))
    finally:
        net.train(was_training)
    return {
        k: (np.concatenate(v).astype(np.float32) if v else np.zeros((0,), np.float32)) for k, v in collected.items()
    }
