import pytest

from scalelab.errors import InputError
from scalelab.planning import catalogue, get_accelerator


@pytest.mark.parametrize("name,key", [("h100", "h100-sxm"), ("H100-SXM", "h100-sxm"), ("NVIDIA H100", "h100-sxm"),
                                      ("a100", "a100-80gb"), ("a100_40gb", "a100-40gb"), ("TPU v4", "tpu-v4"),
                                      ("tpuv4", "tpu-v4"), ("V100", "v100"), ("h800", "h800"), ("rtx 4090", "rtx4090")])
def test_forgiving_names(name, key):
    assert get_accelerator(name).key == key


def test_unknown_names_suggest():
    with pytest.raises(InputError, match=r"unknown GPU 'h10' \(did you mean 'h100'\?\); known: a100-40gb"):
        get_accelerator("h10")


def test_peaks_are_dense():
    assert get_accelerator("h100").peak_tflops == pytest.approx(989.4)  # the datasheet's 1,979 is 2:4 sparse
    assert get_accelerator("a100").peak_tflops == 312
    assert all(a.peak_tflops > 0 and a.memory_gb > 0 for a in catalogue().values())


def test_overrides_and_their_checks():
    a = get_accelerator("h100").with_overrides(peak_tflops=800, price_usd_per_hour=2.0, mfu=0.5)
    assert (a.peak_tflops, a.price_usd_per_hour, a.default_mfu, a.price_note) == (800, 2.0, 0.5, "given")
    with pytest.raises(InputError, match=r"--mfu 0: must be in"):
        get_accelerator("h100").with_overrides(mfu=0)
    with pytest.raises(InputError, match=r"--peak-tflops -1"):
        get_accelerator("h100").with_overrides(peak_tflops=-1)
