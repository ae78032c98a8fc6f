"""Readers for training logs: metrics over steps, whatever wrote them.

Every reader returns a :class:`MetricLog`: a wide table (``step``, ``tokens``,
``wall_time`` and one column per metric) and a :class:`ParseReport` that counts what was
not taken as it stood: junk lines, a partial last line, repeated values for a step (the
last is kept, as a restarted run re-logs steps after its checkpoint; an evaluation row that
repeats its step's epoch unchanged is not a repeat), steps out of order, restarts (a step
lower than one logged before: the rows the restart logs again are dropped, see
:func:`drop_superseded`), and non-finite values (kept: they are events). Nothing is dropped without being counted.

Rows of the same step merge (a train row and an eval row logged at step 100 make one
step). In the table, NaN means *not logged at that step*; a value the log gave as NaN or
infinite is stored as +-inf (``NONFINITE``), so an explicit NaN loss is never mistaken
for a missing one.

Formats: ``csv``/``tsv``; ``jsonl`` (one JSON object per line; a fast path through
pyarrow, a line-by-line fallback when junk lines are present; a Hugging Face
``trainer_state.json``, whose ``log_history`` is read); ``text`` (what a training script
prints: each line that names a step and metrics, see :func:`text_record`: nanoGPT's ``iter
10: loss 4.2, time 350ms``, torchtitan's ``step: 10  loss: 4.2  tps: 7,012``, DeepSpeed's
``steps: 10 loss: 4.2``, Megatron's lines, and the blocks OLMo and Composer print, see
:class:`BlockRecords`); ``megatron`` (Megatron-LM /
Megatron-DeepSpeed ``iteration N/ M | key: value | ...`` lines, and their ``validation loss
at iteration N | lm loss value: ...`` lines as ``val_lm_loss``, only); ``wandb`` (a W&B run
history exported as CSV or JSON: ``_step``, ``_timestamp``, metric columns; or a panel
export with ``Step`` and ``<run> - <metric>`` columns, found without ``--format`` by their
``__MIN``/``__MAX`` companions, a log per run: see :func:`wandb_panel`); ``tensorboard`` (event files,
through the tensorboard package) and ``mlflow`` (a tracking store, through the mlflow
client) live in their own modules.
"""

from __future__ import annotations

import functools
import io
import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab.errors import InputError, suggest

# a trainer's own step before W&B's row counter (_step), which counts log calls
STEP_NAMES = ("step", "global_step", "iteration", "iter", "steps", "Step", "trainer/global_step", "train/global_step",
              "_step")
TOKEN_NAMES = ("tokens", "consumed_tokens", "num_tokens", "tokens_seen", "total_tokens", "train/tokens",
               "num_input_tokens_seen", "train/num_input_tokens_seen", "throughput/total_tokens")
TIME_NAMES = ("wall_time", "timestamp", "_timestamp", "time", "walltime")
LOSS_NAMES = ("loss", "train_loss", "train/loss", "lm_loss", "loss/train", "training_loss", "train/lm_loss",
              "train_loss_step", "train/loss_step", "train/crossentropyloss", "train/ce_loss", "loss/train/total",
              "eval/loss", "val_loss", "validation_loss")
EPOCH_NAMES = ("epoch", "train/epoch", "trainer/epoch")
FORMATS = ("auto", "csv", "tsv", "jsonl", "text", "megatron", "wandb", "tensorboard", "mlflow")
CHUNK_BYTES = 64 * 2**20
NONFINITE = float("inf")  # how a logged NaN is stored (NaN itself means "not logged")
# a number as logs print it: 1.5e-3, 7,012 (thousands), nan, inf
_NUMBER = rb"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf(?:inity)?)\b"


NAN_TOKEN = re.compile(rb"([:\[,]\s*)[-+]?NaN\b")


def parse_json(raw):
    """json.loads, with a logged NaN read as +inf (see the module docstring)."""
    return json.loads(raw, parse_constant=lambda c: -NONFINITE if c == "-Infinity" else NONFINITE)


def to_number(series: pd.Series) -> pd.Series:
    """Numbers from a column; 'nan'/'inf' text becomes +-inf, other text becomes missing."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float)
    text = series.astype("string").str.strip()
    low = text.str.lower()
    text = text.mask(low.isin(["nan", "-nan", "+nan", "inf", "+inf", "infinity", "+infinity"]), "inf")
    text = text.mask(low.isin(["-inf", "-infinity"]), "-inf")
    return pd.to_numeric(text, errors="coerce").astype(float)


@dataclass
class ParseReport:
    """What a reader saw and what it did with it."""

    source: str
    format: str
    lines: int = 0
    rows: int = 0
    junk: int = 0
    partial_last_line: bool = False
    duplicates: int = 0
    out_of_order: int = 0
    restarts: int = 0
    superseded: int = 0
    nonfinite: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        unit = {"tensorboard": "scalar events", "mlflow": "logged values"}.get(self.format, "lines")
        parts = [f"{self.rows:,} rows from {self.lines:,} {unit}"]
        for label, n in (("junk line{s} skipped", self.junk), ("repeated step{s} (last kept)", self.duplicates),
                         ("step{s} out of order", self.out_of_order), ("restart{s} from an earlier step", self.restarts),
                         ("row{s} of abandoned stretches dropped", self.superseded),
                         ("non-finite value{s}", self.nonfinite)):
            if n:
                parts.append(f"{n:,} {label.format(s='' if n == 1 else 's')}")
        if self.partial_last_line:
            parts.append("a partial last line (not yet complete)")
        return "; ".join(parts + self.notes)


ROLE_COLUMNS = ("step", "tokens", "wall_time")  # every metric table has these; the other columns are metrics


@dataclass
class MetricLog:
    """A run's metrics: ``frame`` has ``step``, ``tokens``, ``wall_time`` and metric columns."""

    frame: pd.DataFrame
    report: ParseReport
    name: str = ""
    stretches: list[pd.DataFrame] = field(default_factory=list)  # a restarted run's stretches, as logged


    @property
    def metric_names(self) -> list[str]:
        return [c for c in self.frame.columns if c not in ROLE_COLUMNS]

    def loss_name(self, wanted: str | None = None) -> str:
        """The metric to watch: ``wanted``, or the first conventional loss name present."""
        return pick_loss_name(self.metric_names, wanted, self.report.source)


