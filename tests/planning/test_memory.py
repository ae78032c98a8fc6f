import pytest

from scalelab.errors import InputError
from scalelab.planning import ModelConfig, Parallelism, get_preset, memory_per_device, smallest_layout
from scalelab.planning.memory import GIB, layer_activation_bytes

GPT = ModelConfig(d_model=12288, n_layers=96, n_heads=96, vocab_size=51200, ffn="gelu", seq_len=2048)
s, b, h, a, t = 2048, 1, 12288, 96, 8


@pytest.mark.parametrize("options,formula", [
    (dict(), s * b * h * (34 + 5 * a * s / h)),
    (dict(tp=t, sequence_parallel=False), s * b * h * (10 + 24 / t + 5 * a * s / (h * t))),
    (dict(tp=t), s * b * h * (34 / t + 5 * a * s / (h * t))),
    (dict(tp=t, sequence_parallel=False, recompute="selective"), s * b * h * (10 + 24 / t)),
    (dict(tp=t, recompute="selective"), s * b * h * 34 / t),
    (dict(recompute="full"), 2 * s * b * h),
])
def test_korthikanti_table_2_exactly(options, formula):
    """Korthikanti et al. 2022, Table 2: activation bytes per layer (GPT block, dropout, unfused attention)."""
    got = layer_activation_bytes(GPT, tokens=s * b, seq_len=s, flash_attention=False, dropout=True, **options)
    assert got == pytest.approx(formula, rel=1e-12)


def test_flash_attention_drops_the_quadratic_term():
    kw = dict(tokens=s, seq_len=s, dropout=True)
    assert layer_activation_bytes(GPT, flash_attention=True, **kw) < layer_activation_bytes(GPT, flash_attention=False, **kw)
    longer = layer_activation_bytes(GPT, tokens=2 * s, seq_len=2 * s, dropout=True, flash_attention=True)
    assert longer == pytest.approx(2 * layer_activation_bytes(GPT, flash_attention=True, **kw), rel=1e-3)


def test_model_states_by_zero_stage():
    m = get_preset("llama3-8b").model
    n = m.params()["total"]
    base = dict(micro_batch=1, seq_len=1024, device_gb=1000)
    z0 = memory_per_device(m, Parallelism(dp=8, zero=0), **base)
    assert z0.weights + z0.gradients + z0.optimizer == pytest.approx(18 * n)  # bf16 2 + fp32 grads 4 + 12
    z1 = memory_per_device(m, Parallelism(dp=8, zero=1), **base)
    assert z1.optimizer == pytest.approx(12 * n / 8)
    z2 = memory_per_device(m, Parallelism(dp=8, zero=2), **base)
    assert z2.gradients == pytest.approx(4 * n / 8)
    z3 = memory_per_device(m, Parallelism(dp=8, zero=3), **base)
    assert z3.weights + z3.gradients + z3.optimizer == pytest.approx(16 * n / 8)
    f32 = memory_per_device(m, Parallelism(dp=8, zero=0), precision="fp32", **base)
    assert f32.weights + f32.gradients + f32.optimizer == pytest.approx(16 * n)


def test_tensor_and_pipeline_parallel_split_the_weights():
    m = get_preset("llama3-70b").model
    one = memory_per_device(m, Parallelism(dp=1), device_gb=1000)
    tp8 = memory_per_device(m, Parallelism(dp=1, tp=8), device_gb=1000)
    pp8 = memory_per_device(m, Parallelism(dp=1, pp=8), device_gb=1000)
    assert tp8.weights == pytest.approx(one.weights / 8, rel=1e-9)
    assert pp8.weights < one.weights / 7  # 10 of 80 layers, plus the embedding on the first stage
    cp2 = memory_per_device(m, Parallelism(dp=1, cp=2), device_gb=1000)
    assert cp2.activations == pytest.approx(one.activations / 2, rel=1e-9)


# torchtitan, docs/performance.md: Llama 3.1 8B on 8 and 128 H100 (96 GB HBM), FSDP2, seq 8192
TORCHTITAN = [
    ("Table 1, FSDP, 8 GPUs, batch 2, selective op AC", dict(dp=8), 2, 8192, "selective-op", 82.4),
    ("Table 3, FSDP, 128 GPUs, batch 2, selective op AC", dict(dp=128), 2, 8192, "selective-op", 67.0),
    ("Table 2, FSDP 8 CP 1, 32k, batch 1, full AC", dict(dp=8), 1, 32768, "full", 83.9),
    ("Table 2, FSDP 4 CP 2, 64k", dict(dp=4, cp=2), 1, 65536, "full", 84.2),
    ("Table 2, FSDP 2 CP 4, 128k", dict(dp=2, cp=4), 1, 131072, "full", 84.0),
    ("Table 2, FSDP 1 CP 8, 256k", dict(dp=1, cp=8), 1, 262144, "full", 84.5),
]


@pytest.mark.parametrize("label,layout,micro_batch,seq_len,recompute,measured", TORCHTITAN)
def test_torchtitan_llama3_8b_measurements_within_ten_percent(label, layout, micro_batch, seq_len, recompute, measured):
    m = get_preset("llama3-8b").model
    est = memory_per_device(m, Parallelism(zero=3, **layout), micro_batch=micro_batch, seq_len=seq_len,
                            recompute=recompute, device_gb=95)
    assert est.total / GIB == pytest.approx(measured, rel=0.10), label


@pytest.mark.parametrize("layout,message", [
    (dict(dp=2, tp=4, pp=2), r"dp\(2\) \* tp\(4\) \* pp\(2\) \* cp\(1\) = 16 != num_gpus\(8\)"),
])
def test_layout_product_must_match(layout, message):
    with pytest.raises(InputError, match=message):
        Parallelism(**layout).check(get_preset("llama3-8b").model, 8192, num_devices=8)


def test_impossible_layouts_name_what_fails():
    m = get_preset("palm-540b").model  # 48 heads
    with pytest.raises(InputError, match=r"n_heads \(48\) is not divisible by tp \(5\)"):
        Parallelism(tp=5).check(m, 2048)
    with pytest.raises(InputError, match=r"seq_len \(2048\) is not divisible by cp \(3\)"):
        Parallelism(cp=3).check(m, 2048)
    with pytest.raises(InputError, match=r"ep \(3\) must divide dp \(4\)"):
        Parallelism(dp=4, ep=3)
    with pytest.raises(InputError, match=r"--zero 4: choose 0, 1, 2 or 3"):
        Parallelism(zero=4)


def test_smallest_layout_fits_and_grows_with_the_model():
    small = smallest_layout(get_preset("llama3-8b").model, 64, device_gb=80)
    big = smallest_layout(get_preset("llama3-405b").model, 1024, device_gb=80)
    assert small is not None and small[2].fits
    assert big is not None and big[2].fits
    assert big[0].tp * big[0].pp >= small[0].tp * small[0].pp
    assert smallest_layout(get_preset("llama3-405b").model, 8, device_gb=80) is None
