"""PrismNet behaviour: outputs, baselines, the alpha = 0 reduction, gradient flow and overfitting."""

from __future__ import annotations

import pytest
import torch

from prismtools.models import PrismNet, prism_loss

TINY = dict(d_model=16, n_layers=1, d_state=4, dt_rank=2)


def _batch(n: int = 4, length: int = 32, n_tracks: int = 3, n_cov: int = 2, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, 5, (n, length), generator=g, dtype=torch.uint8)
    tracks = torch.rand(n, n_tracks, length, generator=g, dtype=dtype)
    cov = torch.randn(n, n_cov, generator=g, dtype=dtype) if n_cov else None
    y = torch.randn(n, generator=g, dtype=dtype)
    return seq, tracks, cov, y


def test_outputs_and_shapes() -> None:
    torch.manual_seed(0)
    model = PrismNet(n_tracks=3, n_covariates=2, **TINY)
    seq, tracks, cov, _ = _batch()
    out = model(seq, tracks, cov, return_embedding=True)
    assert out["pred"].shape == (4,) and out["pred_do"].shape == (4,)
    assert out["gates"].shape == (4, 2, 16) and out["stratum_pred"].shape == (4, 2)
    assert out["embedding"].shape == (4, 16) and out["hidden"].shape == (4, 32, 16)
    assert out["strata_embedding"].shape == (4, 2, 16)
    rebuilt = PrismNet.from_config(model.config)
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config == model.config


def test_baselines() -> None:
    torch.manual_seed(0)
    seq, tracks, cov, _ = _batch(n_cov=0)
    concat = PrismNet(n_tracks=3, n_covariates=0, intervene=False, **TINY)
    out = concat(seq, tracks, None)
    assert set(out) == {"pred", "embedding"}
    seq_only = PrismNet(n_tracks=3, n_covariates=0, use_tracks=False, **TINY)
    out = seq_only(seq, None, None)
    assert set(out) == {"pred", "embedding", "stratum_pred"}
    torch.testing.assert_close(out["stratum_pred"], out["pred"][:, None].expand(-1, 2))
    sig_only = PrismNet(n_tracks=3, n_covariates=0, use_sequence=False, **TINY)
    out = sig_only(None, tracks, None)
    assert {"pred", "pred_do", "gates", "stratum_pred", "embedding"} == set(out)
    with pytest.raises(ValueError):
        PrismNet(n_tracks=3, n_covariates=0, use_sequence=False, use_tracks=False)
    with pytest.raises(ValueError):
        concat(seq, None, None)


def test_n_is_zero_one_hot() -> None:
    """Code 4 (N) embeds as the all-zero one-hot (bias only); codes 0..3 pick a weight column."""
    torch.manual_seed(0)
    model = PrismNet(n_tracks=1, n_covariates=0, use_tracks=False, **TINY)
    emb = model._embed_sequence(torch.tensor([[0, 1, 2, 3, 4]], dtype=torch.uint8))[0]
    onehot = torch.nn.functional.one_hot(torch.arange(5), 5)[:, :4].float()
    torch.testing.assert_close(emb, model.seq_embed(onehot))


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_alpha_zero_is_concatenation_model(beta: float) -> None:
    torch.manual_seed(0)
    prism = PrismNet(n_tracks=3, n_covariates=2, **TINY).double()
    concat = PrismNet(n_tracks=3, n_covariates=2, intervene=False, **TINY).double()
    missing, unexpected = concat.load_state_dict(prism.state_dict(), strict=False)
    assert not missing and all(k.startswith("confounder.") for k in unexpected)
    seq, tracks, cov, y = _batch(dtype=torch.float64)

    loss_p, parts_p = prism_loss(prism(seq, tracks, cov), y, alpha=0.0, beta=beta)
    loss_c, _ = prism_loss(concat(seq, tracks, cov), y, alpha=0.0, beta=beta)
    expected = loss_c + (beta * parts_p["uniformity"] if beta else 0.0)
    torch.testing.assert_close(loss_p, expected, rtol=1e-12, atol=1e-12)
    loss_p.backward()
    loss_c.backward()
    shared = dict(concat.named_parameters())
    for name, p in prism.named_parameters():
        if name.startswith("confounder."):
            if beta == 0:
                assert p.grad is None or p.grad.abs().max() == 0
            continue
        torch.testing.assert_close(p.grad, shared[name].grad, rtol=1e-10, atol=1e-12, msg=name)


def test_gradients_reach_gates_and_confounder() -> None:
    torch.manual_seed(0)
    model = PrismNet(n_tracks=3, n_covariates=2, **TINY)
    seq, tracks, cov, y = _batch()
    out = model(seq, tracks, cov)
    out["gates"].retain_grad()
    loss, _ = prism_loss(out, y, alpha=1.0, beta=0.0)  # only through pred_do
    loss.backward()
    assert out["gates"].grad.abs().sum() > 0
    for name, p in model.confounder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_tiny_model_overfits() -> None:
    torch.manual_seed(0)
    seq, tracks, cov, y = _batch(n=16, length=64, seed=1)
    model = PrismNet(n_tracks=3, n_covariates=2, d_model=16, n_layers=1, d_state=4, dt_rank=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(120):
        opt.zero_grad()
        loss, parts = prism_loss(model(seq, tracks, cov), y, alpha=1.0, beta=1.0)
        loss.backward()
        opt.step()
        history.append(parts["huber"].item())
    assert history[-1] < history[0] / 10, history[::10]


def test_scan_implementations_agree_in_model() -> None:
    torch.manual_seed(0)
    model = PrismNet(n_tracks=3, n_covariates=2, **TINY).double()
    seq, tracks, cov, _ = _batch(length=37, dtype=torch.float64)
    outs = {}
    for impl in ("loop", "chunked", "ref"):
        model.scan = impl
        assert model.config["scan"] == impl
        outs[impl] = model(seq, tracks, cov)
    for impl in ("chunked", "ref"):
        for key in ("pred", "pred_do", "stratum_pred", "embedding"):
            torch.testing.assert_close(outs[impl][key], outs["loop"][key], rtol=1e-10, atol=1e-12)


def test_bf16_autocast_runs() -> None:
    torch.manual_seed(0)
    model = PrismNet(n_tracks=3, n_covariates=2, **TINY)
    seq, tracks, cov, y = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = prism_loss(model(seq, tracks, cov), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_predict_from_embedding_is_the_plain_path():
    """The attribution hook (embedding in, prediction out) gives forward()'s ``pred``, with and without strata."""
    import torch

    from prismtools.models import PrismNet

    torch.manual_seed(0)
    for intervene, n_cov in ((True, 2), (False, 0)):
        net = PrismNet(n_tracks=2, n_covariates=n_cov, d_model=8, n_layers=1, n_strata=2, intervene=intervene).eval()
        seq = torch.randint(0, 5, (3, 32))
        tracks = torch.randn(3, 2, 32)
        cov = torch.randn(3, n_cov) if n_cov else None
        onehot = torch.nn.functional.one_hot(seq, 5)[..., :4].float()
        with torch.no_grad():
            ref = net(seq, tracks, cov)["pred"]
            got = net.predict_from_embedding(net.embed_onehot(onehot), tracks, cov)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
