"""What a ``pt.tl.Prism`` reads for inference: the gene dataset, its covariates, and the streamed forward pass."""

from __future__ import annotations

import numpy as np
import torch
from anndata import AnnData

from .._progress import progress_bar
from .._settings import settings
from ._data import GeneBatches, ReplacedTracks
from ._device import resolve_precision
from ._inference import run_inference
from ._registry import read_covariates, standardise_covariates

DEFAULT_EVAL_BATCH = 32


def model_window(registry: dict) -> dict:
    """The window a batch is cut to: ``width``, ``bin_size`` and whether tracks are upsampled to bases."""
    w = registry["window"]
    return {"width": w["width"], "bin_size": w["bin_size"], "upsample": registry["use_sequence"]}


def covariates_for(adata: AnnData, registry: dict) -> np.ndarray:
    """``adata``'s model covariates, standardised with the model's training statistics."""
    cov = read_covariates(adata, registry["covariates"])
    return standardise_covariates(cov, registry["covariate_mean"], registry["covariate_std"])


def gene_dataset(adata: AnnData, registry: dict, track_idx, *, targets=None, covariates=None) -> GeneBatches:
    """The :class:`~prismtools.tl._data.GeneBatches` of ``adata`` for a model's registry."""
    if covariates is None:
        covariates = covariates_for(adata, registry)
    return GeneBatches(
        adata, use_sequence=registry["use_sequence"], track_idx=track_idx, covariates=covariates, targets=targets,
    )


def infer(
    model, adata, batch_size, outputs, track_means=False, replace=None, sample=None
) -> tuple[AnnData, dict[str, np.ndarray]]:
    """Run ``model``'s network over every gene of ``adata`` (default: its training AnnData), with a progress bar.

    ``replace`` (``{input position: (n_bins,) array}``) swaps input tracks (:class:`ReplacedTracks`).
    Returns the AnnData used and ``{output: array}``.
    """
    adata, track_idx = model._adata_for(adata, sample)
    device: torch.device = model._inference_device()
    # float32 if trained in float32, else the device's default (bf16 autocast on CUDA, float32 elsewhere)
    precision = resolve_precision("32" if model.precision_ == "32" else "auto", device)
    data = gene_dataset(adata, model.registry, track_idx)
    if replace:
        data = ReplacedTracks(data, replace)
    bs = int(batch_size or DEFAULT_EVAL_BATCH)
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    with progress_bar(total=adata.n_obs, desc="Prism predict", unit="gene") as bar:
        out = run_inference(
            model.module, data, np.arange(adata.n_obs), batch_size=bs, device=device, precision=precision,
            window=model_window(model.registry), outputs=outputs, track_means=track_means,
            n_workers=settings.n_jobs, progress=bar,
        )
    return adata, out
