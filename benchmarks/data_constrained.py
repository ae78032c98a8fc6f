"""The data-constrained law (Muennighoff et al. 2023) on the authors' C4 runs, side by side
with the authors' own constants.

1. Test vectors: the authors' constants fixed (``--fix``) reproduce their README's
   L(6.34e9, 242e9, 25e9) and L(8.67e9, 178e9, 25e9), and the optimal allocation at the
   budget of (8.67e9, 178e9) with U = 25e9 (about 6.8B parameters, 227B tokens, 9.1 epochs).
2. Refit on the authors' 182-row fit set (``in_paper_fit``): the Huber objective on log
   loss (delta 1e-3) and R^2 of the loss, against the authors' constants on the same rows;
   joint (alpha, beta free and tied) and staged (the authors' Chinchilla constants fixed,
   only R_D*, R_N* fitted, as the authors did).
3. Backtest: fit on the non-deduplicated runs of <= 4 epochs, predict those of >= 10
   epochs; the data-constrained law (joint, and staged), plain Chinchilla on the same runs,
   and the authors' constants (fitted with the many-epoch runs included) in one table.

The commands a user would run: ``scalelab fit c4.csv --law data-constrained``,
``scalelab predict ... --unique-tokens``, ``scalelab backtest ... --train-where
"epochs <= 4" --test-where "epochs >= 10"``.

Run:  python benchmarks/data_constrained.py   (reads ../shared/data/data_constrained/muennighoff2023_c4_runs.csv)
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

from scalelab.fitting import Fit  # noqa: E402
from scalelab.fitting.backtest import backtest  # noqa: E402
from scalelab.fitting.objective import objective_at  # noqa: E402
from scalelab.laws import DataConstrainedLaw  # noqa: E402
from scalelab.runs import Runs  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "data_constrained" / "muennighoff2023_c4_runs.csv"
AUTHORS = {"E": np.exp(0.6254804), "A": np.exp(6.255414), "B": np.exp(7.3049974), "alpha": 0.3526596,
           "beta": 0.3526596, "R_D": 15.387756, "R_N": 5.309743}
VECTORS = [((6.34e9, 242e9, 25e9), 2.2256440889984477), ((8.67e9, 178e9, 25e9), 2.2269634075087867)]
CORE = {k: AUTHORS[k] for k in ("E", "A", "B", "alpha", "beta")}


def r2(law, runs: Runs) -> float:
    y = runs.column("loss")
    p = law.predict(**runs.inputs(law.inputs))
    return float(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def main() -> None:
    if not DATA.is_file():
        sys.exit(f"needs {DATA}")
    warnings.simplefilter("ignore")
    df = pd.read_csv(DATA).rename(columns={"val_loss_c4": "loss", "run_name": "run_id"})
    req = ("params", "tokens", "unique_tokens", "loss")
    t0 = time.perf_counter()

    print("1. test vectors, authors' constants fixed (Fit with every parameter --fix'ed)")
    fixed = Fit("data-constrained", fix=AUTHORS, num_bootstrap=0, calibrate=False).fit(
        Runs.from_frame(df[df.in_paper_fit == 1], require=req))
    for (n, d, u), want in VECTORS:
        got = float(fixed.predict(params=n, tokens=d, unique_tokens=u).loss)
        print(f"   L({n:.3g}, {d:.3g}, U={u:.3g}) = {got!r}  (README {want!r}, |diff| {abs(got - want):.1e})")
    a = fixed.law_.optimal_allocation(6 * 8.67e9 * 178e9, unique_tokens=25e9)
    print(f"   optimum at C = 6 x 8.67e9 x 178e9, U = 25e9: {float(a.params) / 1e9:.2f}B params, "
          f"{float(a.tokens) / 1e9:.0f}B tokens, {float(a.tokens) / 25e9:.2f} epochs (README: ~6.8B, ~227B, 9.1)")

    print("\n2. refit on the authors' 182-row fit set")
    fit_rows = Runs.from_frame(df[df.in_paper_fit == 1], require=req)
    x, y = fit_rows.inputs(DataConstrainedLaw.inputs), fit_rows.column("loss")
    auth = DataConstrainedLaw(**AUTHORS)
    print(f"   {'fit':<44} {'objective':>10} {'R^2':>6}  R_D*    R_N*   alpha  beta")
    print(f"   {'authors constants (staged, their notebook)':<44} {objective_at(auth, x, y):>10.5f} "
          f"{r2(auth, fit_rows):>6.3f}  {AUTHORS['R_D']:<6.3g}  {AUTHORS['R_N']:<6.3g} {AUTHORS['alpha']:.3f}  {AUTHORS['beta']:.3f}")
    settings = {"joint, alpha and beta free": {}, "joint, alpha = beta (as the authors)": {"tie": ["alpha=beta"]},
                "staged: authors' E, A, B, alpha, beta fixed": {"fix": CORE}}
    for name, kw in settings.items():
        f = Fit("data-constrained", num_bootstrap=0, calibrate=False, **kw).fit(fit_rows)
        p = f.params_
        print(f"   {name:<44} {f.result_.fun:>10.5f} {r2(f.law_, fit_rows):>6.3f}  {p['R_D']:<6.3g}  {p['R_N']:<6.3g} "
              f"{p['alpha']:.3f}  {p['beta']:.3f}")
    f = Fit("chinchilla", num_bootstrap=0, calibrate=False).fit(fit_rows)
    print(f"   {'plain chinchilla (no discount), joint':<44} {f.result_.fun:>10.5f} {r2(f.law_, fit_rows):>6.3f}")

    print("\n3. backtest: fit on the non-deduplicated runs of <= 4 epochs, predict those of >= 10 epochs")
    runs = Runs.from_frame(df[df.deduplicated_data == 0], require=req)
    print(f"   {'law':<52} {'n fit':>5} {'n test':>6} {'mean|err|':>9} {'median':>7} {'in 80%':>7} {'in 95%':>7}")
    test = runs.select(runs.frame.eval("epochs >= 10").to_numpy())
    p = auth.predict(**test.inputs(auth.inputs))
    e = np.abs(p / test.column("loss") - 1)
    print(f"   {'authors constants (fitted with the many-epoch runs)':<52} {'-':>5} {len(test):>6} "
          f"{100 * e.mean():>8.1f}% {100 * np.median(e):>6.1f}% {'-':>7} {'-':>7}")
    cases = {"data-constrained, joint, alpha = beta": ("data-constrained", {"tie": ["alpha=beta"]}),
             "data-constrained, joint, alpha and beta free": ("data-constrained", {}),
             "data-constrained, staged (authors' core fixed)": ("data-constrained", {"fix": CORE}),
             "plain chinchilla on the same runs": ("chinchilla", {})}
    for name, (law, kw) in cases.items():
        bt = backtest(runs, Fit(law, num_bootstrap=200, **kw), train_where="epochs <= 4", test_where="epochs >= 10")
        s = bt.summary()
        extra = f"  (R_D* {bt.fit.params_['R_D']:.3g}, R_N* {bt.fit.params_['R_N']:.3g})" if "R_D" in bt.fit.params_ else ""
        print(f"   {name:<52} {s['n_train']:>5} {s['n_test']:>6} {100 * s['mean_abs_rel_error']:>8.1f}% "
              f"{100 * s['median_abs_rel_error']:>6.1f}% {100 * s['coverage80']:>6.1f}% {100 * s['coverage95']:>6.1f}%{extra}")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
