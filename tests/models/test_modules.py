"""Module structure: parameter counts, BiMamba bidirectionality and tying, confounder encoder shapes."""

from __future__ import annotations

import pytest
import torch

from prismtools.models import BiMambaBackbone, ConfounderEncoder, PrismNet


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_confounder_encoder_param_count() -> None:
    assert _n_params(ConfounderEncoder(3, 128, 2)) == 10_960


def test_backbone_param_count() -> None:
    # 4 x (65,536 in_proj + 32,768 out_proj + 2 x 18,176 per direction + 128 norm) + 128 final norm
    assert _n_params(BiMambaBackbone(128, 4)) == 539_264


def test_reference_model_param_count() -> None:
    model = PrismNet(n_tracks=3, n_covariates=9)
    n = _n_params(model)
    print(f"PrismNet reference size: {n:,} parameters")
    assert n == 585_681
    assert abs(n - 585_700) / 585_700 < 0.01
    parts = {
        "seq_embed": 640,
        "signal_encoder": 512,
        "confounder": 10_960,
        "backbone": 539_264,
        "head": 34_305,
    }
    for name, expected in parts.items():
        assert _n_params(getattr(model, name)) == expected, name
    assert _n_params(PrismNet(n_tracks=3, n_covariates=9, intervene=False)) == 585_681 - 10_960


@pytest.mark.parametrize("length", [1, 5, 32, 2000])
def test_confounder_encoder_lengths(length: int) -> None:
    torch.manual_seed(0)
    enc = ConfounderEncoder(3, 16, 2)
    gates = enc(torch.randn(2, 3, length))
    assert gates.shape == (2, 2, 16)
    assert ((gates > 0) & (gates < 1)).all()


def test_bimamba_is_bidirectional_and_tied() -> None:
    torch.manual_seed(0)
    net = BiMambaBackbone(8, 1, d_state=4, expand=2, dt_rank=2).double()
    mixer = net.layers[0].mixer
    # one shared in/out projection, per-direction rest
    names = {n for n, _ in mixer.named_parameters()}
    assert {"in_proj.weight", "out_proj.weight"} <= names
    assert not any(n.startswith(("fwd.in_proj", "rev.in_proj", "fwd.out_proj", "rev.out_proj")) for n in names)
    assert mixer.fwd.A_log is not mixer.rev.A_log and mixer.fwd.conv1d is not mixer.rev.conv1d
    x = torch.randn(2, 12, 8, dtype=torch.float64, requires_grad=True)
    out = net(x)
    (g,) = torch.autograd.grad(out[:, 0].sum(), x)
    assert g[:, -1].abs().sum() > 0, "position 0 must see the last position (reverse direction)"
    (g,) = torch.autograd.grad(net(x)[:, -1].sum(), x)
    assert g[:, 0].abs().sum() > 0, "last position must see position 0 (forward direction)"
    # the in/out projections receive gradient from both directions: zeroing the reverse direction's
    # input (D = 0, x_proj = 0 gives y_rev = 0 only if B = 0) changes the gradient of in_proj
    net.zero_grad()
    net(x).sum().backward()
    g_both = mixer.in_proj.weight.grad.clone()
    with torch.no_grad():
        mixer.rev.D.zero_()
        mixer.rev.x_proj.weight.zero_()
    net.zero_grad()
    net(x).sum().backward()
    assert not torch.allclose(g_both, mixer.in_proj.weight.grad)


def test_dt_init_range() -> None:
    torch.manual_seed(0)
    net = BiMambaBackbone(16, 1)
    dt = torch.nn.functional.softplus(net.layers[0].mixer.fwd.dt_proj.bias)
    assert dt.min() >= 1e-4 * 0.999 and dt.max() <= 0.1 * 1.001
    a_log = net.layers[0].mixer.fwd.A_log
    torch.testing.assert_close(a_log.exp()[0], torch.arange(1, 17, dtype=torch.float32))
