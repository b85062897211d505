"""The Lightning data module: training batches from :class:`GeneBatchSampler` over a :class:`GeneBatches`.

The sampler is a pure function of ``(seed, step)``: the loader is built when Lightning asks for it, after a
checkpoint has been restored, and starts at ``trainer.global_step``. A resumed fit therefore sees exactly the
batches an uninterrupted one would, with no data read to skip ahead (Lightning alone would restart the epoch).
"""

from __future__ import annotations

import lightning.pytorch as L
import numpy as np

from ._data import GeneBatches, GeneBatchSampler, make_loader, to_device


class PrismDataModule(L.LightningDataModule):
    """Endless, deterministic training batches of ``train_genes`` (sharded by rank under DDP).

    Parameters
    ----------
    dataset
        The batch-level dataset (in-memory or lazy arrays).
    train_genes
        Row indices of the genes to train on.
    batch_size
        Genes per step and process.
    seed
        Seeds the batch order (epoch ``e`` is drawn from ``default_rng([seed, e])``).
    window
        ``{"width", "bin_size", "upsample"}``: binned tracks are upsampled to the sequence on the device.
    n_workers
        DataLoader worker processes (used for lazy arrays only).
    """

    def __init__(
        self, dataset: GeneBatches, train_genes: np.ndarray, *, batch_size: int, seed: int, window: dict,
        n_workers: int = 0,
    ):
        super().__init__()
        self.dataset = dataset
        self.train_genes = np.asarray(train_genes, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.window = dict(window)
        self.n_workers = int(n_workers)

    def sampler(self, *, rank: int = 0, world_size: int = 1, start_step: int = 0) -> GeneBatchSampler:
        return GeneBatchSampler(
            self.train_genes, self.batch_size, seed=self.seed, chunk_bounds=self.dataset.chunk_bounds,
            buffer_chunks=self.dataset.buffer_chunks, rank=rank, world_size=world_size, start_step=start_step,
        )

    def steps_per_epoch(self, world_size: int = 1) -> int:
        return self.sampler(world_size=world_size).steps_per_epoch

    def train_dataloader(self):
        t = self.trainer
        sampler = self.sampler(rank=t.global_rank, world_size=t.world_size, start_step=t.global_step)
        return make_loader(
            self.dataset, sampler, n_workers=self.n_workers, pin_memory=t.strategy.root_device.type == "cuda",
            seed=self.seed, persistent=True,
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        w, device = self.window, batch["index"].device
        return to_device(batch, device, bin_size=w["bin_size"], width=w["width"], upsample=w["upsample"])
