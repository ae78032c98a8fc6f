"""How much of a run's wall-clock time trains: a first-order failure and checkpoint model.

* Failures: a synchronous job stops when any of its GPUs does, so the job's mean time
  between failures is 1 / (rate x GPUs). The default rate is Llama 3's: 419 unexpected
  interruptions in 54 days on 16,384 H100s (Dubey et al. 2024, section 3.3.4), about one
  every three hours at that size.
* Checkpoints: writing one takes its size (14 bytes per parameter: bf16 weights, fp32
  master weights and two fp32 Adam moments) over the storage's write bandwidth, unless
  given: by default Llama 3's, scaled to the cluster (its Tectonic file system peaked at
  7 TB/s for 16,384 GPUs, 0.43 GB/s a GPU; a site's storage grows with its GPUs, and 7 TB/s
  behind 256 GPUs would make a checkpoint of a 7B model take 0.014 s).
* The interval between checkpoints is Young's optimum sqrt(2 x checkpoint time x MTBF).
* Time lost, as shares of the time between failures: writing checkpoints (checkpoint time
  / interval), redoing the work since the last checkpoint (half an interval per failure),
  and restarting (``restart_minutes`` per failure: an assumption to replace with your own;
  Llama 3 reports more than 90% effective training time at 16,384 GPUs, which 10 minutes
  reproduces).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalelab.errors import InputError

LLAMA3_FAILURES_PER_GPU_HOUR = 419 / (54 * 24 * 16_384)
CHECKPOINT_BYTES_PER_PARAM = 14.0
STORAGE_TB_PER_S = 7.0
STORAGE_GPUS = 16_384  # the GPUs behind Llama 3's STORAGE_TB_PER_S


def default_storage_tb_per_s(num_gpus: int) -> float:
    """Llama 3's storage bandwidth per GPU, times ``num_gpus``: 7 TB/s at 16,384 GPUs."""
    return STORAGE_TB_PER_S * num_gpus / STORAGE_GPUS
RESTART_MINUTES = 10.0


@dataclass(frozen=True)
class GoodputEstimate:
    num_gpus: int
    mtbf_hours: float  # the job's mean time between failures
    checkpoint_minutes: float
    interval_minutes: float  # Young's optimal time between checkpoints
    lost_checkpointing: float  # shares of wall-clock time
    lost_recompute: float
    lost_restarts: float
    goodput: float

    def to_dict(self) -> dict:
        return asdict(self)


def goodput_model(num_gpus: int, params: float, *, failures_per_gpu_hour: float = LLAMA3_FAILURES_PER_GPU_HOUR,
                  checkpoint_minutes: float | None = None, storage_tb_per_s: float | None = None,
                  restart_minutes: float = RESTART_MINUTES) -> GoodputEstimate:
    """Expected goodput of a synchronous run on ``num_gpus`` (see the module).

    >>> g = goodput_model(16_384, 405e9)
    >>> round(g.mtbf_hours, 1), round(g.goodput, 2)
    (3.1, 0.93)
    """
    if not (isinstance(num_gpus, int) and num_gpus >= 1):
        raise InputError(f"--num-gpus {num_gpus}: give a whole number of GPUs >= 1")
    if not params > 0:
        raise InputError(f"--params {params}: give a positive parameter count")
    if not 0 < failures_per_gpu_hour < 0.01:
        raise InputError(f"--failures-per-gpu-day {24 * failures_per_gpu_hour:g}: give a rate in (0, 0.24) per GPU-day "
                         f"(Llama 3: {24 * LLAMA3_FAILURES_PER_GPU_HOUR:.2g})")
    if storage_tb_per_s is None:
        storage_tb_per_s = default_storage_tb_per_s(num_gpus)
    if restart_minutes < 0 or (checkpoint_minutes is not None and checkpoint_minutes <= 0) or storage_tb_per_s <= 0:
        raise InputError("restart minutes must be >= 0, checkpoint minutes and storage bandwidth > 0")
    mtbf_min = 60.0 / (failures_per_gpu_hour * num_gpus)
    ckpt = checkpoint_minutes if checkpoint_minutes is not None else \
        params * CHECKPOINT_BYTES_PER_PARAM / (storage_tb_per_s * 1e12) / 60.0
    interval = math.sqrt(2.0 * ckpt * mtbf_min)
    lost_ckpt = ckpt / (interval + ckpt)
    lost_redo = (interval / 2.0) / mtbf_min
    lost_restart = restart_minutes / mtbf_min
    goodput = max(0.0, 1.0 - lost_ckpt - lost_redo - lost_restart)
    return GoodputEstimate(num_gpus, mtbf_min / 60.0, ckpt, interval, lost_ckpt, lost_redo, lost_restart, goodput)
