import numpy as np
import pandas as pd
import pytest

from scalelab.data import bundled_path
from scalelab.errors import InputError
from scalelab.runs import Runs, read_runs

CURVES = pd.DataFrame({
    "run_id": ["a", "a", "a", "b", "b"],
    "N": [1e8, 1e8, 1e8, 4e8, 4e8],
    "D": [1e9, 2e9, 4e9, 2e9, 8e9],
    "val_loss": [3.9, 3.6, 3.4, 3.5, 3.1],
    "family": ["x", "x", "x", "y", "y"],
})
MAP = dict(params_col="N", tokens_col="D", loss_col="val_loss")


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "parquet"])
def test_every_format_reads_the_same_runs(tmp_path, ext):
    path = tmp_path / f"runs.{ext}"
    if ext == "csv":
        CURVES.to_csv(path, index=False)
    elif ext == "tsv":
        CURVES.to_csv(path, index=False, sep="\t")
    elif ext == "jsonl":
        CURVES.to_json(path, orient="records", lines=True)
    else:
        CURVES.to_parquet(path)
    runs = read_runs(path, **MAP)
    assert list(runs.frame["run_id"]) == ["a", "b"]
    np.testing.assert_allclose(runs.column("loss"), [3.4, 3.1])
    np.testing.assert_allclose(runs.column("flops"), [6 * 1e8 * 4e9, 6 * 4e8 * 8e9])
    assert len(runs.sha256) == 64


def test_final_row_is_the_largest_tokens_not_the_last_line():
    shuffled = CURVES.iloc[[2, 0, 1, 4, 3]]
    runs = Runs.from_frame(shuffled, **MAP)
    assert runs.column("tokens").tolist() == [4e9, 8e9]


def test_all_steps_keeps_every_row():
    runs = Runs.from_frame(CURVES, all_steps=True, **MAP)
    assert len(runs) == 5 and runs.num_runs == 2


def test_where_selects_rows():
    runs = Runs.from_frame(CURVES, where="family == 'y'", **MAP)
    assert runs.frame["run_id"].tolist() == ["b"]
    assert runs.frame["family"].tolist() == ["y"]  # other columns are kept


def test_column_expressions():
    df = pd.DataFrame({"params": [1e8, 2e8], "mult": [20, 40], "loss": [3.5, 3.2]})
    runs = Runs.from_frame(df, tokens_col="mult * params")
    np.testing.assert_allclose(runs.column("tokens"), [2e9, 8e9])


def test_flops_column_is_used_when_present():
    df = CURVES.assign(flops=[1.0, 2.0, 3.0, 4.0, 5.0])
    runs = Runs.from_frame(df, **MAP)
    assert runs.column("flops").tolist() == [3.0, 5.0]
    assert runs.selection["flops_col"] == "flops"


def test_table_without_run_ids_has_one_run_per_row():
    runs = Runs.from_frame(CURVES.drop(columns="run_id"), **MAP)
    assert len(runs) == 5 and runs.frame["run_id"].tolist()[0] == "row1"


def test_a_run_column_under_another_name_is_pointed_out():
    """A curve table whose run column is called 'run' reads as one run per row, as asked;
    the warning names the column and the option that would group the checkpoints."""
    from scalelab.errors import ScalelabWarning

    curves = CURVES.rename(columns={"run_id": "run"})
    with pytest.warns(ScalelabWarning, match=r"'run' names 2 runs: if the rows are checkpoints of those, give --run-id-col run"):
        assert len(Runs.from_frame(curves, **MAP)) == 5
    assert len(Runs.from_frame(curves, **MAP, run_id_col="run")) == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one row per name: nothing to point out
        named = Runs.from_frame(curves.assign(run=[f"r{i}" for i in range(5)]), **MAP)
    assert named.frame["run_id"].tolist() == [f"r{i}" for i in range(5)]  # and the names label the runs
    assert len(named) == 5 and named.selection["run_id_col"] is None


def test_counts_written_as_people_write_them(tmp_path):
    """A table that says 70M and 1.4B reads as one that says 7e7 and 1.4e9; what is neither
    is refused with its row, as before."""
    human = tmp_path / "human.csv"
    human.write_text("run_id,params,tokens,loss\na,70M,1.4B,3.9\nb,160M,\"3,200,000,000\",3.5\nc,4.1e8,8.2b,3.1\n")
    runs = read_runs(human)
    assert runs.column("params").tolist() == [7e7, 1.6e8, 4.1e8] and runs.column("tokens").tolist() == [1.4e9, 3.2e9, 8.2e9]
    human.write_text("run_id,params,tokens,loss\na,70M,1.4B,3.9\nb,160 params,3.2B,3.5\n")
    with pytest.raises(InputError, match=r"params is missing, NaN, infinite or not a number in 1 row: row 2"):
        read_runs(human)
    human.write_text("run_id,params,tokens,loss\na,70M,1.4B,3.9M\n")  # a loss is not a count
    with pytest.raises(InputError, match=r"loss is missing, NaN, infinite or not a number"):
        read_runs(human)


