import math

import numpy as np

import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'scalelab[train]'")

from scalelab.errors import InputError
from scalelab.ladder.model import GPT, GPTConfig, RMSNorm, apply_rope, rope_tables, shape_for_params


@pytest.mark.parametrize("kw", [dict(), dict(ffn="gelu"), dict(tied_embeddings=False), dict(qk_norm=True),
                                dict(d_model=96, n_heads=3, n_layers=3, vocab_size=1000, d_ff=200)])
def test_parameter_count_matches_the_planner(kw):
    cfg = GPTConfig(**kw)
    model = GPT(cfg)
    assert sum(p.numel() for p in model.parameters()) == cfg.num_params()["total"]


def test_forward_shapes_and_initial_loss():
    torch.manual_seed(0)
    cfg = GPTConfig(n_layers=2, d_model=64, n_heads=2, seq_len=32)
    x = torch.randint(0, 256, (4, 32))
    y = torch.randint(0, 256, (4, 32))
    logits, loss = GPT(cfg)(x, y)
    assert logits.shape == (4, 32, 256)
    assert loss.item() == pytest.approx(math.log(256), rel=0.05)  # uniform at initialisation


def test_causal():
    """A token's logits do not depend on later tokens."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layers=2, d_model=64, n_heads=2, seq_len=16)).eval()
    x = torch.randint(0, 256, (1, 16))
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 256
    a, _ = model(x)
    b, _ = model(y)
    torch.testing.assert_close(a[0, :10], b[0, :10])
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_rope_preserves_norms_and_relative_position():
    table = rope_tables(8, 16, 10000.0)  # (T, hd/2, 2), against (B, nh, T, hd/2, 2) pairs
    q = torch.randn(1, 1, 8, 16)
    r = apply_rope(q, table)
    torch.testing.assert_close(r.norm(dim=-1), q.norm(dim=-1))
    k = torch.randn(1, 1, 8, 16)
    # the score of (q at i, k at j) depends on i - j only: shift both by one position
    qq = q[..., 2:3, :].expand(1, 1, 8, 16).contiguous()
    kk = k[..., 5:6, :].expand(1, 1, 8, 16).contiguous()
    rq, rk = apply_rope(qq, table), apply_rope(kk, table)
    s1 = (rq[..., 3, :] * rk[..., 1, :]).sum()
    s2 = (rq[..., 5, :] * rk[..., 3, :]).sum()
    torch.testing.assert_close(s1, s2)


def test_rope_turns_pairs_by_the_position_angle():
    table = rope_tables(4, 8, 100.0)
    x = torch.randn(4, 8)
    r = apply_rope(x, table)
    pos, pair = 3, 1
    angle = pos * 100.0 ** (-2 * pair / 8)
    a, b = x[pos, 2 * pair], x[pos, 2 * pair + 1]
    torch.testing.assert_close(r[pos, 2 * pair:2 * pair + 2],
                               torch.stack((a * math.cos(angle) - b * math.sin(angle),
                                            a * math.sin(angle) + b * math.cos(angle))))
    torch.testing.assert_close(r[0], x[0])  # position 0 is not turned


def test_rope_compiled_form_matches_the_complex_one(monkeypatch):
    table = rope_tables(6, 8, 10000.0)[:, None]  # (T, 1, hd/2, 2) against (T, nh, hd/2, 2) pairs
    x = torch.randn(6, 3, 8)
    eager = apply_rope(x, table)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    torch.testing.assert_close(apply_rope(x, table), eager)


def test_rms_norm_matches_pytorch_forward_and_backward():
    torch.manual_seed(0)
    norm = RMSNorm(16).double()
    norm.weight.data = torch.randn(16, dtype=torch.double)
    x = torch.randn(3, 5, 16, dtype=torch.double, requires_grad=True)
    torch.testing.assert_close(norm(x), torch.nn.functional.rms_norm(x, (16,), norm.weight, norm.eps))
    weight = norm.weight.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, w: torch.func.functional_call(norm, {"weight": w}, (a,)), (x, weight))
    # and on a strided input, as QK-norm gives it
    xs = torch.randn(3, 5, 2, 16, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: norm(a[:, :, 0]), (xs,))


def test_flops_per_token_follow_the_plan_conventions():
    cfg = GPTConfig(n_layers=4, d_model=128, n_heads=4, seq_len=256)
    p = cfg.to_plan()
    assert cfg.flops_per_token() == pytest.approx(6 * p.params()["matmul"] + 3 * p.attention_flops_forward(causal=True))


def test_width_depth_rule_lands_on_the_count_at_every_size():
    layers = []
    for target in np.geomspace(1e3, 7e10, 120):
        cfg = shape_for_params(target)
        n = cfg.num_params()["non_embedding"]
        assert n == pytest.approx(target, rel=0.05 if target < 3e3 else 0.02), (target, cfg)
        assert cfg.n_layers >= 2 and cfg.d_model % cfg.n_heads == 0 and cfg.d_model <= cfg.d_ff <= 4 * cfg.d_model
        layers.append(cfg.n_layers)
    assert layers == sorted(layers)  # deeper as it grows, never shallower
    assert shape_for_params(7e10).n_layers == 128


def test_bad_shapes():
    with pytest.raises(InputError, match=r"d_model \(100\) / n_heads \(3\) must be a whole, even head width"):
        GPTConfig(d_model=100, n_heads=3)
    with pytest.raises(InputError, match=r"ffn='relu': choose swiglu or gelu"):
        GPTConfig(ffn="relu")
    with pytest.raises(InputError, match=r"too small"):
        shape_for_params(10)