def pick_loss_name(names: list[str], wanted: str | None, source: str) -> str:
    """``wanted`` if the log has it, else the first conventional loss name (``LOSS_NAMES``),
    else the first metric with "loss" in its name; errors list the metrics there are."""
    if wanted:
        if wanted not in names:
            raise InputError(f"{source}: no metric {wanted!r}{suggest(wanted, names)}; metrics: "
                             f"{', '.join(names[:15]) or 'none'}; choose one with --loss-name")
        return wanted
    for n in LOSS_NAMES:
        if n in names:
            return n
    lossy = [n for n in names if "loss" in n.lower()]
    if lossy:
        return lossy[0]
    raise InputError(f"{source}: no loss metric found among {', '.join(names[:15]) or 'none'}; "
                     "choose one with --loss-name")


LOG_NAMES = ("*.jsonl", "*.ndjson", "*.csv", "*.tsv", "*.log", "trainer_state.json")


def _logs_in(folder: Path) -> str:
    """What to give instead of a folder that is not a TensorBoard run: the log files in it,
    or in its subfolders (a ladder's ``PLAN.runs/NAME/log.jsonl``)."""
    here = sorted({f for pat in LOG_NAMES for f in folder.glob(pat) if f.is_file()})
    if here:
        return f"give a log file, e.g. {str(here[0])!r}" + (f" ({len(here)} here)" if len(here) > 1 else "")
    below = sorted({f for pat in LOG_NAMES for f in folder.glob(f"*/{pat}") if f.is_file()})
    if below:
        names = {f.name for f in below}
        example = str(folder / "*" / below[0].name) if len(names) == 1 else str(below[0])
        return f"its subfolders hold {len(below)} log files: give them, e.g. {example!r}"
    return "give a log file or --format"


def _mlflow_file_store(p: Path) -> bool:
    """An ``mlruns`` folder: experiments as subfolders, each with its meta.yaml."""
    return any(f.is_file() for f in p.glob("*/meta.yaml")) and not (p / "meta.yaml").exists()


def detect_format(path: str | Path) -> str:
    text = str(path)
    if text.startswith(("sqlite:", "mlflow:", "http://", "https://", "file:")):
        return "mlflow"
    p = Path(path)
    if p.is_dir():
        if any(p.rglob("events.out.tfevents*")):
            return "tensorboard"
        if (p / "mlflow.db").exists() or _mlflow_file_store(p):
            return "mlflow"
        if (p / "meta.yaml").is_file() and _mlflow_file_store(p.parent):
            raise InputError(f"{text!r} is an experiment of the MLflow store {str(p.parent)!r}: give the store "
                             f"({str(p.parent)!r}) and --run NAME")
        if (p / "meta.yaml").is_file() and _mlflow_file_store(p.parent.parent):
            raise InputError(f"{text!r} is a run of the MLflow store {str(p.parent.parent)!r}: give the store and "
                             f"--run {p.name}")
        raise InputError(f"{text!r} is a folder with no TensorBoard event files; {_logs_in(p)}")
    name = p.name.lower()
    if name.startswith("events.out.tfevents"):
        return "tensorboard"
    suffix = p.suffix.lower()
    if suffix in (".db", ".sqlite"):
        return "mlflow"
    if suffix in (".csv",):
        return "csv"
    if suffix == ".tsv":
        return "tsv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".log", ".txt", ".out", ".err"):
        return "text"
    raise InputError(f"cannot tell the format of {text!r}; pass --format {'|'.join(FORMATS[1:])}")


def read_log(path: str | Path, format: str = "auto", *, step_col: str | None = None, tokens_col: str | None = None,
             time_col: str | None = None, run: str | None = None) -> list[MetricLog]:
    """Read a training log into one :class:`MetricLog` per run (TensorBoard folders and
    MLflow stores can hold several; files hold one).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "train.jsonl")
    >>> _ = open(p, "w").write('{"step": 1, "loss": 4.0}\\nnot json\\n{"step": 2, "loss": 3.5}\\n{"step": 3, "lo')
    >>> log = read_log(p)[0]
    >>> log.frame["loss"].tolist(), log.report.junk, log.report.partial_last_line
    ([4.0, 3.5], 1, True)
    """
    if format not in FORMATS:
        raise InputError(f"--format {format!r}: choose one of {', '.join(FORMATS)}{suggest(format, FORMATS)}")
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "tensorboard":
        from scalelab.runs.tensorboard import read_tensorboard

        return read_tensorboard(path)
    if fmt == "mlflow":
        from scalelab.runs.mlflow import read_mlflow

        return read_mlflow(path, run=run)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"log file {str(p)!r} does not exist" + ("" if not p.exists() else " (it is a folder)"))
    try:
        data = p.read_bytes() if p.stat().st_size <= 4 * CHUNK_BYTES else None
    except OSError as exc:
        raise InputError(f"cannot read {str(p)!r}: {exc.strerror}") from None
    report = ParseReport(source=str(p), format=fmt)
    if (data if data is not None else _head_bytes(p))[:2] in UTF16_BOMS:  # what Windows PowerShell's > writes
        if data is None:
            raise InputError(utf16_message(str(p)))
        data = data.decode("utf-16").encode("utf-8")
        report.notes.append("read as UTF-16 (its byte-order mark)")
    chunks = [data] if data is not None else _chunks(p)
    if fmt in ("csv", "tsv", "wandb") and not _looks_like_json(p):
        frame = _read_csv(chunks, report, sep="\t" if fmt == "tsv" else ",")
    elif fmt in ("jsonl", "wandb"):
        frame = _read_jsonl(chunks, report)
    elif fmt in ("megatron", "text"):
        frame = _read_lines(chunks, report, fmt)
    else:
        raise InputError(f"--format {fmt!r} is not a file format here")
    panel = wandb_panel(frame.columns, explicit=fmt == "wandb") if fmt in ("csv", "wandb") else None
    if panel is not None:  # a W&B panel export: each run's metrics in '<run> - <metric>' columns, a log a run
        logs = []
        for name, columns in panel.items():
            part = _wandb_columns(frame[list(columns)].rename(columns=columns))
            part = part.dropna(how="all", subset=[new for old, new in columns.items() if " - " in old])
            one = replace(report, notes=list(report.notes)) if len(panel) > 1 else report
            logs.append(_one_log(part, one, name, step_col, tokens_col, time_col))
        return logs
    if fmt == "wandb":
        frame = _wandb_columns(frame)
    return [_one_log(frame, report, run_name(p), step_col, tokens_col, time_col)]


def _one_log(frame: pd.DataFrame, report: ParseReport, name: str, step_col, tokens_col, time_col) -> MetricLog:
    table = map_roles(frame, report, step_col=step_col, tokens_col=tokens_col, time_col=time_col)
    table, stretches = drop_superseded(table, report)
    return MetricLog(merge_steps(table, report), report, name=name,
                     stretches=[merge_steps(t, None) for t in stretches])