def test_a_perplexity_given_as_the_loss_is_pointed_out(tmp_path):
    """Perplexities (here 12-290) fitted as if they were cross-entropies give a law in
    nonsense units; no per-token cross-entropy exceeds a uniform guess among a million
    tokens (20 bits), so a larger value is pointed out with the expression that fixes it."""
    import math

    from scalelab.errors import ScalelabWarning

    rows = [(f"r{n:g}-{m}", n, n * m, 1.7 + 400 / n ** 0.34 + 400 / (n * m) ** 0.28)
            for n in (1e7, 3e7, 1e8) for m in (10, 20, 40)]
    table = tmp_path / "ppl.csv"
    table.write_text("run_id,params,tokens,ppl\n" + "".join(f"{r},{n},{d},{math.exp(x)}\n" for r, n, d, x in rows))
    with pytest.warns(ScalelabWarning, match=r"the largest 'ppl' is [\d.]+, more than .* fit its logarithm "
                                             r"\(--loss-col \"log\(ppl\)\"\)"):
        read_runs(table, loss_col="ppl")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logs = read_runs(table, loss_col="log(ppl)")
    assert logs.column("loss").tolist() == pytest.approx([x for *_, x in rows])


def test_a_spreadsheet_export_with_semicolons_and_decimal_commas(tmp_path):
    """Spreadsheets where ',' is the decimal mark export CSV with ';' between fields (and a
    byte-order mark, and CRLF); the same runs as the plain CSV."""
    plain = tmp_path / "plain.csv"
    plain.write_text("run_id,params,tokens,loss\na,1e8,2e9,3.5\nb,2e8,4e9,3.25\n")
    euro = tmp_path / "euro.csv"
    euro.write_bytes("\ufeffrun_id;params;tokens;loss\r\na;1e8;2e9;3,5\r\nb;2e8;4e9;3,25\r\n".encode())
    points = tmp_path / "points.csv"
    points.write_text("run_id;params;tokens;loss\na;1e8;2e9;3.5\nb;2e8;4e9;3.25\n")
    want = read_runs(plain).frame[["run_id", "params", "tokens", "loss"]]
    for other in (euro, points):
        pd.testing.assert_frame_equal(read_runs(other).frame[["run_id", "params", "tokens", "loss"]], want)


def test_bundled_chinchilla_table():
    runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
    assert len(runs) == 240


# ----------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"runs file '.*nope.csv' does not exist"):
        read_runs(tmp_path / "nope.csv")


