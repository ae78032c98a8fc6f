"""The monitor measured: detection quality, log parsing speed, tailer cost, projection, robustness.

1. Detection quality on labelled curves: the public OLMo ladder and target curves and the
   Gemstones constant-LR trunks (../shared/data/scaling), clean and with injected faults at
   known evaluations (spikes of several sizes in units of the curve's local noise, NaN,
   divergence, throughput drops on a BLOOM-like throughput trace, stalls): recall, false
   alarms per 100k clean evaluations (each listed), detection delay in evaluations.
2. Parsing a 1M-line JSONL log: scalelab against pandas.read_json(lines=True), same run.
3. The tailer's per-update cost against the file's length.
4. Behind forecast: OLMo 2 13B's curve with a fit from the ladder: from what share of
   training the projected final loss stays within 1% of the truth.
5. Robustness: a ~2 GB log with junk lines, repeated and out-of-order steps and a
   truncated last line: read whole, everything counted.

Run:  python benchmarks/watch.py [--skip-2gb]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scalelab.watch import detectors as det  # noqa: E402
from scalelab.watch.monitor import Monitor, WatchSettings  # noqa: E402

SCALING = Path(os.environ.get("SCALELAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "scaling"
SPIKE_SIZES = (3, 5, 10, 20, 50)
TRIALS = 10
BURN_IN = 14


def curves() -> list[tuple[str, pd.DataFrame]]:
    o = pd.read_csv(SCALING / "olmo_ladder.csv")
    g = pd.read_csv(SCALING / "gemstone.csv")
    out = []
    for k, r in o[o.paper_role.isin(["fit", "extra", "target_curve"])].groupby("run_id"):
        out.append((f"olmo/{k}", r.sort_values("tokens")[["step", "tokens", "loss"]]))
    for (f, k), r in g[g.family.isin(["gemstone_hot", "gemstone_lr_ablation_hot"])].groupby(["family", "run_id"]):
        out.append((f"{f}/{k}", r.sort_values("tokens")[["step", "tokens", "loss"]]))
    return [(n, c.reset_index(drop=True).assign(wall_time=np.nan)) for n, c in out if len(c) >= 30]


def local_noise(loss: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Per point: the robust std of the curve around its neighbours (second differences in
    log-log, centred window of 21, scaled to one point's noise)."""
    lx, ly = np.log(tokens), np.log(loss)
    r = np.full(len(ly), np.nan)
    for i in range(1, len(ly) - 1):
        t = (lx[i] - lx[i - 1]) / (lx[i + 1] - lx[i - 1])
        r[i] = ly[i] - ((1 - t) * ly[i - 1] + t * ly[i + 1])
    out = np.full(len(ly), np.nan)
    for i in range(len(ly)):
        w = r[max(1, i - 10):i + 11]
        w = w[np.isfinite(w)]
        out[i] = 1.4826 * np.median(np.abs(w - np.median(w))) / np.sqrt(1.5)
    return out


def sweep(rng) -> list[dict]:
    """The operating curve: alerts on clean curves against spike recall, by threshold."""
    cs = curves()
    rows = []
    for z in (4.0, 6.0, 9.0, 15.0):
        clean = sum(len([a for a in alerts_of(c, spike_z=z) if a.kind == "spike"]) for _, c in cs)
        rec = {}
        for k in (5, 10, 20):
            hit = tot = 0
            for _, c in cs:
                noise = local_noise(c["loss"].to_numpy(), c["tokens"].to_numpy())
                for _ in range(3):
                    i = int(rng.integers(BURN_IN + 2, len(c) - 2))
                    d = c.copy()
                    d.loc[i, "loss"] *= np.exp(k * noise[i])
                    tot += 1
                    hit += any(a.kind == "spike" and a.index == i for a in alerts_of(d, spike_z=z))
            rec[k] = hit / tot
        rows.append({"z": z, "clean_alerts": clean, "recall": rec})
    return rows


def alerts_of(frame: pd.DataFrame, **kw) -> list:
    m = Monitor(WatchSettings(loss_name="loss", **kw))
    return m.update(frame)


