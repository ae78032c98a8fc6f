import pytest

from scalelab.errors import InputError
from scalelab.planning import PRESETS, ModelConfig, dense_from_params, get_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_total_within_one_percent_of_published(name):
    p = PRESETS[name]
    assert p.model.params()["total"] == pytest.approx(p.published_total, rel=0.01)


def test_exact_counts_where_the_published_figure_is_exact():
    for name in ("gpt2-small", "llama2-7b", "llama3-8b", "llama3-70b", "llama3-405b", "bloom-176b", "pythia-12b",
                 "mixtral-8x7b"):
        assert PRESETS[name].model.params()["total"] == PRESETS[name].published_total, name


def test_moe_active_parameters():
    mixtral = PRESETS["mixtral-8x7b"]
    assert mixtral.model.params()["active"] == pytest.approx(mixtral.published_active, rel=0.01)
    # DeepSeek-V3's "37B activated" is rounded to two digits: it lies between our count
    # without and with the input embedding (a lookup)
    ds = PRESETS["deepseek-v3"].model.params()
    assert ds["active"] - ds["embedding"] <= 37.5e9 and ds["active"] >= 36.5e9


def test_non_embedding_and_matmul_conventions():
    m = get_preset("gpt2-small").model
    p = m.params()
    assert p["non_embedding"] == p["total"] - 50257 * 768 - 1024 * 768  # tied: one matrix, plus positions
    assert p["matmul"] == 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 50257 * 768  # weights only, plus the head matmul


def test_palm_flops_formula():
    """PaLM appendix B: 6N + 12·L·H·Q·T per token (non-causal attention)."""
    m = get_preset("palm-540b").model
    f = m.flops_per_token(causal=False)["model"]
    L, H, Q, T = 118, 48, 256, 2048
    assert f == pytest.approx(6 * m.params()["matmul"] + 12 * L * H * Q * T, rel=1e-12)


def test_causal_attention_counts_half_the_context():
    m = get_preset("llama3-8b").model
    full = m.flops_per_token(causal=False)["model"]
    causal = m.flops_per_token(causal=True)["model"]
    attn = 3 * 2 * 32 * 32 * (128 + 128)
    assert full - causal == pytest.approx(attn * (8192 - (8192 + 1) / 2), rel=1e-12)


def test_recomputation_adds_hardware_flops_only():
    m = get_preset("llama3-8b").model
    none, sel, op, full = (m.flops_per_token(recompute=r) for r in ("none", "selective", "selective-op", "full"))
    assert none["model"] == sel["model"] == op["model"] == full["model"]
    assert none["hardware"] < sel["hardware"] < op["hardware"] < full["hardware"]
    head = 128256 * 4096
    assert full["hardware"] - none["hardware"] == pytest.approx(2 * (m.params()["matmul"] - head) + m.attention_flops_forward(), rel=1e-12)


def test_gpt2_flops_docstring_figure():
    m = get_preset("gpt2-small").model
    assert m.flops_per_token()["six_n"] == 6 * 124_439_808


def test_dense_shape_from_a_parameter_count():
    for n in (1e8, 7e9, 7e10, 4e11):
        m = dense_from_params(n)
        assert m.params()["total"] == pytest.approx(n, rel=0.03)
        assert 60 <= m.d_model / m.n_layers <= 260


@pytest.mark.parametrize("kwargs,message", [
    (dict(d_model=100, n_layers=2, n_heads=3, vocab_size=10), r"d_model \(100\) is not divisible by n_heads \(3\)"),
    (dict(d_model=128, n_layers=2, n_heads=4, n_kv_heads=3, vocab_size=10), r"n_heads \(4\) must be a multiple of n_kv_heads \(3\)"),
    (dict(d_model=128, n_layers=0, n_heads=4, vocab_size=10), r"model n_layers=0: must be a whole number > 0"),
    (dict(d_model=128, n_layers=2, n_heads=4, vocab_size=10, ffn="relu"), r"model ffn='relu': choose one of gelu, swiglu"),
    (dict(d_model=128, n_layers=2, n_heads=4, vocab_size=10, n_experts=8, top_k=9), r"top_k=9: an MoE model needs 1 <= top_k <= n_experts"),
    (dict(d_model=128, n_layers=2, n_heads=4, vocab_size=10, top_k=2), r"only apply with n_experts > 0"),
    (dict(d_model=128, n_layers=2, n_heads=4, vocab_size=10, attention="mla"), r"attention='mla' needs kv_lora_rank"),
])
def test_bad_shapes_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        ModelConfig(**kwargs)


def test_unknown_preset_suggests():
    with pytest.raises(InputError, match=r"unknown preset 'llama3-80b' \(did you mean 'llama3-8b'\?\)"):
        get_preset("llama3-80b")
    assert get_preset("Llama_3_405B").model.n_layers == 126
