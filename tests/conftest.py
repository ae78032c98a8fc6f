"""Shared fixtures: synthetic runs drawn from each law, and the public tables in tests/data."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalelab.laws import ChinchillaLaw, ComputeLaw, DataConstrainedLaw

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"  # what the tests read (see tests/data/README.md)
SCALING = DATA / "scaling"  # public scaling tables

# training needs the `train` extra; without it these tests skip (the rest of the suite runs)
needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason="needs torch: pip install 'scalelab[train]'")

TRUE = {
    "chinchilla": ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37),
    "compute": ComputeLaw(E=1.7, C0=1e14, gamma=0.2),
    "data-constrained": DataConstrainedLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37, R_D=15.0, R_N=5.0),
}


def synthetic_runs(law_name: str, n: int = 120, noise: float = 0.003, seed: int = 1) -> pd.DataFrame:
    """Runs drawn from the law with log-normal noise, over 4 decades of compute (for the
    data-constrained law, 1 to 100 epochs of a smaller corpus)."""
    rng = np.random.default_rng(seed)
    law = TRUE[law_name]
    N = 10 ** rng.uniform(7.5, 10, n)
    ratio = 10 ** rng.uniform(0.3, 2.5, n)  # tokens per parameter
    D = N * ratio
    extra = {}
    if law_name == "chinchilla":
        loss = law.predict(params=N, tokens=D)
    elif law_name == "data-constrained":
        U = D / 10 ** rng.uniform(0, 2, n)
        loss = law.predict(params=N, tokens=D, unique_tokens=U)
        extra = {"unique_tokens": U}
    else:
        loss = law.predict(flops=6 * N * D)
    loss = loss * np.exp(noise * rng.standard_normal(n))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "params": N, "tokens": D, **extra,
                         "flops": 6 * N * D, "loss": loss})


# ------------------------------------------------------------------ a clean tree
# Running the tests must leave `git status` as it found it: a test that writes into the
# repository (a run store, a report) fails the session, even where .gitignore hides the file.
BYTECODE = ("__pycache__/", ".pytest_cache/", ".egg-info/")


def _git_status() -> set[str] | None:
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return {line for line in out.stdout.splitlines() if not any(b in line for b in BYTECODE)}


def pytest_sessionstart(session):
    session.config._git_status_before = _git_status()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_git_status_before", None)
    after = _git_status()
    if before is None or after is None:
        return  # not a git checkout
    new = sorted(after - before)
    if new:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "\nthe tests changed the repository's working tree:\n  " + "\n  ".join(new), red=True)
        session.exitstatus = 1
