"""Accelerator catalogue: dense peak FLOP/s, memory, power and dated cloud prices.

Packaged from the project's shared accelerator table (``scalelab/data/accelerators.csv``;
every figure there has a source column). Peaks are dense BF16/FP16 tensor-core figures:
datasheets often print 2:4-sparse numbers (H100 SXM: 1,979 "BF16 TFLOPS" is sparse;
989.4 dense). Names are forgiving: ``h100``, ``H100-SXM``, ``a100_80gb``, ``tpu v4``...

Default MFU per accelerator comes from documented runs (see ``MFU_DEFAULTS``); every
default can be overridden, as can the peak and the price.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

from scalelab.data import rows as bundled_rows
from scalelab.errors import InputError, suggest

# short key -> catalogue row name
KEYS = {
    "v100": "V100 SXM2 32GB",
    "a100-40gb": "A100 SXM4 40GB",
    "a100-80gb": "A100 SXM4 80GB",
    "h100-sxm": "H100 SXM5 80GB",
    "h100-pcie": "H100 PCIe 80GB",
    "h800": "H800 SXM5 80GB",
    "h200": "H200 SXM 141GB",
    "b200": "B200",
    "gb200": "GB200 (per Blackwell GPU, NVL72)",
    "mi250x": "MI250X",
    "mi300x": "MI300X",
    "tpu-v4": "TPU v4",
    "tpu-v5e": "TPU v5e",
    "tpu-v5p": "TPU v5p",
    "tpu-v6e": "TPU v6e (Trillium)",
    "l40s": "L40S",
    "rtx4090": "GeForce RTX 4090",
}
ALIASES = {
    "h100": "h100-sxm", "h100-80gb": "h100-sxm", "h100-sxm5": "h100-sxm", "h100sxm": "h100-sxm",
    "a100": "a100-80gb", "a100-80g": "a100-80gb", "a100-40g": "a100-40gb", "a100-sxm4-80gb": "a100-80gb",
    "a100-sxm4-40gb": "a100-40gb", "v100-32gb": "v100", "v100-sxm2": "v100", "h800-sxm": "h800",
    "h200-sxm": "h200", "tpuv4": "tpu-v4", "tpu4": "tpu-v4", "v4": "tpu-v4", "tpuv5e": "tpu-v5e",
    "tpuv5p": "tpu-v5p", "tpuv6e": "tpu-v6e", "trillium": "tpu-v6e", "4090": "rtx4090", "rtx-4090": "rtx4090",
    "mi300": "mi300x", "mi250": "mi250x",
}

# Default model-FLOPs utilisation by accelerator, from documented runs (BF16 dense peak).
MFU_DEFAULTS = {
    "v100": (0.20, "GPT-3 175B: 24.6 TFLOP/s measured per V100 = 19.7% of 125 (Patterson et al. 2021)"),
    "a100-40gb": (0.40, "Falcon-40B: 0.39 implied by 2.4e23 FLOPs on 384 A100-40GB in 60 days; BLOOM 0.32 "
                        "run-average, 0.50 peak configuration (BigScience 2022)"),
    "a100-80gb": (0.40, "as A100 40GB: Falcon-40B 0.39, BLOOM 0.32 average / 0.50 peak"),
    "h100-sxm": (0.40, "Llama 3.1 405B: 38-43% BF16 MFU on 16,384 H100 (Dubey et al. 2024)"),
    "h100-pcie": (0.40, "as H100 SXM (no documented PCIe run)"),
    "h800": (0.40, "as H100 SXM; DeepSeek-V3's GPU-hours imply 0.33 of the BF16 peak (FP8 training)"),
    "h200": (0.40, "as H100 SXM (same compute; no documented run)"),
    "tpu-v4": (0.46, "PaLM 540B: 46.2% MFU on 6,144 TPU v4 (Chowdhery et al. 2022)"),
}
GENERIC_MFU = (0.40, "no documented run on this accelerator in the catalogue: the H100 default; give --mfu")

# Share of wall-clock time spent training (the rest: restarts, failures, checkpoints, evals).
GOODPUT_DEFAULT = (0.90, "Llama 3 405B: 'higher than 90% effective training time' (Dubey et al. 2024)")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator's figures (per chip/GPU), with where they come from."""

    key: str
    name: str
    vendor: str
    peak_tflops: float
    """Dense BF16/FP16 peak, TFLOP/s."""
    fp8_tflops: float | None
    memory_gb: float
    """Memory per accelerator as the vendor states it ("80GB"), which for HBM is binary: GiB."""
    memory_bw_tbs: float | None
    tdp_w: float | None
    price_usd_per_hour: float | None
    """Typical on-demand cloud price per accelerator-hour."""
    price_note: str
    default_mfu: float
    mfu_source: str
    spec_source: str
    interconnect_gbs: float | None = None
    """NVLink-class bandwidth per accelerator, both directions together, GB/s (the catalogue's)."""

    @property
    def peak_flops(self) -> float:
        return self.peak_tflops * 1e12

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Accelerator:
        return cls(**{f.name: d[f.name] if f.name in d or f.default is dataclasses.MISSING else f.default
                      for f in dataclasses.fields(cls)})

    def with_overrides(self, *, peak_tflops=None, price_usd_per_hour=None, memory_gb=None, mfu=None) -> Accelerator:
        """A copy with user figures in place of the catalogue's."""
        changes = {}
        for name, value, lo, hi in (("peak_tflops", peak_tflops, 1.0, 1e5), ("price_usd_per_hour", price_usd_per_hour, 0.0, 1e4),
                                    ("memory_gb", memory_gb, 1.0, 1e4), ("default_mfu", mfu, 0.01, 1.0)):
            if value is None:
                continue
            if not (lo < value <= hi if name != "price_usd_per_hour" else lo <= value <= hi):
                flag = {"peak_tflops": "--peak-tflops", "price_usd_per_hour": "--price", "memory_gb": "--gpu-memory-gb",
                        "default_mfu": "--mfu"}[name]
                raise InputError(f"{flag} {value}: must be in ({lo:g}, {hi:g}]")
            changes[name] = float(value)
        if "price_usd_per_hour" in changes:
            changes["price_note"] = "given"
        if "default_mfu" in changes:
            changes["mfu_source"] = "given"
        return dataclasses.replace(self, **changes)


