"""The watch on per-step training logs, side by side with trainspotter.

Healthy logs: synthetic per-step curves (loss = 2.1 + 9 (step+50)^-0.35 with 0.2-3%
Gaussian noise, tokens/s with 2% noise; 25,000 steps each) and the real per-step logs of
`scalelab ladder run` kept in tests/data/watch (warm-up, cosine and WSD decays; those in
tests/data/watch/ladder with one to 48 sequences a step, whose loss dips and jumps with the
batch's text). Every
alert on them is a false alarm.

Faults injected into those logs at random points after the first 10% of steps, with at
least 100 steps after the onset and the target's whole window (300 steps for a drift):
NaN; BLOOM's spike (2.2 -> 2.6 -> 5.1 over three steps, the grad norm rising the step
before, back on the curve ~30 steps later); a single spike of 10x the local noise; PaLM-like
repeated spikes (three +25% spikes 40 steps apart); a slow divergence (+0.5 noise sigmas
per 100 steps against the trend); a 5% throughput drop. Recall and delay (steps from the
onset to the first alert that names it) for both tools on the same excerpts.

scalelab runs causally (the monitor, point by point as a live watch sees them);
trainspotter post hoc over the whole excerpt (its `analyze`), so its delay is a lower bound.

Run:  pip install trainspotter==0.2.6 && python benchmarks/watch_steps.py
      python benchmarks/watch_steps.py --observe       (the cost of Watcher.observe per step)
      python benchmarks/watch_steps.py --tensorboard   (one poll of a 1M-point TensorBoard run)
      python benchmarks/watch_steps.py --mlflow        (one poll of a 1M-point MLflow run, SQLite store)
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from scalelab.runs.logs import read_log  # noqa: E402
from scalelab.watch.monitor import Monitor, WatchSettings  # noqa: E402

FIXTURES = REPO / "tests" / "data" / "watch"
NOISES = (0.002, 0.005, 0.01, 0.03)
SYNTH_STEPS = 25_000
TRIALS = int(os.environ.get("TRIALS", 6))  # fault injections per log and fault type
BEFORE, AFTER = 600, 400  # the excerpt around a fault: steps of history and of aftermath
# what counts as finding the fault: scalelab alert kinds, trainspotter detectors
KINDS = {
    "nan": ({"nonfinite"}, {"divergence", "spikes", "nonfinite", "nan"}),
    "bloom spike": ({"spike", "grad_norm_spike", "divergence"}, {"spikes", "divergence", "grad_norm"}),
    "10x spike": ({"spike"}, {"spikes"}),
    "repeated spikes": ({"spike", "divergence"}, {"spikes", "divergence"}),
    "slow divergence": ({"divergence"}, {"divergence", "plateau", "loss_floor"}),
    "5% throughput drop": ({"throughput_drop"}, {"throughput"}),
}
WITHIN = {"nan": 0, "bloom spike": 5, "10x spike": 5, "repeated spikes": 5, "slow divergence": 300,
          "5% throughput drop": 50}


def synthetic(noise: float, seed: int, n: int = SYNTH_STEPS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1)
    loss = (2.1 + 9 * (step + 50.0) ** -0.35) * (1 + noise * rng.standard_normal(n))
    return pd.DataFrame({"step": step, "tokens": step * 524288.0, "loss": loss,
                         "grad_norm": 0.3 * np.exp(0.1 * rng.standard_normal(n)),
                         "tokens_per_s": 1e6 * (1 + 0.02 * rng.standard_normal(n)),
                         "wall_time": 1.7e9 + step * 0.5})


def healthy_logs() -> list[tuple[str, pd.DataFrame]]:
    logs = [(f"synthetic {100 * s:g}% noise", synthetic(s, i)) for i, s in enumerate(NOISES)]
    for f in sorted(FIXTURES.glob("*.jsonl")):
        (log,) = read_log(f)
        frame = log.frame
        logs.append((f"ladder {f.stem}", frame.reset_index(drop=True)))
    for f in sorted((FIXTURES / "ladder").glob("*.jsonl.xz")):  # small batches: one to 48 sequences a step
        logs.append((f"ladder {f.name.split('.jsonl')[0]}", pd.read_json(f, lines=True)))
    return logs


def scalelab_alerts(frame: pd.DataFrame) -> list:
    m = Monitor(WatchSettings(loss_name="loss"))
    return m.update(frame)


def trainspotter_findings(frame: pd.DataFrame, folder: Path) -> list:
    import trainspotter

    path = folder / "log.jsonl"
    with open(path, "w") as f:
        for r in frame.to_dict("records"):
            f.write(json.dumps({k: (None if isinstance(v, float) and math.isinf(v) else v) if k != "loss" else
                                (float("nan") if not math.isfinite(v) else v) for k, v in r.items()}) + "\n")
    return [x for x in trainspotter.run_all(trainspotter.load_run(path)) if x.severity in ("error", "warning")]


def local_sigma(loss: np.ndarray, i: int, w: int = 200) -> float:
    """Noise of log loss around its trend just before ``i`` (MAD of first differences / sqrt 2)."""
    d = np.diff(np.log(loss[max(0, i - w):i]))
    d = d[np.isfinite(d)]
    return 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)


def inject(frame: pd.DataFrame, fault: str, i: int) -> pd.DataFrame:
    d = frame.copy()
    loss = d["loss"].to_numpy(float).copy()
    s = local_sigma(loss, i)
    if fault == "nan":
        loss[i] = math.inf  # a logged NaN, as scalelab's readers store it
    elif fault == "bloom spike":
        base = loss[i - 1]
        profile = np.r_[2.6 / 2.2, 5.1 / 2.2, np.exp(np.linspace(math.log(5.1 / 2.2), 0, 30))[1:]]
        loss[i:i + len(profile)] = np.maximum(loss[i:i + len(profile)], base * profile[:len(loss) - i])
        if "grad_norm" in d:
            g = d["grad_norm"].to_numpy(float).copy()
            g[i - 1:i + 3] *= np.array([3.0, 6.0, 12.0, 6.0])[:len(g) - i + 1]
            d["grad_norm"] = g
    elif fault == "10x spike":
        loss[i] *= math.exp(10 * s)
    elif fault == "repeated spikes":
        for j in (i, i + 40, i + 80):
            if j < len(loss):
                loss[j] *= 1.25
    elif fault == "slow divergence":
        loss[i:] *= np.exp(0.5 * s * np.arange(len(loss) - i) / 100)
    elif fault == "5% throughput drop":
        r = d["tokens_per_s"].to_numpy(float).copy()
        r[i:] *= 0.95
        d["tokens_per_s"] = r
    d["loss"] = loss
    return d


def observe_cost(n: int = 20_000, every: int = 50) -> dict:
    """Time each Watcher.observe call on a healthy synthetic stream (the detectors run on
    every ``every``-th call)."""
    from scalelab.watch import Watcher

    frame = synthetic(0.01, 7, n)
    w = Watcher(every=every)
    times = np.empty(n)
    for i, r in enumerate(frame.to_dict("records")):
        t = time.perf_counter()
        w.observe(r["step"], loss=r["loss"], tokens=r["tokens"], grad_norm=r["grad_norm"],
                  tokens_per_s=r["tokens_per_s"], wall_time=r["wall_time"])
        times[i] = time.perf_counter() - t
    return {"median_us": 1e6 * float(np.median(times)), "mean_us": 1e6 * float(times.mean()),
            "p99_us": 1e6 * float(np.quantile(times, 0.99)), "max_ms": 1e3 * float(times.max()),
            "alerts": len(w.alerts), "steps": n, "every": every}


def tensorboard_poll(n: int = 1_000_000, new: int = 100) -> dict:
    """A TensorBoard run of ``n`` scalars, then ``new`` more: the cost of one poll that reads
    them, incrementally (TensorBoardFollower, what `scalelab watch` does) and whole (read_log)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from scalelab.runs.tensorboard import TensorBoardFollower

    def ev(s):
        return event_pb2.Event(wall_time=1.7e9 + s, step=s, summary=summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag="train/loss", simple_value=3 * s ** -0.1)]))

    with tempfile.TemporaryDirectory() as d:
        w = EventFileWriter(str(Path(d) / "run"), max_queue_size=10_000)

        def log(first, last):
            for s in range(first, last + 1):
                w.add_event(ev(s))
            w.flush()

        out = _time_polls(log, lambda: TensorBoardFollower(d), lambda: read_log(d, "tensorboard"), n, new)
        w.close()
    return out


