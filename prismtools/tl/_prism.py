"""``pt.tl.Prism``: the user-facing model class wrapping :class:`prismtools.models.PrismNet`."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .._settings import settings
from ._checkpoint import CheckpointError  # noqa: F401 - importable from here before
from ._data import GeneBatches, ReplacedTracks  # noqa: F401 - ReplacedTracks: public here before
from ._device import resolve_device
from ._fit import fit_model
from ._network import build_net, net_config
from ._predict import DEFAULT_EVAL_BATCH, gene_dataset, infer, model_window  # noqa: F401
from ._registry import SPLIT_KEY, match_adata, model_registry
from ._removal import replacements, train_track_means
from ._saved import load_prism, save_prism
from ._strata import write_stratum_effects

logger = logging.getLogger(__name__)



class Prism:
    """Prism: expression from DNA sequence and epigenomic tracks with backdoor adjustment over learned strata.

    Wraps :class:`prismtools.models.PrismNet` (the network) around one biosample of a gene-centric AnnData
    (see ``docs/data_model.md``). With ``alpha > 0`` the network learns ``n_strata`` background states from
    the tracks and is trained on both the plain and the intervened (backdoor-adjusted) prediction; reported
    predictions use the plain path. ``alpha = 0`` is the concatenation baseline.

    Parameters
    ----------
    adata
        Gene-centric AnnData: ``X`` (expression, NaN where unmeasured), ``obs["split"]`` (train/valid/test; see
        :func:`prismtools.pp.split_chromosomes`), ``obsm["sequence"]``, ``obsm["tracks"]`` with the track table,
        optionally ``obsm["covariates"]``, and ``uns["prism"]["window"]``. ``obsm`` arrays may be lazy (dask).
    sample
        The biosample (a ``var`` name) whose expression is the target.
    tracks
        Track names (or indices) to use as signals. ``None``: all tracks of ``sample``. ``[]``: none
        (a sequence-only model).
    n_strata
        Number of background states ``n``.
    alpha
        Weight of the intervened-path loss. ``0`` builds the concatenation baseline (no gates, no strata).
    beta
        Weight of the gate uniformity loss.
    d_model, n_layers
        Width and depth of the backbone.
    use_sequence
        Use the DNA sequence. ``False`` with tracks gives a signals-only model (tracks at their native bins).
    covariates
        ``True``: all ``obsm["covariates"]`` (if any); ``False``: none; or a list of covariate names. They are
        standardised with the training genes' mean and standard deviation (stored in the model).
    seed
        Seeds the weight initialisation, the batch order and the training RNG: on a CPU two fits with the
        same seed give bit-identical weights. ``None``: ``pt.settings.seed``.
    split_key
        The ``obs`` column holding the train/valid/test split (default ``"split"``).

    Attributes
    ----------
    module
        The :class:`~prismtools.models.PrismNet`.
    history_
        One row per validation: ``step``, ``epoch``, ``train_loss`` (mean since the previous row),
        ``train_<part>`` (loss components), ``lr``, ``val_mse``, ``val_mae``, ``val_pearson``.
    best_step_
        Step whose weights were kept (best validation MSE).
    device_
        The device the module lives on after :meth:`fit` (or the first prediction).
    registry
        What the model reads from an AnnData (sample, tracks, window, covariates and their standardisation).

    Examples
    --------
    >>> import prismtools as pt
    >>> adata = pt.datasets.toy(n_genes=32, width=64)
    >>> model = pt.tl.Prism(adata, sample="toy", n_strata=2, d_model=8, n_layers=1, seed=0)
    >>> model.tracks
    ['H3K27ac', 'DNase', 'track2']
    >>> model.fit(max_steps=5, batch_size=8, warmup_steps=1, progress=False)
    >>> model.best_step_ in model.history_["step"].tolist()
    True
    >>> model.predict()
    >>> adata.obs["prism_pred"].dtype
    dtype('float32')

    Remove a signal at test time (replaced by its mean over the training genes):

    >>> model.predict(remove_tracks=["DNase"], key_added="no_dnase")
    >>> model.track_means().shape
    (3, 64)

    The learned background states:

    >>> model.stratum_effects()
    >>> adata.obsm["prism_gates"].shape
    (32, 2, 8)
    >>> list(adata.uns["prism_stratum_effects"]["strata"].index)
    ['stratum_0', 'stratum_1']

    Save and load (with the AnnData checked against the model):

    >>> model.save("toy_model")
    >>> pt.tl.Prism.load("toy_model", adata).tracks == model.tracks
    True
    """

    def __init__(
        self,
        adata: AnnData,
        *,
        sample: str,
        tracks=None,
        n_strata: int = 2,
        alpha: float = 1.0,
        beta: float = 1.0,
        d_model: int = 128,
        n_layers: int = 4,
        use_sequence: bool = True,
        covariates: bool | list[str] = True,
        seed: int | None = None,
        split_key: str = SPLIT_KEY,
    ):
        seed = settings.seed if seed is None else seed
        reg = model_registry(
            adata, sample=sample, tracks=tracks, n_strata=n_strata, alpha=alpha, beta=beta, d_model=d_model,
            n_layers=n_layers, use_sequence=use_sequence, covariates=covariates, seed=seed, split_key=split_key,
        )
        self.adata = adata
        self.split_key = str(split_key)
        self._track_idx = match_adata(adata, reg)
        self.registry = reg
        self.module = build_net(net_config(reg), seed)
        self._reset_fit_state()

    # ------------------------------------------------------------------------------------------ properties

    def _reset_fit_state(self) -> None:
        self.history_ = pd.DataFrame(columns=["step", "epoch", "train_loss", "lr", "val_mse", "val_mae", "val_pearson"])
        self.best_step_: int | None = None
        self.device_: torch.device | None = None
        self.precision_: str = "auto"
        self.is_trained_ = False
        self.fit_time_: dict = {}
        self._track_means_cache: np.ndarray | None = None

    @property
    def sample(self) -> str:
        return self.registry["sample"]

    @property
    def tracks(self) -> list[str]:
        """Names of the input tracks, in input order."""
        return [t["name"] for t in self.registry["tracks"]]

    @property
    def covariates(self) -> list[str]:
        return list(self.registry["covariates"])

    @property
    def alpha(self) -> float:
        return self.registry["model"]["alpha"]

    @property
    def beta(self) -> float:
        return self.registry["model"]["beta"]

    @property
    def seed(self) -> int:
        return self.registry["model"]["seed"]

    @property
    def intervene(self) -> bool:
        return bool(self.registry["model"]["intervene"])

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def __repr__(self) -> str:
        m, reg = self.registry["model"], self.registry
        kind = "Prism" if self.intervene else "concatenation baseline (alpha=0)"
        inputs = (["sequence"] if reg["use_sequence"] else []) + [f"{len(self.tracks)} tracks"] * reg["use_tracks"]
        if reg["covariates"]:
            inputs.append(f"{len(reg['covariates'])} covariates")
        if self.is_trained_:
            last = self.history_["step"].iloc[-1] if len(self.history_) else 0
            best = self.history_.loc[self.history_["step"] == self.best_step_, "val_mse"] if len(self.history_) else []
            val = f", val MSE {float(best.iloc[0]):.4f}" if len(best) and pd.notna(best.iloc[0]) else ""
            state = f"trained {int(last)} steps, best step {self.best_step_}{val}"
        else:
            state = "not trained"
        return (
            f"Prism model of sample {self.sample!r}: {kind}\n"
            f"    inputs: {', '.join(inputs)}; window {reg['window']['width']} bp / bin {reg['window']['bin_size']}\n"
            f"    tracks: {self.tracks}\n"
            f"    n_strata={m['n_strata']}, alpha={m['alpha']}, beta={m['beta']}, d_model={m['d_model']}, "
            f"n_layers={m['n_layers']}, {self.n_params:,} parameters\n"
            f"    {state}"
        )

    # ----------------------------------------------------------------------------------------------- helpers

    def _window(self) -> dict:
        return model_window(self.registry)

    def _adata_for(self, adata: AnnData | None, sample: str | None = None) -> tuple[AnnData, list[int]]:
        if adata is None:
            if self.adata is None:
                raise ValueError("This model has no AnnData attached (it was loaded without one); pass adata=.")
            adata = self.adata
        return adata, match_adata(adata, self.registry, sample=sample)

    def _dataset(self, adata: AnnData, track_idx, *, targets=None, covariates=None) -> GeneBatches:
        return gene_dataset(adata, self.registry, track_idx, targets=targets, covariates=covariates)

    def _inference_device(self) -> torch.device:
        if self.device_ is None:
            self.device_ = resolve_device(settings.device)
        self.module.to(self.device_)
        return self.device_

    def _infer(
        self, adata, batch_size, outputs, track_means=False, replace=None, sample=None
    ) -> tuple[AnnData, dict[str, np.ndarray]]:
        return infer(self, adata, batch_size, outputs, track_means=track_means, replace=replace, sample=sample)

    # ------------------------------------------------------------------------------------------------- fit

    def fit(
        self,
        *,
        max_steps: int = 50_000,
        batch_size: int = 8,
        lr: float = 5e-4,
        warmup_steps: int = 5_000,
        device: str = "auto",
        precision: str = "auto",
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        progress: bool = True,
        accelerator: str | None = None,
        devices: int | list[int] | str | None = None,
        strategy: str | object | None = None,
        logger=None,
        callbacks: list | None = None,
        early_stopping: bool = False,
        early_stopping_patience: int = 10,
        split_key: str | None = None,
    ) -> None:
        """Train on the ``train`` genes, validating on the ``valid`` genes and keeping the best weights.

        The recipe of the Prism paper: AdamW (betas 0.9/0.95, weight decay 1e-6 except on biases, norm weights
        and other 1-D parameters), a per-step schedule with linear warm-up from 1e-5 to ``lr`` over
        ``warmup_steps`` then cosine decay to 1e-4 (both clamped to ``lr``) at ``max_steps``, gradient clipping
        at 1.0, validation twice per epoch (an epoch is ``n_train / batch_size`` steps) and at the last step,
        and the weights with the lowest validation MSE restored at the end. Genes whose target is NaN are
        left out (counted in a warning).

        Training runs on a PyTorch Lightning ``Trainer`` (:class:`~prismtools.tl._training_plan.PrismTrainingPlan`
        and :class:`~prismtools.tl._datamodule.PrismDataModule`), so its devices, precision, loggers and callbacks
        are Lightning's. Data-parallel training is Lightning DDP (NCCL on CUDA, Gloo on CPU): run the script under
        ``torchrun --nproc_per_node=N`` (each process is one rank), or pass ``devices=N`` (Lightning starts the
        processes: ``strategy="ddp"`` re-runs the script; in Jupyter use ``strategy="ddp_notebook"``). Only rank 0
        logs and writes checkpoints.

        Parameters
        ----------
        max_steps
            Number of optimiser steps.
        batch_size
            Genes per step (per process under DDP).
        lr
            Peak learning rate.
        warmup_steps
            Length of the linear warm-up.
        device
            ``"auto"`` (``pt.settings.device``, else CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``,
            ``"mps"``. An unavailable accelerator is an error. Ignored when ``accelerator``/``devices`` are given.
        precision
            ``"auto"`` (bf16 autocast on CUDA, float32 elsewhere), ``"32"``, ``"bf16"``, ``"16-mixed"`` (CUDA);
            Lightning's names (``"32-true"``, ``"bf16-mixed"``) are accepted. bf16 is autocast: weights, the loss
            and the selective scan's state stay float32.
        checkpoint_dir
            Directory for ``last.pt`` (written at every validation) and ``best.pt`` (at every improvement):
            weights, optimiser, scheduler, step, RNG state, history and the best weights so far.
        resume
            Continue from ``checkpoint_dir/last.pt``; on a CPU the result is identical to an uninterrupted run.
        progress
            Show a progress bar (also needs ``pt.settings.progress``).
        accelerator, devices
            Lightning's device choice (``accelerator="gpu", devices=2``, ...), instead of ``device=``.
        strategy
            Lightning strategy; ``None``: single device, or DDP for several (``"ddp_notebook"`` in Jupyter).
        logger
            ``None``: a CSV logger writing ``checkpoint_dir/logs/version_<k>/metrics.csv`` when ``checkpoint_dir``
            is set, none otherwise (``history_`` always holds the curves); ``"csv"``/``True``: a CSV logger (in
            ``./prism_logs`` without ``checkpoint_dir``); ``False``: none; or any Lightning logger (e.g.
            ``TensorBoardLogger``, ``WandbLogger``) or a list of them.
        callbacks
            Extra Lightning callbacks. ``EarlyStopping``/``ModelCheckpoint`` monitoring ``"val_mse"`` react to
            the validations described above.
        early_stopping, early_stopping_patience
            Stop when the validation MSE has not improved for ``early_stopping_patience`` validations.
        split_key
            ``obs`` column of the train/valid/test split (default: the model's ``split_key``, ``"split"``).

        Returns
        -------
        Nothing. Sets ``history_``, ``best_step_``, ``device_``, ``fit_time_`` and trains ``module`` in place.
        """
        fit_model(
            self, max_steps=max_steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, device=device,
            precision=precision, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
            accelerator=accelerator, devices=devices, strategy=strategy, logger_=logger, callbacks=callbacks,
            early_stopping=early_stopping, early_stopping_patience=early_stopping_patience, split_key=split_key,
        )

    # ----------------------------------------------------------------------------------------- inference

    def predict(
        self,
        adata: AnnData | None = None,
        *,
        sample: str | None = None,
        key_added: str = "prism",
        batch_size: int | None = None,
        embedding: bool = False,
        remove_tracks=None,
        removal: str = "mean",
    ) -> None:
        """Predict expression (plain path) for every gene, whatever its split.

        Parameters
        ----------
        adata
            AnnData to predict on (default: the training AnnData). Its window, tracks (by name, role and kind)
            and covariates must match the model's, otherwise a :class:`ValueError` lists what differs.
        sample
            Predict another biosample: the model's tracks are read from ``sample``'s tracks of the same names,
            roles and kinds (a model trained on one cell type applied to another). ``None``: the model's own.
        key_added
            Prefix of the fields written.
        batch_size
            Genes per inference batch (default 32).
        embedding
            Also write the pooled gene embedding of the plain path (``meanpool(h_0)``).
        remove_tracks
            Input tracks (names or positions in :attr:`tracks`) to remove at test time, e.g. ``["DNase"]``;
            the model itself is unchanged. ``None`` or ``[]``: predict from the inputs as they are.
        removal
            What a removed track is replaced by: ``"mean"`` (default), its per-position mean over the training
            genes (:meth:`track_means`, the "average gene", which keeps the input in distribution), or
            ``"zero"`` (the signal switched off).

        Returns
        -------
        Nothing. Writes ``adata.obs[f"{key_added}_pred"]`` (float32) and, with ``embedding=True``,
        ``adata.obsm[f"X_{key_added}"]`` (float32, n_genes x d_model; e.g.
        ``sc.pp.neighbors(adata, use_rep="X_prism")``).
        """
        replace = self._removal(remove_tracks, removal, adata)
        outputs = ("pred", "embedding") if embedding else ("pred",)
        adata, out = self._infer(adata, batch_size, outputs, replace=replace, sample=sample)
        adata.obs[f"{key_added}_pred"] = out["pred"].reshape(-1)
        if embedding:
            adata.obsm[f"X_{key_added}"] = out["embedding"].reshape(adata.n_obs, -1).astype(np.float32)

    def _removal(self, remove_tracks, removal: str, adata: AnnData | None = None) -> dict[int, np.ndarray] | None:
        """``{input position: replacement (n_bins,) float32}`` for :meth:`predict`'s ``remove_tracks``."""
        return replacements(self, remove_tracks, removal, adata)

    def track_means(self, adata: AnnData | None = None, *, batch_size: int = 256) -> np.ndarray:
        """Per-position mean of each input track over the training genes (NaN counted as 0, as the model sees it).

        Parameters
        ----------
        adata
            AnnData whose ``train`` genes are averaged (default: the training AnnData; the result is then cached).
        batch_size
            Genes read at a time (lazy arrays are streamed).

        Returns
        -------
        float32 array (n_tracks, n_bins), tracks in :attr:`tracks` order.
        """
        cache = adata is None
        if cache and getattr(self, "_track_means_cache", None) is not None:
            return self._track_means_cache
        adata, track_idx = self._adata_for(adata)
        out = train_track_means(adata, track_idx, getattr(self, "split_key", SPLIT_KEY), batch_size)
        if cache:
            self._track_means_cache = out
        return out

    def stratum_effects(
        self, adata: AnnData | None = None, *, key_added: str = "prism", batch_size: int | None = None
    ) -> None:
        """Per-gene gates and stratum-specific predictions of the learned background states.

        For each gene the network's confounder encoder gives ``n_strata`` gate vectors ``a_k`` (length
        ``d_model``); the intervened path with gate ``a_k`` gives the prediction under stratum ``k``. Only for
        models trained with ``alpha > 0``.

        Parameters
        ----------
        adata
            AnnData (default: the training AnnData); must match the model as in :meth:`predict`.
        key_added
            Prefix of the fields written.
        batch_size
            Genes per inference batch (default 32).

        Returns
        -------
        Nothing. Writes, for all genes:

        ``obs[f"{key_added}_pred"]``
            plain-path prediction (float32), as :meth:`predict`.
        ``obs[f"{key_added}_do_pred"]``
            backdoor-adjusted prediction (intervened path, averaged over strata).
        ``obs[f"{key_added}_stratum"]``
            categorical ``stratum_<k>``: the stratum with the largest mean gate.
        ``obsm[f"{key_added}_gates"]``
            gates, float32 (n_genes, n_strata, d_model).
        ``obsm[f"{key_added}_stratum_pred"]``
            prediction under each stratum, float32 (n_genes, n_strata).
        ``obsm[f"X_{key_added}"]``
            pooled embedding of the plain path, float32 (n_genes, d_model); e.g.
            ``sc.pp.neighbors(adata, use_rep="X_prism")``.
        ``uns[f"{key_added}_stratum_effects"]``
            (the data model's ``uns["prism"]`` is left alone) a dict: ``params`` (sample, tracks, n_strata, alpha,
            beta, d_model, best_step, keys written), ``strata`` (DataFrame indexed by ``stratum_<k>`` with columns
            ``n_genes`` (genes whose largest mean gate is ``k``), ``mean_gate`` and ``sd_gate`` (mean and SD
            across genes of the gene's mean gate), ``mean_effect`` and ``mean_abs_effect`` (mean of
            ``stratum_pred_k - pred`` and of its absolute value) and, per input track ``t``, ``corr_<t>``: the
            Pearson correlation across genes between the gene's mean gate of stratum ``k`` and the gene's mean
            of track ``t`` over the window) and ``n_genes_by_stratum`` (dict stratum -> number of genes).
        """
        write_stratum_effects(self, adata, key_added=key_added, batch_size=batch_size)

    # -------------------------------------------------------------------------------------------- save/load

    def save(self, path: str | os.PathLike) -> None:
        """Save to a directory: ``model.pt`` (weights, network config, history, versions) and ``registry.json``.

        ``registry.json`` records the sample, the tracks (name, sample, role, kind), the window, the covariate
        names and standardisation, the model settings and the training parameters; :meth:`load` checks an
        AnnData against it.
        """
        save_prism(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, adata: AnnData | None = None) -> Prism:
        """Load a model saved with :meth:`save`, optionally attaching (and validating) ``adata``.

        Raises
        ------
        CheckpointError
            (a :class:`ValueError`) for a corrupt or truncated file or an incompatible format version.
        ValueError
            When ``adata``'s window, tracks or covariates differ from the model's.
        """
        return load_prism(cls, path, adata)