def normalise(name: str) -> str:
    key = name.strip().lower()
    for prefix in ("nvidia ", "nvidia-", "amd ", "amd-", "google ", "google-"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.replace("_", "-").replace(" ", "-")
    return ALIASES.get(key, ALIASES.get(key.replace("-", ""), key))


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Accelerator]:
    """All accelerators by short key."""
    rows = {row["name"]: row for row in bundled_rows("accelerators")}
    out = {}
    for key, name in KEYS.items():
        r = rows[name]
        price = _num(r["cloud_usd_per_hr_typical"])
        note = (f"{r['cloud_price_typical_provider']}, {r['cloud_price_typical_date']}" if price is not None
                else "no price in the catalogue; give --price")
        mfu, mfu_source = MFU_DEFAULTS.get(key, GENERIC_MFU)
        out[key] = Accelerator(
            key=key, name=name, vendor=r["vendor"], peak_tflops=float(r["dense_bf16_fp16_tflops"]),
            fp8_tflops=_num(r["fp8_tflops"]), memory_gb=float(r["memory_gb"]), memory_bw_tbs=_num(r["memory_bw_tbs"]),
            tdp_w=_num(r["tdp_w"]), price_usd_per_hour=price, price_note=note, default_mfu=mfu, mfu_source=mfu_source,
            spec_source=r["spec_source"], interconnect_gbs=_num(r["interconnect_gbs"]),
        )
    return out


def get_accelerator(name: str) -> Accelerator:
    """An accelerator by forgiving name; unknown names suggest the closest.

    Examples
    --------
    >>> get_accelerator("h100").name, get_accelerator("A100_80GB").peak_tflops
    ('H100 SXM5 80GB', 312.0)
    """
    key = normalise(name)
    cat = catalogue()
    if key not in cat:
        names = sorted(set(cat) | set(ALIASES))
        raise InputError(f"unknown GPU {name!r}{suggest(key, names)}; known: {', '.join(sorted(cat))}")
    return cat[key]


def _num(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