def test_directory(tmp_path):
    with pytest.raises(InputError, match=r"is a directory"):
        read_runs(tmp_path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "runs.xlsx"
    path.write_text("x")
    with pytest.raises(InputError, match=r"cannot tell the format of .* \(extension '.xlsx'\); .* or pass --format"):
        read_runs(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "runs.parquet"
    path.write_text("not parquet")
    with pytest.raises(InputError, match=r"cannot read .* as parquet"):
        read_runs(path)


def test_empty_file(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss\n")
    with pytest.raises(InputError, match=r"holds no rows"):
        read_runs(path)


def test_missing_column_suggests_and_lists_columns():
    with pytest.raises(InputError, match=r"has no column 'val_los' for loss \(did you mean 'val_loss'\?\); map it with --loss-col NAME; columns are run_id, N, D, val_loss, family"):
        Runs.from_frame(CURVES, params_col="N", tokens_col="D", loss_col="val_los")


def test_nan_rows_are_named():
    df = CURVES.copy()
    df.loc[1, "val_loss"] = np.nan
    df.loc[3, "val_loss"] = np.inf
    with pytest.raises(InputError, match=r"loss is missing, NaN, infinite or not a number in 2 rows: row 2 \(run_id=a\), row 4 \(run_id=b\)"):
        Runs.from_frame(df, **MAP)
    # the rows keep their numbers in the table after a selection, and the message gives one that keeps the finite rows
    with pytest.raises(InputError, match=r"in 1 row: row 4 \(run_id=b\); fix or drop those rows "
                                         r"\(--where \"val_loss < 1e300\" keeps the finite ones\)"):
        Runs.from_frame(df, where="val_loss == val_loss", **MAP)
    assert len(Runs.from_frame(df, where="val_loss < 1e300", all_steps=True, **MAP)) == len(df) - 2


def test_text_in_a_number_column_is_named():
    df = CURVES.astype({"N": object})
    df.loc[0, "N"] = "big"
    with pytest.raises(InputError, match=r"params is missing, NaN, infinite or not a number in 1 row: row 1 \(run_id=a\)"):
        Runs.from_frame(df, **MAP)


def test_non_positive_rows_are_named():
    df = CURVES.copy()
    df.loc[4, "D"] = 0
    with pytest.raises(InputError, match=r"tokens must be > 0 but is <= 0 in 1 row: row 5 \(run_id=b\)"):
        Runs.from_frame(df, **MAP)


def test_duplicate_steps_are_named():
    df = pd.concat([CURVES, CURVES.iloc[[1]]])
    with pytest.raises(InputError, match=r"rows repeat the same run_id and tokens: 2 rows: row 2 \(run_id=a\)"):
        Runs.from_frame(df, all_steps=True, **MAP)


def test_two_sizes_under_one_run_id_are_refused_not_merged():
    df = CURVES.copy()
    df.loc[2, "N"] = 2e8  # run a's last row names another model
    with pytest.raises(InputError, match=r"rows with one run_id have different parameter counts .* 3 rows: row 1 \(run_id=a\)"):
        Runs.from_frame(df, **MAP)
    assert Runs.from_frame(CURVES, **MAP).num_runs == 2  # a run's curve: one size, several rows


def test_where_syntax_error():
    with pytest.raises(InputError, match=r"--where 'family ==' cannot be evaluated on <frame>: .*; columns are run_id, N"):
        Runs.from_frame(CURVES, where="family ==", **MAP)


def test_where_must_be_a_condition():
    with pytest.raises(InputError, match=r"--where 'N \* 2' must be a condition"):
        Runs.from_frame(CURVES, where="N * 2", **MAP)


def test_where_selecting_nothing():
    with pytest.raises(InputError, match=r"--where \"family == 'z'\" selects no rows of <frame> \(family takes 'x', 'y'\); loosen the condition"):
        Runs.from_frame(CURVES, where="family == 'z'", **MAP)


def test_bad_column_expression():
    with pytest.raises(InputError, match=r"--tokens-col 'mult \* ' is neither a column nor a valid expression"):
        Runs.from_frame(CURVES, params_col="N", tokens_col="mult * ", loss_col="val_loss")


def test_unknown_bundled_table():
    with pytest.raises(InputError, match=r"no bundled table 'chinchila' \(did you mean 'chinchilla'\?\)"):
        bundled_path("chinchila")


def test_json_documents_as_tables(tmp_path):
    """A .json file that is one document: an array of rows, columns of equal length, or
    evalplus's eval_results.json (a row per sample, with its task_id); another object is
    refused by its keys."""
    import json

    from scalelab.runs.readers import read_table

    rows = [{"params": 1e8 * i, "tokens": 2e9 * i, "loss": 3 - i / 10} for i in range(1, 4)]
    (tmp_path / "rows.json").write_text(json.dumps(rows, indent=2))
    assert read_table(tmp_path / "rows.json")["loss"].tolist() == [2.9, 2.8, 2.7]
    (tmp_path / "cols.json").write_text(json.dumps({k: [r[k] for r in rows] for k in rows[0]}, indent=1))
    assert read_table(tmp_path / "cols.json")["params"].tolist() == [1e8, 2e8, 3e8]
    evalplus = {"date": "2024-01-01", "eval": {f"HumanEval/{t}": [
        {"task_id": f"HumanEval/{t}", "base_status": "pass", "plus_status": "fail" if s else "pass"} for s in range(3)]
        for t in range(2)}}
    (tmp_path / "eval_results.json").write_text(json.dumps(evalplus, indent=2))
    df = read_table(tmp_path / "eval_results.json")
    assert len(df) == 6 and df["task_id"].tolist()[:3] == ["HumanEval/0"] * 3 and df["plus_status"].tolist()[:2] == ["pass", "fail"]
    (tmp_path / "other.json").write_text(json.dumps({"model": "x", "results": {"a": 1}}, indent=2))
    with pytest.raises(InputError, match=r"one JSON object \(keys: model, results\), not a table"):
        read_table(tmp_path / "other.json")


def test_a_where_pandas_refuses_says_what_it_lacks(tmp_path):
    from scalelab.runs.table import row_condition

    df = pd.DataFrame({"train/loss": [2.0, 3.0], "model size": [1e8, 2e8], "name": ["a", "gpt-125m"]})
    with pytest.raises(InputError, match=r"goes in backticks: `train/loss`; columns are"):
        row_condition(df, "train/loss < 3")
    with pytest.raises(InputError, match=r"goes in backticks: `model size`"):
        row_condition(df, "model size > 1e8")
    with pytest.raises(InputError, match=r"a text value goes in quotes: name == 'gpt-125m'"):
        row_condition(df, "name == gpt-125m")
    assert row_condition(df, "`train/loss` < 3 and name == 'a'").tolist() == [True, False]