def detection(rng) -> dict:
    cs = curves()
    n_points = sum(len(c) for _, c in cs)
    n_steps = sum(int(c["step"].iloc[-1] - c["step"].iloc[0]) for _, c in cs)
    clean_alerts = []
    for name, c in cs:
        for a in alerts_of(c):
            clean_alerts.append((name, a))
    res = {"curves": len(cs), "points": n_points, "training_steps": n_steps, "clean_alerts": clean_alerts}
    spikes = {}
    for k in SPIKE_SIZES:
        hits, delays, total, rel = 0, [], 0, []
        for _name, c in cs:
            noise = local_noise(c["loss"].to_numpy(), c["tokens"].to_numpy())
            for _ in range(TRIALS):
                i = int(rng.integers(BURN_IN + 2, len(c) - 2))
                d = c.copy()
                jump = k * noise[i]
                d.loc[i, "loss"] *= np.exp(jump)
                rel.append(np.expm1(jump))
                found = [a for a in alerts_of(d) if a.kind == "spike" and a.index == i]
                total += 1
                if found and found[0].delay <= 1:
                    hits += 1
                    delays.append(found[0].delay)
        spikes[k] = {"recall": hits / total, "n": total, "median_rel_size": float(np.median(rel)),
                     "max_delay": max(delays) if delays else None}
    res["spikes"] = spikes
    # NaN
    hits = total = 0
    for _name, c in cs:
        for _ in range(3):
            i = int(rng.integers(5, len(c)))
            d = c.copy()
            d.loc[i, "loss"] = np.inf  # a logged NaN (stored as inf: see scalelab.runs.logs)
            found = [a for a in alerts_of(d) if a.kind == "nonfinite" and a.index == i and a.delay == 0]
            total += 1
            hits += bool(found)
    res["nan"] = {"recall": hits / total, "n": total}
    # divergence: the loss rising by r per evaluation from a random point
    div = {}
    for rate in (0.005, 0.02):
        hits, delays, total = 0, [], 0
        for _name, c in cs:
            i = int(rng.integers(BURN_IN + 2, len(c) - 12))
            d = c.copy()
            base = d.loc[i - 1, "loss"]
            n = len(d) - i
            d.loc[i:, "loss"] = base * np.exp(rate * np.arange(1, n + 1))
            found = [a for a in alerts_of(d) if a.kind == "divergence" and a.index >= i - 1]
            total += 1
            if found:
                hits += 1
                delays.append(found[0].seen_index - i)
        div[rate] = {"recall": hits / total, "n": total, "median_delay": float(np.median(delays)) if delays else None,
                     "max_delay": max(delays) if delays else None}
    res["divergence"] = div
    # throughput: a BLOOM-like trace (149.5 TFLOP/s-equivalent, 0.4% noise), drops of several sizes
    thr = {}
    false_thr = 0
    for size in (0.03, 0.06, 0.10, 0.30):
        hits, delays = 0, []
        for _ in range(100):
            rate = 1.2e6 * (1 + 0.004 * rng.standard_normal(400))
            clean_found = det.throughput_drop(np.arange(400), rate, drop=0.05, k=5)
            false_thr += len(clean_found)
            i = int(rng.integers(100, 350))
            rate[i:] *= 1 - size
            found = [a for a in det.throughput_drop(np.arange(400), rate, drop=0.05, k=5) if a.index >= i - 1]
            if found:
                hits += 1
                delays.append(found[0].seen_index - i)
        thr[size] = {"recall": hits / 100, "max_delay": max(delays) if delays else None}
    res["throughput"] = thr
    res["throughput_false_alarms_per_100k_samples"] = false_thr / (400 * 400) * 1e5
    # stalls in a finished log: a gap of 2 hours among 2-second steps
    hits = 0
    for _name, c in cs[:20]:
        d = c.copy()
        d["wall_time"] = 1.7e9 + np.arange(len(d)) * 120.0
        i = int(rng.integers(5, len(d) - 2))
        d.loc[i:, "wall_time"] += 7200
        g = det.gaps(d["step"].to_numpy(), d["wall_time"].to_numpy(), minutes=30)
        hits += len(g) == 1 and g[0].index == i - 1
    res["stall"] = {"recall": hits / 20, "n": 20}
    return res


