"""The validated table of training runs.

A :class:`Runs` is built only through :func:`scalelab.runs.read_runs` or
:meth:`Runs.from_frame`, which map the user's column names onto the roles scalelab uses
(``params``, ``tokens``, ``loss``, ``flops``, ``run_id``), select rows, reduce curves to
final rows, and refuse bad values naming the rows that hold them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalelab.errors import InputError, suggest
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN  # C = 6ND when no flops column is given
from scalelab.units import COUNT_SUFFIXES

ROLES = ("params", "tokens", "loss", "flops", "unique_tokens")
MAX_CROSS_ENTROPY_BITS = 20  # log2 of a million: a uniform guess over a million-token vocabulary


def counts(series: pd.Series) -> pd.Series:
    """Numbers from a column, counts written as people write them included (``70M``,
    ``1.4B``, ``2T``, ``8k``, ``1,000,000``, and ``1,5B`` where ',' is the decimal mark: a
    comma before exactly three digits separates thousands); what is neither becomes NaN.

    >>> counts(pd.Series(["70M", "1.4B", "2t", "1,000", 5e9, "n/a", "1,5B", "3,200,000"])).tolist()
    [70000000.0, 1400000000.0, 2000000000000.0, 1000.0, 5000000000.0, nan, 1500000000.0, 3200000.0]
    """
    num = pd.to_numeric(series, errors="coerce")
    text = series.notna() & num.isna()
    if text.any():
        s = series[text].astype(str).str.strip().str.replace("_", "", regex=False)
        s = s.str.replace(r"(?<=\d),(?=\d{3}(?!\d))", "", regex=True).str.replace(",", ".", regex=False)  # 1,000 / 1,5B
        parts = s.str.extract(r"^([-+]?(?:\d+\.?\d*|\.\d+))\s*([kKmMbBgGtTpP]?)$")
        power = parts[1].str.lower().map({**COUNT_SUFFIXES, "": 0})
        num = num.astype(float)
        num[text] = pd.to_numeric(parts[0] + "e" + power.astype("Int64").astype(str), errors="coerce")
    return num


@dataclass(frozen=True)
class Runs:
    """Training runs: one row per run (or per checkpoint with ``all_steps``).

    Attributes
    ----------
    frame : DataFrame with the role columns ``run_id, params, tokens, loss, flops`` first,
        then the user's other columns.
    source : where the table came from (a path or ``"<frame>"``).
    sha256 : hash of the source bytes (files) or of the selected role columns (frames).
    selection : how rows were chosen (column mapping, ``where``, ``all_steps``).
    """

    frame: pd.DataFrame
    source: str = "<frame>"
    sha256: str = ""
    selection: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def num_runs(self) -> int:
        return int(self.frame["run_id"].nunique())

    def column(self, role: str) -> np.ndarray:
        if role not in self.frame:
            raise InputError(f"the runs have no {role!r} values; map a column with --{role.replace('_', '-')}-col NAME")
        return self.frame[role].to_numpy(dtype=float)

    def inputs(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {n: self.column(n) for n in names}

    def select(self, mask) -> Runs:
        mask = np.asarray(mask, bool)
        return Runs(self.frame.loc[mask].reset_index(drop=True), self.source, self.sha256, dict(self.selection))

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        params_col: str = "params",
        tokens_col: str = "tokens",
        loss_col: str = "loss",
        flops_col: str | None = None,
        unique_tokens_col: str = "unique_tokens",
        run_id_col: str = "run_id",
        where: str | None = None,
        all_steps: bool = False,
        require: tuple[str, ...] = ("params", "tokens", "loss"),
        source: str = "<frame>",
        sha256: str | None = None,
    ) -> Runs:
        """Validate a DataFrame of runs.

        Column arguments take a column name or, when no column has that name, a pandas
        expression over the columns (e.g. ``tokens_col="token_multiplier * params"``).

        Examples
        --------
        >>> df = pd.DataFrame({"N": [1e8, 4e8, 1e9], "D": [2e9, 8e9, 2e10], "loss": [3.5, 3.1, 2.9]})
        >>> runs = Runs.from_frame(df, params_col="N", tokens_col="D")
        >>> len(runs), float(runs.column("flops")[0])
        (3, 1.2e+18)
        """
        df = frame.reset_index(drop=True)
        name = source
        file_rows = np.arange(1, len(df) + 1)  # each row's number in the table, for errors after --where
        if where:
            df = select_rows(df, where, source=name)
            file_rows = df.index.to_numpy() + 1
            df = df.reset_index(drop=True)

        mapping = {"params": params_col, "tokens": tokens_col, "loss": loss_col, "unique_tokens": unique_tokens_col}
        if flops_col is not None:
            mapping["flops"] = flops_col
        elif "flops" in df.columns:
            mapping["flops"] = "flops"
        out = {}
        for role, col in mapping.items():
            explicit = role in require or (role == "flops" and flops_col is not None)
            if role == "unique_tokens" and not explicit and col not in df.columns:
                continue
            series = resolve_column(df, col, role, name, required=explicit)
            if series is not None:
                out[role] = pd.to_numeric(series, errors="coerce") if role == "loss" else counts(series)
        if "flops" not in out and "params" in out and "tokens" in out:
            out["flops"] = FLOPS_PER_PARAM_TOKEN * out["params"] * out["tokens"]
        for role in require:
            if role not in out:
                raise InputError(f"{name} has no {role!r} column; map one with --{role.replace('_', '-')}-col NAME; columns are {_cols(df)}")

        has_ids = run_id_col in df.columns
        if not has_ids:
            warn_unnamed_runs(df, run_id_col, name)
        run_id = df[run_id_col].astype(str) if has_ids else row_labels(df)
        roles = pd.DataFrame({"run_id": run_id, **out})
        _check_values(roles, df, name, file_rows, mapping)
        if "loss" in roles and len(roles) and roles["loss"].max() > MAX_CROSS_ENTROPY_BITS:
            import warnings

            from scalelab.errors import ScalelabWarning

            warnings.warn(f"{name}: the largest {loss_col!r} is {roles['loss'].max():.4g}, more than guessing uniformly "
                          f"among a million tokens costs ({MAX_CROSS_ENTROPY_BITS} bits): the laws model a cross-entropy; "
                          f"if this is a perplexity, fit its logarithm (--loss-col \"log({loss_col})\")",
                          ScalelabWarning, stacklevel=2)
        if has_ids and "params" in roles:
            _check_one_size_per_run(roles, name, file_rows)

        extra = df.drop(columns=[c for c in df.columns if c in roles.columns or c == run_id_col])
        table = pd.concat([roles, extra], axis=1)
        if not all_steps and has_ids and "tokens" in table:
            # each run's final row: largest tokens (ties: the last such row in file order)
            last = table.groupby("run_id", sort=False)["tokens"].transform("max") == table["tokens"]
            table = table.loc[last]
            table = table.loc[~table.duplicated("run_id", keep="last")]
        _check_duplicates(table, name, all_steps, file_rows[table.index.to_numpy()])
        table = table.reset_index(drop=True)
        if sha256 is None:
            sha256 = hashlib.sha256(roles.to_csv(index=False).encode()).hexdigest()
        selection = {
            "params_col": params_col,
            "tokens_col": tokens_col,
            "loss_col": loss_col,
            "unique_tokens_col": unique_tokens_col if "unique_tokens" in out else None,
            "flops_col": flops_col if flops_col is not None else ("flops" if "flops" in df.columns else "6*params*tokens"),
            "run_id_col": run_id_col if has_ids else None,
            "where": where,
            "all_steps": all_steps,
        }
        return cls(table, source, sha256, selection)


RUN_NAME_COLUMNS = ("run", "run_name", "runid", "run id", "name", "model", "model_name", "experiment", "id")


def warn_unnamed_runs(df: pd.DataFrame, run_id_col: str, name: str) -> None:
    """Without its run-id column every row is taken as a run of its own. When a column whose
    name says it names runs repeats its values, the rows are likely checkpoints of fewer runs:
    say so, and which option would group them."""
    import warnings

    from scalelab.errors import ScalelabWarning

    for col in df.columns:
        if str(col).strip().lower() not in RUN_NAME_COLUMNS:
            continue
        k = int(df[col].nunique())
        if 1 < k < len(df):
            warnings.warn(f"{name} has no {run_id_col!r} column, so each of its {len(df)} rows is taken as a run of its "
                          f"own; {col!r} names {k} runs: if the rows are checkpoints of those, give --run-id-col {col}",
                          ScalelabWarning, stacklevel=3)
            return


def row_labels(df: pd.DataFrame) -> pd.Series:
    """Names for the rows of a table without a run-id column, each row a run: a column whose
    name says it names runs and whose values differ on every row (``name``, ``model``, ...),
    else ``row1``, ``row2``, ..."""
    for col in df.columns:
        if str(col).strip().lower() in RUN_NAME_COLUMNS and df[col].notna().all() and df[col].is_unique:
            return df[col].astype(str).reset_index(drop=True)
    return pd.Series([f"row{i + 1}" for i in range(len(df))])


def resolve_column(df: pd.DataFrame, col: str, role: str, name: str, required: bool) -> pd.Series | None:
    """The column, or the value of an expression; None when an optional role is absent."""
    if col in df.columns:
        return df[col]
    if any(ch in col for ch in "*/+-() "):
        try:
            value = df.eval(col)
        except Exception as exc:
            raise InputError(f"--{role.replace('_', '-')}-col {col!r} is neither a column nor a valid expression: {_one_line(exc)}") from None
        if isinstance(value, pd.Series):
            return value
    if not required:
        return None
    raise InputError(
        f"{name} has no column {col!r} for {role}{suggest(col, map(str, df.columns))}; "
        f"map it with --{role.replace('_', '-')}-col NAME; columns are {_cols(df)}"
    )


def _check_values(roles: pd.DataFrame, raw: pd.DataFrame, name: str, file_rows: np.ndarray, mapping: dict) -> None:
    for role in [c for c in ROLES if c in roles]:
        values = roles[role].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            col = mapping.get(role, role)
            if col in raw.columns and pd.api.types.is_numeric_dtype(raw[col]):  # a query that keeps the finite rows
                quoted = col if str(col).isidentifier() else f"`{col}`"
                drop = f'(--where "{quoted} < 1e300" keeps the finite ones)'
            else:
                drop = "(e.g. --where)"
            raise InputError(
                f"{name}: {role} is missing, NaN, infinite or not a number in {_rows(roles, bad, file_rows)}; "
                f"fix or drop those rows {drop}"
            )
        bad = values <= 0
        if bad.any():
            raise InputError(f"{name}: {role} must be > 0 but is <= 0 in {_rows(roles, bad, file_rows)}; fix or drop those rows")
    if "unique_tokens" in roles and "tokens" in roles:
        bad = (roles["unique_tokens"] > roles["tokens"]).to_numpy()
        if bad.any():
            raise InputError(f"{name}: unique_tokens exceeds tokens in {_rows(roles, bad, file_rows)}; a run sees at most "
                             "as many unique tokens as it trains on (give the unique tokens it saw)")


def _check_one_size_per_run(roles: pd.DataFrame, name: str, file_rows: np.ndarray) -> None:
    """Rows of one run id are one run's curve (its steps); with different parameter counts
    they are two runs sharing an id, which would be merged into one without a word."""
    sizes = roles.groupby("run_id", sort=False)["params"].transform("nunique")
    bad = (sizes > 1).to_numpy()
    if bad.any():
        raise InputError(f"{name}: rows with one run_id have different parameter counts (two runs sharing an id?): "
                         f"{_rows(roles, bad, file_rows)}; give each run its own run_id")


def _check_duplicates(table: pd.DataFrame, name: str, all_steps: bool, file_rows: np.ndarray) -> None:
    keys = ["run_id", "tokens"] if all_steps else ["run_id"]
    dup = table.duplicated(keys, keep=False).to_numpy()
    if dup.any():
        what = "run_id and tokens" if all_steps else "run_id"
        raise InputError(f"{name}: rows repeat the same {what}: {_rows(table, dup, file_rows)}; remove the duplicates")


def _rows(table: pd.DataFrame, mask: np.ndarray, file_rows: np.ndarray, limit: int = 5) -> str:
    """The rows of ``mask`` by their number in the table as read (``file_rows``, 1-based:
    a selection may have dropped some) and run id."""
    idx = np.flatnonzero(mask)
    shown = ", ".join(f"row {int(file_rows[i])} (run_id={table['run_id'].iloc[i]})" for i in idx[:limit])
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return f"{idx.size} row{'s' if idx.size != 1 else ''}: {shown}{more}"


def _query_hint(df: pd.DataFrame, expr: str) -> str:
    """What a query that pandas refused most likely lacks: backticks around a column name
    that is no Python name (``train/loss``, ``model size``), or quotes around a text value
    (``name == gpt-125m``).

    >>> df = pd.DataFrame({"train/loss": [2.0], "name": ["a"]})
    >>> _query_hint(df, "train/loss < 3")
    'a column name that is no Python name goes in backticks: `train/loss`; '
    >>> _query_hint(df, "name == gpt-125m")
    "a text value goes in quotes: name == 'gpt-125m'; "
    """
    import re

    odd = [str(c) for c in df.columns if not str(c).isidentifier() and str(c) in expr and f"`{c}`" not in expr]
    if odd:
        return f"a column name that is no Python name goes in backticks: {', '.join(f'`{c}`' for c in odd[:3])}; "
    m = re.search(r"(\b[A-Za-z_][\w.]*)\s*(==|!=)\s*([A-Za-z_][\w.\-]*)(?![\w.\-'\"(])", expr)
    if m and m.group(1) in df.columns and m.group(3) not in df.columns and m.group(3) not in ("True", "False", "None"):
        return f"a text value goes in quotes: {m.group(1)} {m.group(2)} '{m.group(3)}'; "
    return ""


def row_condition(df: pd.DataFrame, expr: str, *, option: str = "--where", source: str | None = None,
                  example: str = "flops < 1e20", columns: str | None = None, error: type = InputError) -> np.ndarray:
    """The rows of ``df`` for which the pandas expression ``expr`` holds, as a boolean mask.

    An expression pandas cannot evaluate, or one that is not a true/false per row, is
    refused with ``error`` in one line naming ``option``, the columns (``columns`` replaces
    the list) and an ``example``.

    >>> df = pd.DataFrame({"N": [1e8, 4e8], "family": ["a", "b"]})
    >>> row_condition(df, "family == 'b' and N > 1e8").tolist()
    [False, True]
    """
    try:
        mask = df.eval(expr, engine="python")
    except Exception as exc:  # pandas raises many types for a bad expression
        on = f" on {source}" if source else ""
        raise error(f"{option} {expr!r} cannot be evaluated{on}: {_one_line(exc)}; "
                    f"{_query_hint(df, expr)}columns are {columns or _cols(df)}") from None
    if not (isinstance(mask, pd.Series) and mask.dtype == bool):
        raise error(f"{option} {expr!r} must be a condition (true/false per row), e.g. \"{example}\"")
    return mask.to_numpy()


def select_rows(df: pd.DataFrame, expr: str | None, *, option: str = "--where", source: str = "the table",
                noun: str = "rows", example: str = "flops < 1e20", columns: str | None = None) -> pd.DataFrame:
    """The rows of ``df`` matching ``expr`` (:func:`row_condition`; None keeps them all).
    A condition that matches nothing is refused, with the values the text columns it names
    take (a misspelt category is the usual cause)."""
    if not expr:
        return df
    keep = row_condition(df, expr, option=option, source=source, example=example, columns=columns)
    if not keep.any():
        named = [c for c in df.columns if isinstance(c, str) and c in expr
                 and (df[c].dtype == object or pd.api.types.is_string_dtype(df[c]))]

        def some(c):
            v = sorted(map(str, df[c].dropna().unique()))
            return ", ".join(map(repr, v[:8])) + (", ..." if len(v) > 8 else "")

        values = "; ".join(f"{c} takes {some(c)}" for c in named)
        raise InputError(f"{option} {expr!r} selects no {noun} of {source}" + (f" ({values})" if values else "")
                         + "; loosen the condition")
    return df.loc[keep]


def _cols(df: pd.DataFrame, limit: int = 12) -> str:
    cols = [str(c) for c in df.columns]
    return ", ".join(cols[:limit]) + (f", ... ({len(cols)} in all)" if len(cols) > limit else "")


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
