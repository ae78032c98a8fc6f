"""The watch's verdict on a run against its forecast, checked on trained ladders.

For every whole rung of each ladder plan given (the longest run of each size: with the
default WSD schedule, warm-up, a stable phase and the cooldown; branches are left out) and
its target where it was trained, the
ladder's own fit forecasts the rung's final bits per byte with its 95% interval, and the
rung's evaluations up to 20%, 30%, ..., 90% of its tokens are judged as `scalelab watch
--fit` judges a run: BEHIND, AHEAD or on track. A verdict is wrong when the rung's final
value falls on another side of the interval. Judged as before (the point projection), with
the projection's own 95% interval, with that and the logged learning rate (the default
allowance for a cooldown still to come), and with the allowance the ladder's other whole
runs measured (what `watch --fit` of a ladder's fit does for its target).

Run:  python benchmarks/watch_verdicts.py PLAN.toml [PLAN.toml ...]
      (plans trained with `scalelab ladder run`, e.g. those of `benchmarks/ladder.py e2e --keep DIR`)
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from pathlib import Path

import numpy as np


def verdicts(plan_path: str, use_lr: bool, use_spread: bool = True, measured: bool = False) -> list[dict]:
    """``measured``: each run judged with the cooldown allowance the ladder's other whole
    runs measured (leave one out: as the target is, by the rungs' allowance)."""
    from scalelab.ladder.design import LadderPlan
    from scalelab.ladder.fit import fit_ladder, whole_run_evaluations
    from scalelab.watch.forecast import compare, cooldown_allowance

    fit = fit_ladder(plan_path, num_bootstrap=100).fit
    logs = whole_run_evaluations(LadderPlan.from_toml(plan_path), plan_path)  # the target too, where trained
    out = []
    for name, (r, t, y, lr) in logs.items():
        allowance = None
        if measured:
            others = [(t_, y_, lr_, float(r_.tokens)) for n, (r_, t_, y_, lr_) in logs.items()
                      if n != name and r_.role == "rung"]
            allowance = (cooldown_allowance(others, float(fit.params_["beta"])) or {}).get("allowance")
        band = (fo := fit.forecast(params=r.model.num_params()["total"], tokens=r.tokens)).interval(0.95)
        final = "above" if y[-1] > band.hi else "below" if y[-1] < band.lo else "inside"
        for frac in np.arange(0.2, 0.95, 0.1):
            k = t <= frac * r.tokens
            p = compare(fo, r.tokens, t[k], y[k], lr=lr[k] if use_lr else None, allowance=allowance)
            if p is not None and not use_spread:
                p = dataclasses.replace(p, projected_spread=0.0)
            if p is not None:
                said = "above" if p.behind else "below" if p.ahead else "inside"
                out.append({"plan": Path(plan_path).stem, "rung": r.name, "at": round(frac, 1), "said": said,
                            "final": final, "projected": p.projected_final, "actual": float(y[-1])})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plans", nargs="+")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    print(f"{'judged on':42s} {'verdicts':>9s} {'wrong':>6s} {'false BEHIND':>13s} {'false AHEAD':>12s} "
          f"{'missed':>7s}")
    for label, use_lr, use_spread, measured in (
            ("the projection alone (before)", False, False, False),
            ("with its own 95% interval", False, True, False),
            ("with its interval and the learning rate", True, True, False),
            ("and the allowance the other runs measured", True, True, True)):
        rows = [v for p in args.plans for v in verdicts(p, use_lr, use_spread, measured)]
        wrong = [v for v in rows if v["said"] != v["final"]]
        ratio = np.array([v["projected"] / v["actual"] for v in rows])
        print(f"{label:42s} {len(rows):9d} {len(wrong):6d} "
              f"{sum(v['said'] == 'above' for v in wrong):13d} {sum(v['said'] == 'below' for v in wrong):12d} "
              f"{sum(v['said'] == 'inside' for v in wrong):7d}")
    print(f"projected / final loss over the {ratio.size} verdicts: median {np.median(ratio):.3f}, "
          f"5-95% {np.quantile(ratio, 0.05):.3f}-{np.quantile(ratio, 0.95):.3f}")


if __name__ == "__main__":
    main()
