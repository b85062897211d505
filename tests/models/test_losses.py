"""Uniformity loss bounds and the composition of the Prism loss."""

from __future__ import annotations

import math

import torch

from prismtools.models import prism_loss, uniformity_loss

LOW, HIGH = math.log(2 + 2 * math.exp(-4)), math.log(4)


def test_uniformity_bounds_random() -> None:
    g = torch.Generator().manual_seed(0)
    for scale in (0.1, 1.0, 10.0):
        gates = torch.sigmoid(scale * torch.randn(64, 2, 128, generator=g))
        per_gene = [uniformity_loss(gates[i : i + 1]).item() for i in range(gates.shape[0])]
        assert all(LOW - 1e-6 <= v <= HIGH + 1e-6 for v in per_gene)
        assert LOW - 1e-6 <= uniformity_loss(gates).item() <= HIGH + 1e-6


def test_uniformity_extremes() -> None:
    same = torch.full((3, 2, 16), 0.7)
    torch.testing.assert_close(uniformity_loss(same), torch.tensor(HIGH))
    disjoint = torch.zeros(3, 2, 16)
    disjoint[:, 0, :8] = 1.0
    disjoint[:, 1, 8:] = 1.0
    torch.testing.assert_close(uniformity_loss(disjoint), torch.tensor(LOW))
    # near-disjoint sigmoid gates approach the lower bound
    logits = torch.where(disjoint > 0, 20.0, -20.0)
    assert abs(uniformity_loss(torch.sigmoid(logits)).item() - LOW) < 1e-4


def test_prism_loss_parts() -> None:
    y = torch.tensor([0.0, 1.0])
    out = {
        "pred": torch.tensor([0.5, 1.0]),
        "pred_do": torch.tensor([3.0, 1.0]),
        "gates": torch.full((2, 2, 4), 0.5),
    }
    loss, parts = prism_loss(out, y, alpha=2.0, beta=0.5)
    huber = 0.5 * 0.5**2 / 2
    huber_do = (3.0 - 0.5) / 2
    torch.testing.assert_close(parts["huber"], torch.tensor(huber))
    torch.testing.assert_close(parts["huber_do"], torch.tensor(huber_do))
    torch.testing.assert_close(parts["uniformity"], torch.tensor(HIGH))
    torch.testing.assert_close(loss, torch.tensor(huber + 2.0 * huber_do + 0.5 * HIGH))
    loss, parts = prism_loss({"pred": out["pred"]}, y)
    assert set(parts) == {"huber"}
    torch.testing.assert_close(loss, torch.tensor(huber))
