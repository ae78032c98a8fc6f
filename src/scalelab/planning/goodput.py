"""How much of a run's wall-clock time trains: a failure, checkpoint and restart model.

* Failures: a synchronous job stops when any of its GPUs does, so the job's mean time
  between failures is 1 / (rate x GPUs). The default rate is Llama 3's: 419 unexpected
  interruptions in 54 days on 16,384 H100s (Dubey et al. 2024, section 3.3.4), about one
  every three hours at that size.
* Checkpoints: writing one takes its size (14 bytes per parameter: bf16 weights, fp32
  master weights and two fp32 Adam moments) over the storage's write bandwidth, unless
  given: by default Llama 3's, scaled to the cluster (its Tectonic file system peaked at
  7 TB/s for 16,384 GPUs, 0.43 GB/s a GPU; a site's storage grows with its GPUs, and 7 TB/s
  behind 256 GPUs would make a checkpoint of a 7B model take 0.014 s).
* The interval between checkpoints is Daly's higher-order optimum (Daly 2006, "A higher
  order estimate of the optimum checkpoint interval for restart dumps"), which is Young's
  sqrt(2 x checkpoint time x MTBF) while checkpoints are short against the MTBF.
* The wall-clock time is Daly's complete model for failures that come at random (an
  exponential law with the job's MTBF M), restarts of R minutes that can fail too, and
  segments of work tau between checkpoints of delta: a segment takes M e^(R/M) (e^((tau +
  delta)/M) - 1) on average, of which tau trains, delta writes its checkpoint, M (e^((tau
  + delta)/M) - 1) - tau - delta is work redone after failures, and (e^((tau + delta)/M) -
  1) M (e^(R/M) - 1) is restarting. Where failures are rare this is the first-order count
  (a checkpoint per interval, half an interval redone and one restart per failure); where
  a failure comes every few minutes, as on a million GPUs at Llama 3's rate, it stays a
  share of the time, never below nothing.
* ``restart_minutes`` per failure is an assumption to replace with your own; Llama 3
  reports more than 90% effective training time at 16,384 GPUs, which 10 minutes
  reproduces.
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
    interval_minutes: float  # Daly's optimal time between checkpoints (Young's while they are short)
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
    >>> round(g.mtbf_hours, 1), round(g.goodput, 3)
    (3.1, 0.936)
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
    m, delta = mtbf_min, ckpt
    if delta < 2.0 * m:  # Daly's higher-order optimum of the work between checkpoints
        x = delta / (2.0 * m)
        interval = math.sqrt(2.0 * delta * m) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta
    else:
        interval = m
    if restart_minutes / m > 700 or (interval + delta) / m > 700:  # e^700: nothing trains at all
        return GoodputEstimate(num_gpus, m / 60.0, ckpt, interval, 0.0, 0.0, 1.0, 0.0)
    failures = math.expm1((interval + delta) / m)  # expected failures while a segment is attempted
    attempts = m * failures  # the time spent attempting it, the successful attempt included
    restarting = failures * m * math.expm1(restart_minutes / m)
    wall = attempts + restarting
    return GoodputEstimate(num_gpus, m / 60.0, ckpt, interval, delta / wall, (attempts - interval - delta) / wall,
                           restarting / wall, interval / wall)