def wandb_panel(columns, explicit: bool = False) -> dict[str, dict[str, str]] | None:
    """The runs of a W&B panel export, each with its columns and their new names (``{run:
    {column: name}}``), or None when the columns are not one. An export names a run's
    metric ``'<run> - <metric>'`` beside ``__MIN``/``__MAX`` companions, which are left out;
    the columns that name no run (``Step``) are every run's. ``explicit`` (``--format
    wandb``) takes '<run> - <metric>' columns without companions too.

    >>> wandb_panel(["Step", "a - loss", "a - loss__MIN", "a - loss__MAX", "b - loss", "b - loss__MIN"])
    {'a': {'Step': 'Step', 'a - loss': 'loss'}, 'b': {'Step': 'Step', 'b - loss': 'loss'}}
    >>> wandb_panel(["step", "loss - smoothed"]) is None
    True
    """
    names = [str(c) for c in columns]
    companions = {n[:-5] for n in names if n.endswith(("__MIN", "__MAX"))}
    series = [n for n in names if " - " in n and not n.endswith(("__MIN", "__MAX"))]
    if not series or not (explicit or companions.intersection(series)):
        return None
    shared = [n for n in names if " - " not in n and not n.endswith(("__MIN", "__MAX"))]
    runs: dict[str, dict[str, str]] = {}
    for n in series:
        run, metric = n.rsplit(" - ", 1)
        runs.setdefault(run.strip(), {c: c for c in shared})[n] = metric.strip()
    return runs


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def utf16_message(source: str) -> str:
    return (f"{source} is UTF-16 text (as Windows PowerShell's > writes): convert it to UTF-8 (iconv -f UTF-16 -t UTF-8, "
            "or PowerShell's Out-File -Encoding utf8) or write the log as UTF-8")


def _head_bytes(p: Path, n: int = 4) -> bytes:
    with p.open("rb") as fh:
        return fh.read(n)


GENERIC_LOG_NAMES = {"log", "logs", "train", "training", "train_log", "training_log", "metrics", "history", "stdout",
                     "output", "progress", "trainer_state", "events"}


def run_name(path: Path) -> str:
    """A run's name from its log's path: the file's stem, or its folder's name when the stem
    names no run (``runs/baseline/log.jsonl`` is ``baseline``, not ``log``)."""
    stem, folder = path.name.split(".")[0], path.absolute().parent.name
    return folder if stem.lower() in GENERIC_LOG_NAMES and folder else path.stem


def finish(frame: pd.DataFrame, report: ParseReport, *, step_col=None, tokens_col=None, time_col=None) -> pd.DataFrame:
    """Map role columns, keep numeric metrics, order by step, count and resolve repeats."""
    return merge_steps(map_roles(frame, report, step_col=step_col, tokens_col=tokens_col, time_col=time_col), report)


def merge_steps(out: pd.DataFrame, report: ParseReport | None) -> pd.DataFrame:
    """One row per step, ordered: a value logged more than once for a step keeps the last
    (the others counted as repeats in ``report``)."""
    steps = out["step"].to_numpy()
    if report is not None and steps.size > 1:
        report.out_of_order += int((np.diff(steps) < 0).sum())
    values = out.drop(columns=["step"])
    # a value logged more than once for a step: the last is kept, the others counted; an
    # evaluation row repeating its step's epoch or tokens (HF, Lightning) repeats bookkeeping, not a step
    groups = values.groupby(out["step"], sort=True)
    if report is not None and steps.size and np.unique(steps).size < steps.size:
        logged = values.notna()
        repeats = logged.sum() - logged.groupby(out["step"]).any().sum()
        # the step's tokens (or epoch) written again on its evaluation line: counted only when it differs
        bookkeeping = [c for c in values.columns if str(c).lower() in EPOCH_NAMES or c == "tokens"]
        if bookkeeping:
            kept = groups[bookkeeping].transform("last")
            repeats[bookkeeping] = (logged[bookkeeping] & (values[bookkeeping] != kept)).sum()
        report.duplicates += int(repeats.sum())
    out = groups.last().reset_index()  # last logged value per column
    if report is not None:
        metrics = out.drop(columns=["step", "tokens", "wall_time"]).to_numpy(dtype=float)
        report.nonfinite += int(np.isinf(metrics).sum())
        report.rows = len(out)
    return out


def drop_superseded(out: pd.DataFrame, report: ParseReport) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """A log written in time order whose step goes back and carries on from there has
    restarted: from a checkpoint (the steps after it are logged again) or from scratch (step
    0 again). The rows of the abandoned stretch, those at or past the step a later stretch
    starts from, are dropped and counted (``report.superseded``); the stretches between
    restarts are returned too, in order, so a monitor can replay the run as it happened.

    A single row out of place (two rows swapped, a stray old line: the next row carries on
    past it) is not a restart; it stays, counted as out of order. A log whose step goes back
    more often than once in a hundred rows is not a run that restarted but rows in another
    order (sorted by another column, newest first, several writers): nothing is dropped and
    the rows are ordered by step.

    >>> t = pd.DataFrame({"step": [1, 2, 3, 4, 2, 3, 5, 4, 6], "loss": [4.0, 3.0, 9.0, 9.5, 3.1, 2.9, 2.8, 2.85, 2.7]})
    >>> r = ParseReport("t.jsonl", "jsonl")
    >>> kept, stretches = drop_superseded(t, r)
    >>> kept["step"].tolist(), r.restarts, r.superseded, len(stretches)
    ([1, 2, 3, 5, 4, 6], 1, 3, 2)
    """
    stale, starts = superseded(out["step"].to_numpy())
    if not starts.size:
        return out, []
    report.restarts += int(starts.size)
    report.superseded += int(stale.sum())
    stretches = [out.iloc[a:b] for a, b in zip(np.concatenate([[0], starts]), np.append(starts, len(out)))]
    return out.loc[~stale].reset_index(drop=True), stretches


