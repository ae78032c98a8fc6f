"""Published figures, reproduced: Epoch's refit of Chinchilla, Gadre et al.'s held-out runs,
and backtests with >= 10x extrapolation on Porian et al., OLMo's ladder and Gemstones.

Run:  python benchmarks/published.py [--bootstrap 200] [--data DIR]
The tests in tests/test_published.py call the same functions on the copies in
tests/data/scaling and assert the figures.
Data: ../shared/data/scaling (see its README for sources), or $SCALELAB_SHARED_DATA; the
Chinchilla and Gadre tables are the package's own copies (src/scalelab/data).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scalelab import Fit, read_runs  # noqa: E402
from scalelab.data import bundled_path  # noqa: E402
from scalelab.fitting.backtest import backtest  # noqa: E402
from scalelab.fitting.objective import objective_at  # noqa: E402
from scalelab.laws import ChinchillaLaw  # noqa: E402

SCALING = Path(os.environ.get("SCALELAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "scaling"

EPOCH = {"E": 1.817, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658}
EPOCH_SE = {"E": 0.026, "A": 124.5, "B": 1293.0, "alpha": 0.015, "beta": 0.021}  # published +- (95% CI half-widths)
EPOCH_CI95 = {"alpha": (0.317, 0.373), "beta": (0.331, 0.415)}  # published bootstrap CIs
GADRE_PAPER_ARE = {"1.4B": 0.0071, "6.9B": 0.0073}

# (name, file, read options, train_max_flops): every cut leaves >= 10x extrapolation
BACKTESTS = [
    ("Chinchilla (Epoch)", None, {"where": "epoch_excluded == 0"}, 1e21),  # None: the bundled copy
    ("Porian RW, tuned, const LR", "porian_isoflop.csv",
     {"where": "family == 'porian2024_rw_tunedhp_shortwarmup_constdecay_standardcount_valloss'"}, 2.1e18),
    ("Porian OWT2, tuned, const LR", "porian_isoflop.csv",
     {"where": "family == 'porian2024_owt2_tunedhp_shortwarmup_constdecay_standardcount_valloss'"}, 2.1e18),
    ("Porian RW, Chinchilla decay", "porian_isoflop.csv",
     {"where": "family == 'porian2024_rw_basehp_shortwarmup_chinchilladecay_standardcount_valloss'"}, 2.1e18),
    ("OLMo ladder -> 7B, 13B", "olmo_ladder.csv", {"where": "paper_role in ['fit', 'target']"}, 2e21),
    ("OLMo ladder, small -> large rungs", "olmo_ladder.csv", {"where": "paper_role in ['fit', 'extra']"}, 1.2e20),
    ("Gemstones, cooldown ends", "gemstone.csv", {"where": "family == 'gemstone_cooldown'", "all_steps": True}, 1.2e20),
    ("Gemstones, constant-LR checkpoints", "gemstone.csv", {"where": "family == 'gemstone_hot'", "all_steps": True}, 4e20),
]


def quiet():
    warnings.simplefilter("ignore")


def epoch_refit(num_bootstrap: int = 200) -> dict:
    runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
    fit = Fit(num_bootstrap=num_bootstrap).fit(runs)
    return {
        "params": fit.params_,
        "ci95": fit.param_intervals(0.95),
        "objective": fit.result_.fun,
        "epoch_objective": objective_at(ChinchillaLaw(**EPOCH), runs.inputs(("params", "tokens")), runs.column("loss")),
        "within_published_ci": {k: abs(fit.params_[k] - EPOCH[k]) <= EPOCH_SE[k] for k in EPOCH},
    }


def gadre_protocol(num_bootstrap: int = 200, family: str = "redpajama") -> dict:
    src = bundled_path("gadre")
    small = read_runs(src, where=f"family == 'gadre2024_{family}' and paper_role == 'fit_loss'")
    big = read_runs(src, where=f"family == 'gadre2024_{family}' and paper_role == 'target'")
    fit = Fit(tie=["alpha=beta"], num_bootstrap=num_bootstrap).fit(small)
    pred = fit.predict(params=big.column("params"), tokens=big.column("tokens"))
    out = {"params": fit.params_, "targets": []}
    for i, run_id in enumerate(big.frame["run_id"]):
        size = "1.4B" if "1b" in run_id else "6.9B"
        out["targets"].append({
            "run_id": run_id, "size": size, "actual": float(big.column("loss")[i]), "predicted": float(pred.loss[i]),
            "rel_error": float(pred.loss[i] / big.column("loss")[i] - 1),
            "lo80": float(pred.intervals[0.8][0][i]), "hi80": float(pred.intervals[0.8][1][i]),
            "paper_rel_error": GADRE_PAPER_ARE[size] if family == "redpajama" else None,
        })
    return out


def run_backtests(num_bootstrap: int = 200, calibrate: bool = True, names=None, data: Path = SCALING) -> list[dict]:
    """The backtests of BACKTESTS, reading the public tables from ``data``."""
    rows = []
    for name, file, options, cut in BACKTESTS:
        if names and name not in names:
            continue
        runs = read_runs(bundled_path("chinchilla") if file is None else Path(data) / file, **options)
        bt = backtest(runs, Fit(num_bootstrap=num_bootstrap, calibrate=calibrate), train_max_flops=cut)
        s = bt.summary()
        s["name"] = name
        s["extrapolation_compute"] = s["test_max_flops"] / cut
        s["per_decade"] = bt.fit.calibration_.per_decade
        rows.append(s)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--data", type=Path, default=SCALING, help="folder of the public scaling tables")
    args = ap.parse_args()
    quiet()
    t0 = time.time()
    e = epoch_refit(args.bootstrap)
    print("== Epoch AI's refit of Chinchilla (240 runs, Huber delta=1e-3 on log L)")
    print(f"{'param':6s} {'scalelab':>10s} {'95% interval':>22s} {'Epoch 2024':>11s} {'within Epoch +-':>16s}")
    for k, v in e["params"].items():
        lo, hi = e["ci95"][k]
        print(f"{k:6s} {v:10.4g} {lo:10.4g} .. {hi:<10.4g} {EPOCH[k]:11.4g} {str(e['within_published_ci'][k]):>16s}")
    print(f"objective: scalelab {e['objective']:.8g}, Epoch's published parameters {e['epoch_objective']:.8g}")

    print("\n== Gadre et al. 2024: fit the 5 small runs (tie alpha=beta), predict the held-out big runs")
    for fam in ("redpajama", "c4", "refinedweb"):
        g = gadre_protocol(args.bootstrap, fam)
        for t in g["targets"]:
            paper = f"paper {100 * t['paper_rel_error']:.2f}%" if t["paper_rel_error"] else ""
            print(f"{fam:10s} {t['size']:5s} actual {t['actual']:.4f} predicted {t['predicted']:.4f} "
                  f"error {100 * t['rel_error']:+.2f}%  80% [{t['lo80']:.3f}, {t['hi80']:.3f}]  {paper}")

    print("\n== Backtests (fit on runs with flops <= cut, forecast the rest)")
    cal = run_backtests(args.bootstrap, True, data=args.data)
    raw = run_backtests(args.bootstrap, False, data=args.data)
    print(f"{'data':36s} {'n fit':>6s} {'n test':>6s} {'extrap.':>8s} {'median |err|':>12s} {'80% cov.':>9s} "
          f"{'95% cov.':>9s} {'80% uncal.':>11s} {'95% uncal.':>11s} {'err/decade':>10s}")
    for c, r in zip(cal, raw):
        per_decade = "-" if c["per_decade"] is None else f"{100 * c['per_decade']:.1f}%"
        print(f"{c['name']:36s} {c['n_train']:6d} {c['n_test']:6d} {c['extrapolation_compute']:7.0f}x "
              f"{100 * c['median_abs_rel_error']:11.2f}% {100 * c['coverage80']:8.0f}% {100 * c['coverage95']:8.0f}% "
              f"{100 * r['coverage80']:10.0f}% {100 * r['coverage95']:10.0f}% "
              f"{per_decade:>10s}")
    m80 = np.mean([c["coverage80"] for c in cal])
    m95 = np.mean([c["coverage95"] for c in cal])
    u80 = np.mean([r["coverage80"] for r in raw])
    u95 = np.mean([r["coverage95"] for r in raw])
    print(f"mean coverage over the {len(cal)} backtests: 80% interval {100 * m80:.0f}% (uncalibrated {100 * u80:.0f}%), "
          f"95% interval {100 * m95:.0f}% (uncalibrated {100 * u95:.0f}%)")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
