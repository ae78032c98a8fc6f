import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from scalelab.errors import InputError
from scalelab.runs.store import RunStore


def test_add_log_query(tmp_path):
    with RunStore(tmp_path / "runs.db") as st:
        rid = st.add_run("a", source="x.jsonl", config={"lr": 3e-4})
        res = st.log(rid, [(1, 1e6, "loss", 4.0, 10.0), (2, 2e6, "loss", 3.5, 11.0), (2, 2e6, "lr", 3e-4, 11.0)])
        assert res.inserted == 3 and res.replaced == 0
        again = st.log(rid, [(2, 2e6, "loss", 3.4, 12.0)])  # a restarted run re-logs step 2
        assert again.inserted == 0 and again.replaced == 1
        curves = st.curves(rid)
        assert curves["loss"].tolist() == [4.0, 3.4] and curves["step"].tolist() == [1, 2]
        info = st.run("a")
        assert info["config"] == {"lr": 3e-4} and info["metrics"]["loss"]["points"] == 2
        assert st.runs()["n_points"].tolist() == [3]


def test_reimporting_a_restarted_log_drops_what_the_restart_abandoned(tmp_path):
    """Imported at step 1,000; the run then resumed from step 800 and the log now ends at
    850: the stored steps 851-1,000 go, the rest is the resumed run's."""
    log = tmp_path / "train.jsonl"
    first = [{"step": s, "loss": 5.0 / s} for s in range(1, 1001)]
    log.write_text("".join(f'{{"step": {r["step"]}, "loss": {r["loss"]}}}\n' for r in first))
    with RunStore(tmp_path / "runs.db") as st:
        (a,) = st.import_log(log)
        assert a.points == 1000 and a.dropped == 0
        with log.open("a") as fh:
            fh.writelines(f'{{"step": {s}, "loss": {4.0 / s}}}\n' for s in range(800, 851))
        (b,) = st.import_log(log)
        curves = st.curves(b.run_id)
        assert b.dropped == 150 and curves["step"].tolist() == list(range(1, 851))
        assert curves["loss"].iloc[-1] == 4.0 / 850 and curves["loss"].iloc[798] == 5.0 / 799


def test_the_same_log_imported_by_another_path_is_the_same_run(tmp_path, monkeypatch):
    """`runs import runs/a/log.jsonl` from one folder and `runs import log.jsonl` from inside
    it (or by its absolute path) update one run; so does a run an earlier version stored under
    the path as it was given and the file's stem as its name."""
    import hashlib

    log = tmp_path / "runs" / "a" / "log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f'{{"step": {s}, "loss": {5.0 / s}}}\n' for s in range(1, 101)))
    with RunStore(tmp_path / "runs.db") as st:
        monkeypatch.chdir(tmp_path)
        (a,) = st.import_log("runs/a/log.jsonl")
        monkeypatch.chdir(log.parent)
        (b,) = st.import_log("log.jsonl")
        (c,) = st.import_log(log)
        assert a.run_id == b.run_id == c.run_id and a.name == "a" and len(st.runs()) == 1
        assert b.inserted == 0 and b.replaced == 100
    old_id = hashlib.sha1(b"runs/a/log.jsonl|log").hexdigest()[:12]  # as earlier versions named it
    with RunStore(tmp_path / "old.db") as st:
        st.add_run("log", run_id=old_id, source="runs/a/log.jsonl", format="jsonl")
        monkeypatch.chdir(tmp_path)
        (d,) = st.import_log("runs/a/log.jsonl")
        assert d.run_id == old_id and len(st.runs()) == 1


def test_a_run_without_tokens_or_times_exports_numbers(tmp_path):
    """A log with neither tokens nor wall times: the columns come back as numbers (all
    missing), not as Python objects a Parquet reader cannot use."""
    with RunStore(tmp_path / "runs.db") as st:
        rid = st.add_run("a", source="x.log")
        st.log(rid, [(1, None, "loss", 4.0, None), (2, None, "loss", 3.5, None)])
        st.export(rid, tmp_path / "a.parquet")
    import pandas as pd

    back = pd.read_parquet(tmp_path / "a.parquet")
    assert {c: back[c].dtype.kind for c in back.columns} == {"step": "i", "tokens": "f", "wall_time": "f", "loss": "f"}


def test_errors(tmp_path):
    with pytest.raises(InputError, match=r"run store folder .* does not exist"):
        RunStore(tmp_path / "no" / "runs.db")
    with pytest.raises(InputError, match=r"is a directory"):
        RunStore(tmp_path)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match=r"is not a scalelab run store"):
        RunStore(bad)
    with RunStore(tmp_path / "ok.db") as st:
        with pytest.raises(InputError, match=r"no run 'zz'"):
            st.log("zz", [(1, None, "loss", 1.0, None)])
        with pytest.raises(InputError, match=r"no run 'zz' in .*; runs \(by name or id\): none"):
            st.run("zz")
        for i in range(22):  # a user asking by name is told the names, and how many more there are
            st.add_run(f"run-{i}", run_id=f"id{i}", source="x.jsonl", format="jsonl")
        with pytest.raises(InputError, match=r"runs \(by name or id\): run-0 \(id0\), run-1 \(id1\), .* and 2 more"):
            st.run("zz")


def _writer(path, run_id, n, batch):
    with RunStore(path) as st:
        st.add_run(run_id, run_id=run_id)
        for start in range(0, n, batch):
            st.log(run_id, [(s, s * 1e3, "loss", 1.0 / (s + 1), float(s)) for s in range(start, start + batch)])


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "runs.db"
    RunStore(path).close()
    procs = [mp.get_context("spawn").Process(target=_writer, args=(path, f"w{i}", 2000, 50)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with RunStore(path) as st:
        counts = st.runs().set_index("run_id")["n_points"].to_dict()
    assert counts == {f"w{i}": 2000 for i in range(4)}


KILLED_WRITER = """
import sys
from scalelab.runs.store import RunStore
st = RunStore(sys.argv[1])
st.add_run("k", run_id="k")
step = 0
while True:
    st.log("k", [(s, None, "loss", 1.0, None) for s in range(step, step + 200)])
    step += 200
    print(step, flush=True)  # committed up to here
"""


def test_kill_9_keeps_every_committed_row(tmp_path):
    path = tmp_path / "runs.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    committed = 0
    deadline = time.time() + 60
    while committed < 4000 and time.time() < deadline:
        committed = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with RunStore(path) as st:
        n = len(st.metrics("k"))
    assert n >= committed and n % 200 == 0  # whole transactions only