def superseded(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For steps in the order they were logged: which entries a later restart abandoned, and
    the positions where the stretches after each restart start (see :func:`drop_superseded`;
    none when the steps go back too often to be restarts)."""
    steps = np.asarray(steps, np.int64)
    n = steps.size
    none = (np.zeros(n, bool), np.zeros(0, np.int64))
    if n < 3:
        return none
    top = np.maximum.accumulate(steps)
    # a restart: the step falls below the highest so far, and the row after it stays below too
    back = np.zeros(n, bool)
    back[1:-1] = (steps[1:-1] < top[:-2]) & (steps[2:] <= top[:-2]) & (steps[1:-1] < steps[:-2])
    restarts = int(back.sum())
    if not restarts or restarts > max(1, 0.01 * n):
        return none
    starts = np.flatnonzero(back)
    first = np.concatenate([[steps[0]], steps[starts]])  # where each stretch starts
    later = np.append(np.minimum.accumulate(first[::-1])[::-1][1:], np.iinfo(np.int64).max)  # lowest start after
    return steps >= later[np.cumsum(back)], starts  # logged again, or past, by a later stretch


def map_roles(frame: pd.DataFrame, report: ParseReport, *, step_col=None, tokens_col=None, time_col=None) -> pd.DataFrame:
    """``step``, ``tokens``, ``wall_time`` and numeric metric columns, in file order; rows
    without a usable step are counted as junk."""
    cols = list(frame.columns)
    step = _pick(cols, step_col, STEP_NAMES, "--step-col", report.source, required=True)
    tokens = _pick(cols, tokens_col, TOKEN_NAMES, "--tokens-col", report.source)
    wtime = _pick(cols, time_col, TIME_NAMES, "--time-col", report.source)
    out = pd.DataFrame({"step": pd.to_numeric(frame[step], errors="coerce")})
    out["tokens"] = pd.to_numeric(frame[tokens], errors="coerce") if tokens else np.nan
    out["wall_time"] = wall_seconds(frame[wtime]) if wtime else np.nan
    for c in cols:
        if c in (step, tokens, wtime):
            continue
        s = frame[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            continue
        if not pd.api.types.is_numeric_dtype(s.dtype):
            if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
                continue
            num = to_number(s)
            if num.notna().sum() == 0:
                continue  # a text column (event names, messages)
            s = num
        out[str(c)] = s.astype(float)
    bad_step = out["step"].isna()
    if bad_step.any():
        report.junk += int(bad_step.sum())
        out = out.loc[~bad_step]
    out["step"] = out["step"].astype(np.int64)
    return out.reset_index(drop=True)


def wall_seconds(raw: pd.Series) -> pd.Series:
    """Wall-clock times as seconds since the epoch: numbers as they are, and a column of
    dates and times (``2025-01-31T12:00:01``, ``2025-01-31 12:00:01.5+01:00``) converted, UTC
    where no zone is given.

    >>> wall_seconds(pd.Series(["2025-01-31T12:00:01", "2025-01-31 12:00:11.5"])).tolist()
    [1738324801.0, 1738324811.5]
    """
    t = pd.to_numeric(raw, errors="coerce")
    if t.notna().any() or not raw.notna().any():
        return t
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas guessing a format
        stamps = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def _pick(cols, given, names, flag, source, required=False):
    if given:
        if given not in cols:
            raise InputError(f"{source}: no column {given!r}{suggest(given, map(str, cols))}; columns: "
                             f"{', '.join(map(str, cols[:15]))}; set it with {flag}")
        return given
    for n in names:
        if n in cols:
            return n
    if required:
        raise InputError(f"{source}: no step column (looked for {', '.join(names[:5])}...); columns: "
                         f"{', '.join(map(str, cols[:15]))}; name it with {flag}")
    return None


def _chunks(path: Path):
    """Yield the file in ~64 MB pieces cut at line ends (for logs of gigabytes)."""
    with path.open("rb") as fh:
        rest = b""
        while True:
            block = fh.read(CHUNK_BYTES)
            if not block:
                if rest:
                    yield rest
                return
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            yield block[: cut + 1]
            rest = block[cut + 1:]


def _looks_like_json(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(64).lstrip()
    return head[:1] in (b"{", b"[")


def json_document(path: str | Path) -> bool:
    """Whether a file is one JSON object spread over lines (not JSON lines)."""
    try:
        with Path(path).open("rb") as fh:
            first = fh.readline(1 << 16).strip()
    except OSError:
        return False
    return first.startswith(b"{") and not _complete_json(first)


def _split_partial(chunk: bytes, last: bool, report: ParseReport) -> bytes:
    """Drop an unterminated last line that does not parse (a writer mid-line)."""
    if not last or chunk.endswith(b"\n") or not chunk:
        return chunk
    cut = chunk.rfind(b"\n")
    tail = chunk[cut + 1:]
    if tail.strip() and not _complete_json(tail):
        report.partial_last_line = True
        return chunk[: cut + 1]
    return chunk


def _complete_json(line: bytes) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def _read_jsonl(chunks, report: ParseReport) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.json as pj

    chunks = list(chunks) if not isinstance(chunks, list) else chunks
    tables, records = [], []
    for i, chunk in enumerate(chunks):
        stripped = chunk.lstrip()
        if i == 0 and stripped.startswith(b"{") and len(chunks) == 1 and not _complete_json(stripped.split(b"\n", 1)[0]):
            records += _trainer_state(chunk, report)  # one JSON object over many lines
            continue
        if i == 0 and stripped.startswith(b"["):  # a JSON array (W&B's history as JSON)
            try:
                records += json.loads(chunk)
                report.lines += len(records)
                continue
            except ValueError:
                raise InputError(f"{report.source}: a JSON array that does not parse; export one JSON object per line") from None
        chunk = _split_partial(chunk, i == len(chunks) - 1, report)
        if b"NaN" in chunk:  # a logged NaN: keep it apart from "not logged" (pyarrow reads both as NaN)
            chunk = NAN_TOKEN.sub(rb"\1Infinity", chunk)
        n_lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") or not chunk else 1)
        report.lines += n_lines + (1 if report.partial_last_line and i == len(chunks) - 1 else 0)
        try:
            tables.append(pj.read_json(io.BytesIO(chunk)))
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
        # junk lines: keep what looks like an object, count the rest
        lines = [ln for ln in chunk.split(b"\n") if ln.strip()]
        good = [ln for ln in lines if ln.lstrip().startswith(b"{") and ln.rstrip().endswith(b"}")]
        report.junk += len(lines) - len(good)
        if not good:
            continue
        try:
            tables.append(pj.read_json(io.BytesIO(b"\n".join(good) + b"\n")))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            for ln in good:  # mixed types or broken objects: the slow, forgiving path
                try:
                    obj = parse_json(ln)
                except ValueError:
                    report.junk += 1
                    continue
                if isinstance(obj, dict):
                    records.append(obj)
                else:
                    report.junk += 1
    frames = [f for f in (_flat_arrow(t) for t in tables) if len(f)]
    if records:
        frames.append(pd.json_normalize(records, sep="/"))
    if not frames:
        raise InputError(f"{report.source}: no JSON records found; is it a JSON-lines log? (--format)")
    return pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0]


def _trainer_state(data: bytes, report: ParseReport) -> list[dict]:
    """The ``log_history`` of a Hugging Face ``trainer_state.json`` (a row per logging step
    and per evaluation, each with its ``step``)."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise InputError(f"{report.source}: a JSON object that does not parse; a log is one JSON object per line") from None
    history = obj.get("log_history") if isinstance(obj, dict) else None
    if not isinstance(history, list):
        raise InputError(f"{report.source}: one JSON object without a 'log_history' list (a Hugging Face "
                         "trainer_state.json has one); a log is one JSON object per line")
    rows = [r for r in history if isinstance(r, dict)]
    report.lines += len(history)
    report.junk += len(history) - len(rows)
    return rows


def _flat_arrow(table) -> pd.DataFrame:
    """Arrow table -> DataFrame, flattening nested objects into a/b column names."""
    import pyarrow as pa

    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    df = table.to_pandas()
    df.columns = [c.replace(".", "/") for c in df.columns]
    return df


def _read_csv(chunks, report: ParseReport, sep: str) -> pd.DataFrame:
    data = b"".join(chunks) if not isinstance(chunks, list) or len(chunks) != 1 else chunks[0]
    data = _split_partial(data, True, report)
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    report.lines = len(lines)
    if not lines:
        raise InputError(f"{report.source}: the log is empty")
    try:
        # keep 'nan'/'inf' as text, so that a logged NaN is told apart from an empty cell
        frame = pd.read_csv(io.BytesIO(data), sep=sep, on_bad_lines="skip", skip_blank_lines=True, low_memory=False,
                            keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {report.source!r} as CSV: {str(exc).splitlines()[0]}") from None
    report.junk += max(0, len(lines) - 1 - len(frame))  # rows with the wrong number of fields
    return frame


MEGATRON_ITER = re.compile(rb"iteration\s+(\d+)\s*/\s*(\d+)")
MEGATRON_FIELD = re.compile(rb"\|\s*([A-Za-z][A-Za-z0-9 ()/_.\-]*?)\s*:\s*([-+]?(?i:nan|inf(?:inity)?)|[-+0-9.eE]+)")
# Megatron's evaluations: "validation loss at iteration 1000 [on validation set] | lm loss value: 3.1E+00 | lm loss PPL: ..."
MEGATRON_EVAL = re.compile(rb"(validation|test) loss at iteration\s+(\d+)")


# Megatron prints its arguments before training, "  seq_length ..................... 4096"
MEGATRON_ARG = re.compile(rb"(?<![\w-])(seq_length|encoder_seq_length)\s\.{2,}\s(\d+)\s*$")
# nanoGPT prints its batch before training, "tokens per iteration will be: 491,520"
PRINTED_NOTE = "tokens = "  # how a report's note on counted tokens begins
NANOGPT_TOKENS = re.compile(rb"tokens per iteration will be:\s*([\d,]+)\s*$")


class PrintedTokens:
    """Tokens for a printed log that counts steps or sequences but says, before training,
    how long they are. Megatron's iteration lines give ``consumed samples`` (sequences, a
    batch ramp-up included) and its arguments the sequence length: a record gets
    ``consumed_tokens`` = consumed samples x seq_length. nanoGPT prints the tokens of an
    iteration: a record gets ``tokens`` = step x that (as ``--tokens-per-step`` counts).
    Records that count their tokens are left as they are.

    >>> t = PrintedTokens()
    >>> t.see(b"  seq_length ...................................... 4096")
    True
    >>> t.add({"step": 10, "consumed_samples": 5120.0})
    {'step': 10, 'consumed_samples': 5120.0, 'consumed_tokens': 20971520.0}
    >>> t = PrintedTokens()
    >>> t.see(b"tokens per iteration will be: 491,520"), t.add({"step": 10, "loss": 4.2})
    (True, {'step': 10, 'loss': 4.2, 'tokens': 4915200})
    """

    def __init__(self, report: ParseReport | None = None):
        self.seq_len: int | None = None
        self.per_step: int | None = None
        self.report = report

    def see(self, line: bytes) -> bool:
        """Take the sequence length or the tokens per step from a line; True when it gave one."""
        m = MEGATRON_ARG.search(line)
        if m:
            if self.seq_len is None or m.group(1) == b"seq_length":
                self.seq_len = int(m.group(2))
                self._note(f"{PRINTED_NOTE}consumed samples x seq_length {self.seq_len:,} (the log's arguments)")
            return True
        m = NANOGPT_TOKENS.search(line)
        if m:
            self.per_step = int(m.group(1).replace(b",", b""))
            self._note(f"{PRINTED_NOTE}step x {self.per_step:,} (the log's tokens per iteration)")
            return True
        return False

    def _note(self, note: str) -> None:
        if self.report is not None:
            self.report.notes = [n for n in self.report.notes if not n.startswith(PRINTED_NOTE)] + [note]

    def add(self, rec: dict) -> dict:
        if any(n in rec for n in TOKEN_NAMES):
            return rec
        if self.seq_len and "consumed_samples" in rec:
            rec["consumed_tokens"] = rec["consumed_samples"] * self.seq_len
        elif self.per_step and "step" in rec:
            rec["tokens"] = rec["step"] * self.per_step
        return rec


class HFConsole:
    """What a Hugging Face ``Trainer`` prints, stdout and stderr in one file: its logs as
    Python dicts (``{'loss': 2.3456, 'grad_norm': 1.2, 'learning_rate': 4.9e-05, 'epoch':
    0.02}``) with no step, between the ``\\r``-redrawn progress bars' ``10/500 [...]`` counts.
    The training bar is the one drawn last before the first training log (a dict with a
    loss, learning rate or grad norm); every log takes its count (an evaluation's too, though
    an evaluation's own bar is drawn in between). The bar redraws at most every 0.1 s, so a
    step shorter than that can be logged at an earlier count. Without a bar (stdout alone) a
    dict has no step and is left as junk. Values as Python prints them: ``nan``, ``np.float64(2.3)``,
    ``tensor(1.2, device='cuda:0')``, or as transformers 5 does, as text (``'loss': '4.036'``).

    >>> c = HFConsole()
    >>> c.record(b"Map: 100%|##########| 9000/9000 [00:01<00:00]\\r  2%|2         | 10/500 [00:05<04:10]"
    ...          b"{'loss': 2.3456, 'learning_rate': 4.9e-05, 'epoch': 0.02}")
    {'step': 10, 'loss': 2.3456, 'learning_rate': 4.9e-05, 'epoch': 0.02}
    >>> c.record(b"\\r 50%|#####     | 5/10 [00:00<00:00]\\r{'eval_loss': nan, 'epoch': 0.02}")
    {'step': 10, 'eval_loss': inf, 'epoch': 0.02}
    """

    BAR = re.compile(rb"\|\s*(\d+)/(\d+)\s*\[")
    VALUE = re.compile(rb"'([^']+)':\s*'?(?:np\.float\d+\(|tensor\()?(" + _NUMBER + rb")")
    TRAINING = (b"'loss'", b"'learning_rate'", b"'grad_norm'")

    def __init__(self):
        self.counts: dict[int, int] = {}  # each bar's last count, by its total
        self.total: int | None = None  # the training bar's
        self.last: int | None = None  # the total of the bar drawn last

    def holds(self, line: bytes) -> bool:
        return b"{'" in line or (b"|" in line and b"/" in line and self.BAR.search(line) is not None)

    def _bars(self, line: bytes, start: int = 0, end: int | None = None) -> None:
        for n, m in self.BAR.findall(line, start, len(line) if end is None else end):
            self.counts[int(m)] = int(n)
            self.last = int(m)

    def record(self, line: bytes) -> dict | None:
        start = line.rfind(b"{'")
        if start < 0:
            self._bars(line)
            return None
        self._bars(line, 0, start)
        end = line.find(b"}", start)
        end = len(line) if end < 0 else end
        if self.total is None and any(k in line[start:end] for k in self.TRAINING):
            self.total = self.last
        rec = None
        step = self.counts.get(self.total) if self.total is not None else None
        if step is not None:
            rec = {"step": step}
            for k, v in self.VALUE.findall(line, start, end + 1):
                v = float(v.replace(b",", b""))
                rec[k.decode("utf-8", "replace")] = NONFINITE if v != v else v
            rec = rec if len(rec) > 1 else None
        self._bars(line, end + 1)
        return rec


class PrintedLines:
    """Records from a printed log (``text`` or ``megatron``), a line at a time, read the same
    way whole and live: one-line records (:func:`text_record`, :func:`megatron_record`),
    OLMo's and Composer's blocks (:class:`BlockRecords`), a Hugging Face Trainer's dicts
    (:class:`HFConsole`), and the tokens the log's printed settings give (:class:`PrintedTokens`).
    Counts lines and junk in ``report``."""

    def __init__(self, fmt: str, report: ParseReport):
        self.parse = megatron_record if fmt == "megatron" else text_record
        self.blocks = BlockRecords() if fmt == "text" else None
        self.tokens = PrintedTokens(report)
        self.report = report
        self.bar = HFConsole() if fmt == "text" else None

    def feed(self, line: bytes) -> list[dict]:
        """The records this (non-blank) line finishes: none, one, or a block and itself."""
        self.report.lines += 1
        out = []
        if self.blocks is not None:
            used, done = self.blocks.feed(line)
            if done is not None:
                out.append(self.tokens.add(done))
            if used:
                return out
        rec = self.bar.record(line) if self.bar is not None and self.bar.holds(line) else None
        rec = self.parse(line) if rec is None else rec
        if rec is None:
            self.report.junk += 1  # other log lines (info, warnings, arguments)
            self.tokens.see(line)
        else:
            out.append(self.tokens.add(rec))
        return out

    def flush(self) -> list[dict]:
        """The block still open (a block is written in one go: what a read ends on is whole)."""
        done = self.blocks.flush() if self.blocks is not None else None
        return [] if done is None else [self.tokens.add(done)]


def _read_lines(chunks, report: ParseReport, fmt: str) -> pd.DataFrame:
    printed = PrintedLines(fmt, report)
    records = []
    dicts = 0
    for chunk in chunks:
        for ln in chunk.split(b"\n"):
            if not ln.strip():
                continue
            junk = report.junk
            records += printed.feed(ln)
            dicts += report.junk > junk and ln.lstrip().startswith(b"{'")
    records += printed.flush()
    if not records:
        if not report.lines:
            raise InputError(f"{report.source}: the log is empty (no line yet: give it time, or watch it without --once)")
        if fmt == "megatron":
            raise InputError(f"{report.source}: no 'iteration N/ M | key: value' lines; not a Megatron log (--format)")
        hint = ("; a Hugging Face Trainer prints its logs without their step: read the run's "
                "checkpoint-N/trainer_state.json instead, or keep its stderr in the same file (2>&1), where its "
                "progress bar counts the steps" if dicts else "")
        raise InputError(f"{report.source}: no line names a step and a metric (such as 'iter 10: loss 4.2', "
                         "'step: 10  loss: 4.2' or Megatron's 'iteration 10/ 100 | lm loss: 4.2'); "
                         f"give --format jsonl, csv or tsv for a table{hint}")
    return pd.DataFrame.from_records(records)


def megatron_record(line: bytes) -> dict | None:
    """One ``iteration N/ M | key: value | ...`` line as a record, or None for other lines."""
    m = MEGATRON_ITER.search(line)
    prefix = ""
    if m:
        rec = {"step": int(m.group(1)), "train_iters": int(m.group(2))}
        stamp = _line_time(line, m.start())  # Megatron-LM's " [2024-05-01 12:00:00] iteration ..."
        if stamp is not None:
            rec["wall_time"] = stamp
    else:
        m = MEGATRON_EVAL.search(line)
        if not m:
            return None
        rec, prefix = {"step": int(m.group(2))}, "val_" if m.group(1) == b"validation" else "test_"
    for key, val in MEGATRON_FIELD.findall(line, m.end()):
        name = key.decode().strip().lower().replace(" ", "_").replace("(", "").replace(")", "")
        if prefix:  # "lm loss value" is the evaluation's lm_loss: val_lm_loss (and val_lm_loss_ppl)
            name = prefix + name.removesuffix("_value")
        try:
            v = float(val)
        except ValueError:
            continue
        rec[name] = NONFINITE if v != v else v  # a logged nan (see the module docstring)
    return rec


FAIRSEQ_UPDATES = re.compile(rb"num_updates[=\s]\s*(\d+)")
FAIRSEQ_KIND = re.compile(rb"\|\s*(train_inner|train|valid)\s*\|")


def fairseq_record(line: bytes) -> dict | None:
    """A fairseq or metaseq line (``| train_inner | epoch 001:  100 / 1563 loss=9.876, ...,
    num_updates=100, ...``; ``| valid | epoch 001 | valid on 'valid' subset | loss 9.3 | ... |
    num_updates 1000``): its step is ``num_updates``, an evaluation's metrics are prefixed
    ``valid_``. None for another line, and for an epoch's summary (``| train |``), which
    repeats averages of steps already logged. (fairseq logs the loss in bits.)

    >>> fairseq_record(b"2021-01-01 00:00:10 | INFO | train_inner | epoch 001:    100 / 1563 loss=9.876, ppl=940.1, "
    ...                b"wps=12345.6, wpb=65536, num_updates=100, lr=1e-05, gnorm=1.234")
    {'step': 100, 'wall_time': 1609459210.0, 'loss': 9.876, 'ppl': 940.1, 'wps': 12345.6, 'wpb': 65536.0, 'lr': 1e-05, 'gnorm': 1.234}
    """
    kind, steps = FAIRSEQ_KIND.search(line), FAIRSEQ_UPDATES.search(line)
    if kind is None or steps is None or kind.group(1) == b"train":
        return None
    rec: dict = {"step": int(steps.group(1))}
    prefix = "valid_" if kind.group(1) == b"valid" else ""
    stamp = None if prefix else _line_time(line, kind.start())  # an evaluation's time is not its step's
    if stamp is not None:
        rec["wall_time"] = stamp
    for name, _, value, _ in TEXT_FIELD.findall(line, kind.end()):
        key = name.decode().strip().lower()
        if key in ("num_updates", "epoch") or " " in key:  # "epoch 001", "valid on": bookkeeping
            continue
        v = float(value.replace(b",", b""))
        rec[prefix + key] = NONFINITE if v != v else v
    return rec


ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
TEXT_STEP = re.compile(rb"(?<![A-Za-z_])(?:global_step|iteration|iter|steps?)\s*[:=#]?\s*(\d+)(?:\s*/\s*\d+)?(?![\d.])",
                       re.IGNORECASE)
TEXT_FIELD = re.compile(rb"(?<![\w/.\-])([A-Za-z][\w/.\-]*(?: [A-Za-z][\w/\-]*)?)(?:\s*\((ms|s)\))?\s*(?::|=|\s)\s*(" + _NUMBER
                        + rb")(ms|s|%|[KMGT]i?B|[KMGBTP])?(?![\w.])")
TEXT_TIME = re.compile(rb"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?")
UNIT_SUFFIX = {b"ms": "_ms", b"s": "_s", b"%": "_pct"}
TEXT_RATE = re.compile(rb"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*tok(?:en)?s?/s(?:ec)?\b")
# a count printed with its magnitude (nanotron's "consumed_tokens: 1.31M", "tokens_per_sec: 137K"; B for billions)
MAGNITUDE = {b"K": 1e3, b"M": 1e6, b"G": 1e9, b"B": 1e9, b"T": 1e12, b"P": 1e15}


def _line_time(line: bytes, end: int) -> float | None:
    """The date and time a line gives before ``end`` (``2025-01-31 12:00:01,123``), as
    seconds since the epoch (UTC); None without one."""
    t = TEXT_TIME.search(line, 0, end)
    if not t:
        return None
    try:
        stamp = datetime.fromisoformat(f"{t.group(1).decode()}T{t.group(2).decode()}").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return stamp.timestamp() + (float(b"0." + t.group(3)) if t.group(3) else 0.0)


def text_record(line: bytes) -> dict | None:
    """A printed training-log line as a record, or None when it names no step and metric.

    The step is the number after ``step``, ``steps``, ``iter``, ``iteration`` or
    ``global_step`` (with or without ``:``/``=``, a ``/total`` after it ignored); the metrics
    are the ``name: value``, ``name=value`` or ``name value`` pairs after it (a name of one
    or two words: ``train loss`` becomes ``train_loss``). A unit glued to a value names it:
    ``time 350ms`` is ``time_ms``, ``mfu 35%`` is ``mfu_pct``, ``memory: 20GiB`` is
    ``memory_gib``, while a magnitude scales it (``consumed_tokens: 1.31M`` is 1,310,000;
    K, M, G or B, T, P); a bare ``time`` is the step's duration, ``step_time``, never the wall
    clock. Thousands separators are read (``tps: 7,012``), colour codes ignored, and a date
    and time before the step (``2025-01-31 12:00:01,123``) is the line's wall time (UTC).
    Megatron's ``iteration N/ M | key: value`` lines are read as :func:`megatron_record` does.

    >>> text_record(b"iter 10: loss 4.2345, time 350.12ms, mfu 35.00%")
    {'step': 10, 'loss': 4.2345, 'time_ms': 350.12, 'mfu_pct': 35.0}
    >>> text_record(b"step 250: train loss 4.2010, val loss 4.3120")
    {'step': 250, 'train_loss': 4.201, 'val_loss': 4.312}
    >>> text_record(b"[titan] 2025-01-31 12:00:01,500 - INFO - step:  10  loss:  9.7612  memory: 20.01GiB(25.33%)  tps: 7,012")
    {'step': 10, 'wall_time': 1738324801.5, 'loss': 9.7612, 'memory_gib': 20.01, 'tps': 7012.0}
    >>> text_record(b"iteration: 10 / 100 | consumed_tokens: 1.31M | tokens_per_sec: 137K | lm_loss: 9.87")
    {'step': 10, 'consumed_tokens': 1310000.0, 'tokens_per_sec': 137000.0, 'lm_loss': 9.87}
    >>> text_record(b"step    1/74 | train loss 11.010046 | norm 15.3231 | (2546.17 ms | 205913 tok/s)")
    {'step': 1, 'train_loss': 11.010046, 'norm': 15.3231, 'tokens_per_s': 205913.0}
    >>> text_record(b"Saving checkpoint at step 1000") is None
    True
    """
    if b"iteration" in line and b"|" in line:
        rec = megatron_record(line)
        if rec is not None:
            return rec
    if b"num_updates" in line:
        rec = fairseq_record(line)
        if rec is not None:
            return rec
    if b"\x1b" in line:
        line = ANSI.sub(b"", line)
    m = TEXT_STEP.search(line)
    if not m:
        return None
    rec: dict = {"step": int(m.group(1))}
    stamp = _line_time(line, m.start())
    if stamp is not None:
        rec["wall_time"] = stamp
    n = 0
    for name, named_unit, value, unit in TEXT_FIELD.findall(line, m.end()):
        key, scale = _field_key(name, unit or named_unit)  # DeepSpeed's "iter time (s): 1.1" as "time 1.1s"
        v = float(value.replace(b",", b"")) * scale
        rec[key] = NONFINITE if v != v else v  # a logged nan (see the module docstring)
        n += 1
    if n and b"/s" in line:  # a rate printed value first, as llm.c prints it: "(2546.17 ms | 205913 tok/s)"
        rate = TEXT_RATE.search(line, m.end())
        if rate is not None:
            rec.setdefault("tokens_per_s", float(rate.group(1).replace(b",", b"")))
    return rec if n else None


@functools.lru_cache(maxsize=4096)
def _field_key(name: bytes, unit: bytes) -> tuple[str, float]:
    """A printed field's column name and the scale of its value (the same few fields recur on
    every line of a log, so the answer is kept)."""
    key = name.decode().strip().lower().replace(" ", "_")
    if unit in MAGNITUDE:
        return key, MAGNITUDE[unit]
    if unit:
        return key + UNIT_SUFFIX.get(unit, "_" + unit.decode().lower()), 1.0
    return ("step_time" if key == "time" else key), 1.0


class BlockRecords:
    """Records printed as blocks, as OLMo and OLMo-core print a step's metrics: a header line
    ending in ``[step=100/739328]`` (or ``[step=100/1000,epoch=0]``, with the log's timestamp
    before it), then a ``    name=value`` line per metric (``train/CE loss=2.123``,
    ``throughput/total tokens=419,430,400``). :meth:`feed` takes a line and says whether it
    belonged to a block, with the record a header or another line finished; :meth:`flush`
    finishes the open one. Names are read as :func:`text_record` reads them (lower case,
    spaces as ``_``).

    >>> b = BlockRecords()
    >>> b.feed(b"2024-02-01 12:00:00.000 node0 olmo.train:816 INFO [step=100/739328,epoch=0]")
    (True, None)
    >>> b.feed(b"    train/CE loss=2.123"), b.feed(b"    throughput/total tokens=419,430,400")
    ((True, None), (True, None))
    >>> b.flush()
    {'step': 100, 'wall_time': 1706788800.0, 'train/ce_loss': 2.123, 'throughput/total_tokens': 419430400.0}

    Composer (MosaicML, LLM Foundry) prints ``[batch=4/100]:`` (or ``[token=N/M]:``,
    ``[epoch=1][batch=4/25]:``, each line perhaps after a launcher's ``0:`` rank), then a
    ``\t Train name: value`` line per metric, and evaluations as ``[Eval batch=10/10] Eval on
    eval data:`` then ``\t Eval name: value``. Its ``time/batch`` and ``time/token`` count what
    came before the step, so the step is ``time/batch + 1`` and the tokens through it
    ``time/token`` x step / ``time/batch`` (none for the first step):

    >>> for line in [b"[batch=4/100]:", b"\t Train time/batch: 3", b"\t Train time/token: 6144",
    ...              b"\t Train trainer/algorithms: []", b"\t Train loss/train/total: 9.87"]:
    ...     _ = b.feed(line)
    >>> b.flush()
    {'step': 4, 'loss/train/total': 9.87, 'tokens': 8192.0}
    """

    HEADER = re.compile(rb"\[step=(\d+)(?:/[^\],]*)?(?:,[^\]]*)?\]\s*$")
    FIELD = re.compile(rb"^\s+([A-Za-z][\w/ .()\-]*?)\s*=\s*(" + _NUMBER + rb")\s*$")
    COMPOSER_HEADER = re.compile(rb"^(?:\d+:)?\s*(?:\[epoch=\d+\])?\[(?:batch|token|sample|iteration|epoch)=(\d+)"
                                 rb"(?:/[^\]]*)?\]:\s*$")
    COMPOSER_EVAL = re.compile(rb"^(?:\d+:)?\s*\[Eval batch=\d+(?:/\d+)?\] Eval on .* data:\s*$")
    COMPOSER_FIELD = re.compile(rb"^(?:\d+:)?\s+(?:Train|Eval) ([A-Za-z][\w/ .()\-]*?):\s*(?:(" + _NUMBER + rb")\s*$)?")

    def __init__(self):
        self.open: dict | None = None
        self.last_step: int | None = None
        self.composer = False  # the open block is Composer's

    def feed(self, line: bytes) -> tuple[bool, dict | None]:
        m = self.HEADER.search(line)
        if m:
            done = self.flush()
            self.open = {"step": int(m.group(1))}
            self.last_step = self.open["step"]
            stamp = _line_time(line, m.start())
            if stamp is not None:
                self.open["wall_time"] = stamp
            return True, done
        if line.rstrip().endswith(b":"):  # Composer's headers
            m = self.COMPOSER_HEADER.match(line)
            if m or (self.last_step is not None and self.COMPOSER_EVAL.match(line)):
                done = self.flush()
                self.open = {"step": int(m.group(1)) if m else self.last_step}
                self.composer = True
                if m:
                    self.last_step = self.open["step"]
                return True, done
        f = self.COMPOSER_FIELD.match(line) if self.composer or self.last_step is not None else None
        if self.open is None and f is not None:  # the rest of a block whose start a poll read before
            self.open, self.composer = {"step": self.last_step}, True
        if self.open is not None and self.composer:
            if f is None:
                return False, self.flush()
            if f.group(2) is not None:  # a value that is not a number (a list, a table) is skipped
                v = float(f.group(2).replace(b",", b""))
                self.open[f.group(1).decode().strip().lower().replace(" ", "_")] = NONFINITE if v != v else v
            return True, None
        f = self.FIELD.match(line)
        if self.open is None:
            if f is None or self.last_step is None:
                return False, None
            self.open = {"step": self.last_step}  # an evaluation's block ("c4_en-validation"): at the last step
        elif f is None:
            return False, self.flush()
        v = float(f.group(2).replace(b",", b""))
        self.open[f.group(1).decode().strip().lower().replace(" ", "_")] = NONFINITE if v != v else v
        return True, None

    def flush(self) -> dict | None:
        rec, self.open = self.open, None
        if rec is not None and self.composer:
            self.composer = False
            done = rec.pop("time/batch", None)
            if done is not None and 0 <= done < float("inf"):  # counts before the step (see above)
                rec["step"] = self.last_step = int(done) + 1
            seen = rec.pop("time/token", None)
            if seen is not None and rec["step"] > 1:
                rec["tokens"] = seen * rec["step"] / (rec["step"] - 1)
        return rec if rec is not None and len(rec) > 1 + ("wall_time" in rec) else None


def _wandb_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A W&B run history's columns: its ``_runtime`` as the wall time when no ``_timestamp``."""
    if "_runtime" in frame and "_timestamp" not in frame:
        frame = frame.rename(columns={"_runtime": "wall_time"})
    return frame

