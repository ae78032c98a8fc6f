"""Shared fixtures: synthetic runs drawn from each law, and the public data beside the project."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalelab.laws import ChinchillaLaw, ComputeLaw

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCALELAB_SHARED_DATA", REPO.parent / "shared" / "data"))

TRUE = {
    "chinchilla": ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37),
    "compute": ComputeLaw(E=1.7, C0=1e14, gamma=0.2),
}


def synthetic_runs(law_name: str, n: int = 120, noise: float = 0.003, seed: int = 1) -> pd.DataFrame:
    """Runs drawn from the law with log-normal noise, over 4 decades of compute."""
    rng = np.random.default_rng(seed)
    law = TRUE[law_name]
    N = 10 ** rng.uniform(7.5, 10, n)
    ratio = 10 ** rng.uniform(0.3, 2.5, n)  # tokens per parameter
    D = N * ratio
    if law_name == "chinchilla":
        loss = law.predict(params=N, tokens=D)
    else:
        loss = law.predict(flops=6 * N * D)
    loss = loss * np.exp(noise * rng.standard_normal(n))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "params": N, "tokens": D, "flops": 6 * N * D, "loss": loss})


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        raise FileNotFoundError(
            f"the public data folder {SHARED} is missing: it sits beside the repository (../shared/data), "
            "or set SCALELAB_SHARED_DATA"
        )
    return SHARED