def _time_polls(log, follower, reread, n: int, new: int) -> dict:
    """Log ``n`` points, time a follower's first poll, log ``new`` more, time the poll that
    reads them, and time re-reading the whole run (what every poll did before)."""
    log(1, n)
    f = follower()
    t = time.perf_counter()
    f.poll()
    first = time.perf_counter() - t
    log(n + 1, n + new)
    t = time.perf_counter()
    got = f.poll()
    incremental = time.perf_counter() - t
    t = time.perf_counter()
    whole = reread()
    return {"n": n, "new": new, "first_poll_s": first, "incremental_poll_s": incremental, "rows": len(got.frame),
            "reread_s": time.perf_counter() - t, "reread_rows": len(whole[0].frame)}


def mlflow_poll(n: int = 1_000_000, new: int = 100) -> dict:
    """An MLflow run (SQLite store, MLflow's default) of ``n`` points, then ``new`` more: the
    cost of one poll that reads them, incrementally (MlflowFollower, what `scalelab watch`
    does) and whole (read_log)."""
    import logging

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from scalelab.runs.mlflow import MlflowFollower

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        uri = f"sqlite:///{Path(d) / 'mlflow.db'}"
        client = MlflowClient(tracking_uri=uri)
        run = client.create_run(client.create_experiment("bench"), run_name="pilot").info.run_id

        def log(first, last):
            for lo in range(first, last + 1, 1000):  # log_batch takes at most 1,000 metrics
                client.log_batch(run, metrics=[Metric("train/loss", 3 * s ** -0.1, 1_700_000_000_000 + s, s)
                                               for s in range(lo, min(last, lo + 999) + 1)])

        return _time_polls(log, lambda: MlflowFollower(uri), lambda: read_log(uri, "mlflow"), n, new)