def parse_speed(tmp: Path) -> dict:
    from scalelab.runs.logs import read_log

    rng = np.random.default_rng(0)
    p = tmp / "1m.jsonl"
    with p.open("w") as fh:
        for i in range(1_000_000):
            fh.write(json.dumps({"step": i, "tokens": i * 524288, "loss": 3 + 1 / (1 + i * 1e-4) + 0.01 * rng.standard_normal(),
                                 "lr": 3e-4, "grad_norm": 0.5 + abs(rng.standard_normal()), "tokens_per_s": 1.2e6,
                                 "wall_time": 1.7e9 + i * 0.4}) + "\n")
    out = {"bytes": p.stat().st_size}
    for label, fn in (("scalelab", lambda: read_log(p)[0].frame), ("pandas.read_json(lines=True)", lambda: pd.read_json(p, lines=True))):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            frame = fn()
            times.append(time.perf_counter() - t)
        out[label] = {"seconds": min(times), "rows": len(frame)}
    return out


def tail_cost(tmp: Path) -> list[dict]:
    from scalelab.watch.tail import Tailer

    rows = []
    line = (json.dumps({"step": 1, "loss": 2.5, "tokens": 1e9}) + "\n").encode()
    for size in (2**20, 2**27, 2**30):
        p = tmp / f"tail_{size}.jsonl"
        with p.open("wb") as fh:
            block = line * (2**20 // len(line))
            for _ in range(size // len(block)):
                fh.write(block)
        t = Tailer(p, from_start=False)
        t.poll()
        times, read = [], []
        for _ in range(50):
            with p.open("ab") as fh:
                fh.write(line * 100)
            before = t.stats.bytes_read
            s = time.perf_counter()
            got = t.poll()
            times.append(time.perf_counter() - s)
            read.append(t.stats.bytes_read - before)
            assert len(got) == 100
        rows.append({"file_bytes": p.stat().st_size, "median_poll_ms": 1e3 * float(np.median(times)),
                     "bytes_read_per_poll": int(np.median(read))})
        p.unlink()
    return rows


def behind_forecast() -> dict:
    from scalelab.fitting import Fit
    from scalelab.runs import read_runs
    from scalelab.watch.session import fraction_within

    path = SCALING / "olmo_ladder.csv"
    fit = Fit().fit(read_runs(path, where="paper_role == 'fit'"))
    c = pd.read_csv(path).query("run_id == 'peteish13-5T-curve'").sort_values("tokens")
    truth = float(c["loss"].tail(5).mean())
    frac = fraction_within(c["tokens"].to_numpy(), c["loss"].to_numpy(), 5e12, fit.params_["beta"], truth)
    pred = fit.predict(params=float(c["params"].iloc[0]), tokens=5e12)
    return {"truth": truth, "forecast": float(pred.loss), "forecast95": [float(v) for v in pred.intervals[0.95]],
            "fraction_within_1pct": frac}


def two_gb(tmp: Path) -> dict:
    from scalelab.runs.logs import read_log

    p = tmp / "2gb.jsonl"
    target = 2 * 10**9
    step = 0
    junk = dup = back = 0
    with p.open("w") as fh:
        written = 0
        while written < target:
            lines = []
            for _ in range(100_000):
                step += 1
                lines.append(f'{{"step": {step}, "tokens": {step * 524288}, "loss": {3 + 1 / (1 + step * 1e-5):.6f}, '
                             f'"lr": 0.0003, "grad_norm": 0.812, "tokens_per_s": 1200000, "wall_time": {1.7e9 + step * 0.4:.1f}, '
                             f'"note": "ok"}}')
            lines.append("[rank0] WARNING: NCCL watchdog")  # junk
            lines.append(lines[-2])  # a repeated step
            lines.append(lines[-50])  # an out-of-order step (also a repeat)
            junk += 1
            dup += 2
            back += 1
            block = "\n".join(lines) + "\n"
            fh.write(block)
            written += len(block)
        fh.write('{"step": 99999999, "lo')  # truncated mid-line
    size = p.stat().st_size
    t = time.perf_counter()
    log = read_log(p)[0]
    seconds = time.perf_counter() - t
    r = log.report
    p.unlink()
    return {"bytes": size, "seconds": seconds, "rows": len(log.frame), "steps_written": step, "report": r.to_dict(),
            "expected": {"junk": junk, "repeated_values": dup * 6, "out_of_order": back}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-2gb", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print("== 1. Detection quality (default settings)")
        r = detection(rng)
        print(f"{r['curves']} clean curves, {r['points']:,} evaluations, {r['training_steps']:,} training steps")
        print(f"alerts on the clean curves: {len(r['clean_alerts'])} "
              f"({len(r['clean_alerts']) / r['points'] * 1e5:.0f} per 100k evaluations, "
              f"{len(r['clean_alerts']) / r['training_steps'] * 1e5:.2f} per 100k training steps):")
        for name, a in r["clean_alerts"]:
            print(f"   {name}: {a.message}")
        print("spikes (size in units of the local noise; recall = found at the spike, delay <= 1 evaluation):")
        for k, s in r["spikes"].items():
            print(f"   {k:>3}x noise (median {100 * s['median_rel_size']:.2f}%): recall {100 * s['recall']:.0f}% "
                  f"of {s['n']}, max delay {s['max_delay']}")
        print(f"NaN: recall {100 * r['nan']['recall']:.0f}% of {r['nan']['n']}, delay 0")
        for rate, s in r["divergence"].items():
            print(f"divergence +{100 * rate:g}%/evaluation: recall {100 * s['recall']:.0f}% of {s['n']}, "
                  f"delay median {s['median_delay']}, max {s['max_delay']} evaluations")
        for size, s in r["throughput"].items():
            print(f"throughput drop {100 * size:g}%: recall {100 * s['recall']:.0f}%, max delay {s['max_delay']} samples")
        print(f"throughput false alarms: {r['throughput_false_alarms_per_100k_samples']:.1f} per 100k clean samples")
        print(f"stalls (a 2-hour gap in a finished log): recall {100 * r['stall']['recall']:.0f}% of {r['stall']['n']}")
        print("operating curve of --spike-z (alerts on the clean curves; recall at 5x/10x/20x local noise):")
        for row in sweep(rng):
            rc = row["recall"]
            print(f"   z={row['z']:>4g}: {row['clean_alerts']:>3} alerts; recall {100 * rc[5]:.0f}% / {100 * rc[10]:.0f}% / "
                  f"{100 * rc[20]:.0f}%")

        print("\n== 2. Parsing a 1M-line JSONL log (best of 3)")
        s = parse_speed(tmp)
        a, b = s["scalelab"], s["pandas.read_json(lines=True)"]
        print(f"{s['bytes'] / 1e6:.0f} MB: scalelab {a['seconds']:.2f} s, pandas.read_json(lines=True) {b['seconds']:.2f} s "
              f"-> {b['seconds'] / a['seconds']:.1f}x faster (target < 3 s)")

        print("\n== 3. Tailer: cost of one poll (100 appended lines) against the file's length")
        for row in tail_cost(tmp):
            print(f"   file {row['file_bytes'] / 1e6:8.0f} MB: {row['median_poll_ms']:.3f} ms, {row['bytes_read_per_poll']} bytes read")

        print("\n== 4. Behind forecast: OLMo 2 13B (5T tokens), fit from the ladder")
        b = behind_forecast()
        print(f"truth {b['truth']:.4f}; forecast {b['forecast']:.4f} (95% {b['forecast95'][0]:.4f}-{b['forecast95'][1]:.4f}); "
              f"projection within 1% of the truth from {100 * b['fraction_within_1pct']:.0f}% of training onwards")

        if not args.skip_2gb:
            print("\n== 5. A ~2 GB log with junk, repeats, out-of-order steps and a truncated last line")
            g = two_gb(tmp)
            rp = g["report"]
            print(f"{g['bytes'] / 1e9:.2f} GB read in {g['seconds']:.0f} s: {g['rows']:,} steps (written: {g['steps_written']:,}); "
                  f"junk {rp['junk']} (injected {g['expected']['junk']}), repeated values {rp['duplicates']} "
                  f"(injected {g['expected']['repeated_values']}), out of order {rp['out_of_order']} "
                  f"(injected {g['expected']['out_of_order']}), partial last line {rp['partial_last_line']}")


if __name__ == "__main__":
    main()