def main() -> None:
    warnings.simplefilter("ignore")
    for flag, name, poll in (("--tensorboard", "TensorBoard", tensorboard_poll), ("--mlflow", "MLflow", mlflow_poll)):
        if flag in sys.argv:
            r = poll()
            print(f"{name} run of {r['n']:,} scalars, {r['new']} new: incremental poll "
                  f"{1e3 * r['incremental_poll_s']:.1f} ms ({r['rows']} rows); re-reading the whole run "
                  f"{r['reread_s']:.1f} s ({r['reread_rows']:,} rows); the follower's first poll {r['first_poll_s']:.1f} s")
            return
    if "--observe" in sys.argv:
        for every in (10, 50, 200):
            c = observe_cost(every=every)
            print(f"observe, detectors every {every} steps: median {c['median_us']:.1f} us, mean {c['mean_us']:.0f} us, "
                  f"p99 {c['p99_us']:.0f} us, max {c['max_ms']:.0f} ms per step; {c['alerts']} alerts in {c['steps']:,} steps")
        return
    try:
        import trainspotter
    except ImportError:
        sys.exit("pip install trainspotter==0.2.6 (the peer this benchmark compares with)")
    rng = np.random.default_rng(0)
    logs = healthy_logs()
    print(f"== healthy per-step logs (scalelab default settings; trainspotter {trainspotter.__version__}, "
          "its error and warning findings)")
    print(f"{'log':28s} {'steps':>7s} {'scalelab alerts':>16s} {'s/log':>6s} {'trainspotter':>13s} {'s/log':>6s}")
    total = {"steps": 0, "sl": 0, "ts": 0}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, frame in logs:
            t = time.perf_counter()
            sl = scalelab_alerts(frame)
            t_sl = time.perf_counter() - t
            t = time.perf_counter()
            ts = trainspotter_findings(frame, folder)
            t_ts = time.perf_counter() - t
            total["steps"] += len(frame)
            total["sl"] += len(sl)
            total["ts"] += len(ts)
            print(f"{name:28s} {len(frame):7,d} {len(sl):16d} {t_sl:6.1f} {len(ts):13d} {t_ts:6.1f}"
                  + ("   scalelab: " + "; ".join(a.message for a in sl[:3]) if sl else ""))
        print(f"{'all':28s} {total['steps']:7,d} {total['sl']:16d} {'':6s} {total['ts']:13d}")

        print(f"\n== injected faults ({TRIALS} per log and fault; delay in steps from the onset)")
        print(f"{'fault':20s} {'target':>8s} {'scalelab recall':>16s} {'median/max delay':>17s} "
              f"{'trainspotter recall':>20s} {'median/max delay':>17s}")
        for fault in KINDS:
            sl_d, ts_d, n = [], [], 0
            for _name, frame in logs:
                if fault == "5% throughput drop" and "tokens_per_s" not in frame:
                    continue
                for _ in range(TRIALS):
                    # at least 100 steps after the onset, and the whole of the target's window
                    # (a drift 100 steps before a log ends cannot be judged on "within 300")
                    i = int(rng.integers(max(BEFORE, len(frame) // 10), len(frame) - max(100, WITHIN[fault])))
                    d = inject(frame, fault, i).iloc[i - min(BEFORE, i):i + AFTER].reset_index(drop=True)
                    onset = int(frame["step"].iloc[i])
                    steps = d["step"].to_numpy()
                    sl = scalelab_alerts(d)
                    early = {"nan": 0, "5% throughput drop": 20}.get(fault, 1)  # a median of 20 samples dates it roughly
                    hits = [a for a in sl if a.kind in KINDS[fault][0] and a.step >= onset - early]
                    sl_d.append(None if not hits else int(steps[min(a.seen_index for a in hits)]) - onset)
                    ts = trainspotter_findings(d, folder)
                    th = [x for x in ts if x.detector in KINDS[fault][1] and (x.step_end or x.step_start) >= onset - 1]
                    ts_d.append(None if not th else max(0, min(x.step_start for x in th) - onset))
                    n += 1

            def summary(ds):
                got = [x for x in ds if x is not None]
                in_time = [x for x in got if x <= WITHIN[fault]]
                rec = f"{100 * len(in_time) / n:.0f}% ({100 * len(got) / n:.0f}% any)"
                dl = "-" if not got else f"{np.median(got):.0f}/{max(got)}"
                return rec, dl

            a, b = summary(sl_d), summary(ts_d)
            print(f"{fault:20s} {'<= ' + str(WITHIN[fault]):>8s} {a[0]:>16s} {a[1]:>17s} {b[0]:>20s} {b[1]:>17s}")


if __name__ == "__main__":
    main()
