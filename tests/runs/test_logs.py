import json
import time

import numpy as np
import pandas as pd
import pytest

from scalelab.errors import InputError
from scalelab.runs.logs import NONFINITE, read_log


def write(path, text):
    path.write_text(text)
    return path


def test_jsonl_counts_everything_it_does_not_take(tmp_path):
    p = write(tmp_path / "t.jsonl", '{"step": 1, "loss": 4.0}\nWARNING something\n{"step": 3, "loss": 3.0}\n'
                                    '{"step": 2, "loss": 3.5}\n{"step": 3, "loss": 2.9}\n{"step": 4, "loss": NaN}\n{"step": 5, "lo')
    log = read_log(p)[0]
    r = log.report
    assert log.frame["step"].tolist() == [1, 2, 3, 4]
    assert log.frame["loss"].tolist()[:3] == [4.0, 3.5, 2.9]  # step 3 logged again after going back to 2: the last kept
    assert (r.junk, r.restarts, r.superseded, r.nonfinite, r.partial_last_line) == (1, 1, 1, 1, True)
    assert "1 junk line skipped" in r.summary() and "1 restart from an earlier step" in r.summary()


def test_a_restarted_run_keeps_what_the_restart_logged(tmp_path):
    """A run resumed from its checkpoint at step 800 after reaching 1,000 (a spike at 900),
    and a run restarted from scratch in the same file: the steps the restart abandoned are
    dropped and counted, not kept beside the new ones; the stretches stay for a replay."""
    lines = [{"step": s, "loss": 5.0 / s ** 0.3 * (3 if s == 900 else 1)} for s in range(1, 1001)]
    lines += [{"step": s, "loss": 4.9 / s ** 0.3} for s in range(800, 851)]
    log = read_log(write(tmp_path / "resume.jsonl", "".join(json.dumps(r) + "\n" for r in lines)))[0]
    assert log.frame["step"].tolist() == list(range(1, 851))  # the spike at 900 was abandoned
    assert log.frame["loss"].iloc[-1] == pytest.approx(4.9 / 850 ** 0.3)  # the resumed value, not the first run's
    assert (log.report.restarts, log.report.superseded, log.report.duplicates) == (1, 201, 0)
    assert [len(t) for t in log.stretches] == [1000, 51] and "201 rows of abandoned stretches" in log.report.summary()
    rows = "step,loss\n" + "".join(f"{s},{3 + 1 / s}\n" for s in range(1, 301)) + "".join(f"{s},{2 + 1 / s}\n" for s in range(1, 101))
    log = read_log(write(tmp_path / "scratch.csv", rows))[0]
    assert log.frame["step"].tolist() == list(range(1, 101)) and log.frame["loss"].iloc[0] == 3.0
    assert log.report.superseded == 300


def test_rows_in_another_order_are_sorted_not_dropped(tmp_path):
    """Steps that go back on most rows are not restarts but another order (newest first)."""
    rows = "step,loss\n" + "".join(f"{s},{2 + 1 / s}\n" for s in range(200, 0, -1))
    log = read_log(write(tmp_path / "newest_first.csv", rows))[0]
    assert log.frame["step"].tolist() == list(range(1, 201)) and log.report.superseded == 0
    assert log.report.out_of_order == 199 and log.stretches == []


def test_jsonl_nested_and_text_fields(tmp_path):
    p = write(tmp_path / "t.jsonl", '{"step": 1, "train": {"loss": 4.0}, "event": "start"}\n{"step": 2, "train": {"loss": 3.0}, "event": "x"}\n')
    log = read_log(p)[0]
    assert log.metric_names == ["train/loss"] and log.loss_name() == "train/loss"


def test_csv_with_junk_rows_and_mapping(tmp_path):
    p = write(tmp_path / "t.csv", "iter,val_loss,consumed_tokens\n1,4.0,100\n2,3.5,200\nthis,row,is,broken\n3,3.1,300\n")
    log = read_log(p, step_col="iter", tokens_col="consumed_tokens")[0]
    assert log.frame["tokens"].tolist() == [100, 200, 300] and log.report.junk == 1
    assert log.loss_name() == "val_loss"


def test_megatron_text_log(tmp_path):
    p = write(tmp_path / "train.log", "\n".join([
        "[INFO] building model",
        " iteration      100/  200000 | consumed samples:        12800 | elapsed time per iteration (ms): 4123.4 | "
        "learning rate: 1.200E-05 | global batch size:   128 | lm loss: 1.041357E+01 | loss scale: 4096.0 | "
        "grad norm: 14.512 | number of skipped iterations:   0 | TFLOPs: 148.57 |",
        " iteration      200/  200000 | consumed samples:        25600 | lm loss: 9.1E+00 | grad norm: 2.4 | TFLOPs: 149.1 |",
    ]) + "\n")
    log = read_log(p)[0]
    assert log.frame["step"].tolist() == [100, 200]
    assert log.loss_name() == "lm_loss" and log.frame["tflops"].tolist() == [148.57, 149.1]
    assert log.report.junk == 1
    # Megatron prints a NaN loss as NAN (a .6E format) and its evaluations on lines of their own
    p = write(tmp_path / "nan.log", "\n".join([
        " iteration      100/  200000 | lm loss: 4.1E+00 | grad norm: 1.2 |",
        " validation loss at iteration 100 on validation set | lm loss value: 4.3E+00 | lm loss PPL: 7.4E+01 |",
        " iteration      200/  200000 | lm loss: NAN | grad norm: INF |",
        " test loss at iteration 200 | lm loss value: 4.2E+00 |",
    ]) + "\n")
    log = read_log(p)[0]
    assert log.frame["step"].tolist() == [100, 200] and log.loss_name() == "lm_loss"
    assert np.isfinite(log.frame["lm_loss"]).tolist() == [True, False] and log.report.nonfinite == 2
    assert log.frame["val_lm_loss"].tolist()[0] == 4.3 and log.frame["test_lm_loss"].tolist()[1] == 4.2
    assert log.report.junk == 0


def test_megatron_tokens_from_consumed_samples_and_the_printed_sequence_length(tmp_path):
    """Megatron counts sequences ("consumed samples", a batch ramp-up included) and prints
    its arguments first; their seq_length turns the samples into tokens, read whole or live."""
    from scalelab.watch.stream import LineParser

    args = ["------------------------ arguments ------------------------",
            "  encoder_seq_length .............................. 4096",
            "  seq_length ...................................... 4096",
            "  train_iters ..................................... 200000",
            "-------------------- end of arguments ---------------------"]
    iters = [f" iteration {s:8d}/  200000 | consumed samples: {c:12d} | global batch size: {b:5d} | lm loss: 4.1E+00 |"
             for s, c, b in ((10, 320, 32), (20, 960, 64), (30, 2240, 128))]  # the batch ramping up
    p = write(tmp_path / "train.log", "\n".join(args + iters) + "\n")
    log = read_log(p)[0]
    assert log.frame["tokens"].tolist() == [320 * 4096, 960 * 4096, 2240 * 4096]
    assert "tokens = consumed samples x seq_length 4,096" in log.report.summary()
    parser = LineParser("text", str(p))
    rows = [parser.parse([ln.encode()]) for ln in args + iters]
    assert [r["tokens"].iloc[0] for r in rows if r is not None] == [320 * 4096, 960 * 4096, 2240 * 4096]
    # without the arguments the samples stay samples: no tokens are made up, and the watch says what would count them
    p = write(tmp_path / "bare.log", "\n".join(iters) + "\n")
    assert read_log(p)[0].frame["tokens"].isna().all()
    from scalelab.fitting import Fit
    from scalelab.watch.session import WatchSettings, watch_once
    from tests.conftest import synthetic_runs

    fit = Fit(num_bootstrap=0).fit(synthetic_runs("chinchilla"))
    status = watch_once(str(p), WatchSettings(fit=fit, params=1e9, final_tokens=2e10))[0].monitor.status()
    assert "counts consumed samples (sequences), not tokens; keep the arguments Megatron prints first" in status.unjudged


def test_nanogpt_tokens_from_its_tokens_per_iteration_and_the_flag_overrides_printed_counts(tmp_path):
    from scalelab.watch.session import WatchSettings, watch_once

    lines = ["tokens per iteration will be: 491,520", "step 0: train loss 5.5059, val loss 5.5559"]
    lines += [f"iter {i}: loss {5 - i / 1000:.4f}, time 350.00ms, mfu 34.00%" for i in range(0, 300, 10)]
    p = write(tmp_path / "nano.log", "\n".join(lines) + "\n")
    log = read_log(p)[0]
    assert log.frame["tokens"].iloc[-1] == 290 * 491520 and "tokens = step x 491,520" in log.report.summary()
    # --tokens-per-step replaces a count the reader worked out (not one the log wrote), and says so
    out = watch_once(str(p), WatchSettings(), roles={"tokens_per_step": 1000})[0]
    assert out.monitor.tokens[-1] == 290 * 1000
    assert out.report["notes"] == ["tokens = step x 1,000 (--tokens-per-step)"]


def test_olmo_blocks_of_one_metric_a_line(tmp_path):
    """OLMo and OLMo-core print a step as a '[step=N/M]' line and a 'name=value' line per
    metric (values over 1,000 with separators, names with spaces in OLMo-core), evaluations
    as a block under their label; other ranks print the header alone."""
    from scalelab.watch.monitor import GRAD_NORM_NAMES
    from scalelab.watch.stream import LineParser

    lines = ["2024-02-01 11:59:00.000\tnode0\tolmo.train:400\tINFO\tPre-train system metrics",
             "    System/Peak GPU Memory (MB)=40,123"]
    for i, s in enumerate((10, 20, 30)):
        lines += [f"2024-02-01 12:00:{2 * i:02d}.500\tnode0\tolmo.train:816\tINFO\t[step={s}/739328,epoch=0]",
                  f"    train/CE loss={4 - i / 10:.3f}" if i != 2 else "    train/CE loss=nan",
                  f"    throughput/total tokens={s * 4194304:,d}",
                  "    optim/total grad norm=0.3064",
                  f"2024-02-01 12:00:{2 * i:02d}.600\tnode1\tolmo.train:816\tINFO\t[step={s}/739328,epoch=0]"]
    lines += ["2024-02-01 12:00:05.000\tnode0\tolmo.train:900\tINFO\tc4_en-validation",
              "    eval/c4_en-validation/CE loss=3.9000"]
    p = write(tmp_path / "olmo.log", "\n".join(lines) + "\n")
    log = read_log(p)[0]
    f = log.frame
    assert f["step"].tolist() == [10, 20, 30] and log.loss_name() == "train/ce_loss"
    assert f["train/ce_loss"].tolist() == [4.0, 3.9, NONFINITE] and f["tokens"].tolist() == [s * 4194304 for s in (10, 20, 30)]
    assert np.diff(f["wall_time"]).tolist() == [2.0, 2.0] and "optim/total_grad_norm" in GRAD_NORM_NAMES
    assert f["eval/c4_en-validation/ce_loss"].tolist()[-1] == 3.9  # the evaluation at the step it followed
    assert log.report.junk == 3 and log.report.duplicates == 0  # the system metrics' block and the label
    parser = LineParser("text", str(p))  # live, a poll at a time
    polled = [parser.parse([ln.encode() for ln in lines[k:k + 5]]) for k in range(0, len(lines), 5)]
    live = pd.concat([x for x in polled if x is not None])
    assert live.dropna(subset=["train/ce_loss"])["train/ce_loss"].tolist()[:2] == [4.0, 3.9]
    assert parser.report.rows == 3  # a row a step, as read whole: the evaluation at step 30 adds none


def test_composer_console_blocks(tmp_path):
    """Composer (LLM Foundry) prints '[batch=N/M]:' and a '\\t Train name: value' line per
    metric, behind a launcher's rank prefix; its time/batch and time/token count what came
    before the step; an evaluation's block follows its progress lines; a field that is not a
    number does not end the block."""
    from scalelab.watch.monitor import GRAD_NORM_NAMES, THROUGHPUT_NAMES
    from scalelab.watch.stream import LineParser

    lines = ["Config:", "max_seq_len: 2048", "enabled_algorithms:", "  gradient_clipping: true"]
    for b in range(1, 5):
        lines += [f"0: [batch={b}/4]:", f"0:\t Train time/batch: {b - 1}", f"0:\t Train time/token: {(b - 1) * 4096}",
                  "0:\t Train trainer/algorithms: ['GradientClipping']",
                  "0:\t Train loss/train/total: " + (f"{5 - b / 10:.4f}" if b != 3 else "nan"),
                  "0:\t Train throughput/tokens_per_sec: 1234.5", "0:\t Train l2_norm/grad/global: 0.75"]
        if b == 2:
            lines += ["0: [Eval batch=1/2] Eval on eval data", "0: [Eval batch=2/2] Eval on eval data:",
                      "0:\t Eval metrics/eval/LanguageCrossEntropy: 4.9000"]
    p = write(tmp_path / "composer.log", "\n".join(lines) + "\n")
    log = read_log(p)[0]
    f = log.frame
    assert f["step"].tolist() == [1, 2, 3, 4] and log.loss_name() == "loss/train/total"
    assert f["loss/train/total"].tolist() == [4.9, 4.8, NONFINITE, 4.6]
    assert f["tokens"].tolist()[1:] == [8192.0, 12288.0, 16384.0] and np.isnan(f["tokens"].iloc[0])
    assert f["metrics/eval/languagecrossentropy"].tolist()[1] == 4.9  # the evaluation at the step it followed
    assert "l2_norm/grad/global" in GRAD_NORM_NAMES and "throughput/tokens_per_sec" in THROUGHPUT_NAMES
    assert log.report.junk == 5 and log.report.rows == 4  # the config's lines and the eval's progress line
    parser = LineParser("text", str(p))  # live, a poll at a time
    polled = [parser.parse([ln.encode() for ln in lines[k:k + 7]]) for k in range(0, len(lines), 7)]
    live = pd.concat([x for x in polled if x is not None])
    assert live.dropna(subset=["loss/train/total"])["loss/train/total"].tolist() == [4.9, 4.8, NONFINITE, 4.6]
    assert parser.report.rows == 4


def test_printed_logs_nanotron_and_fairseq(tmp_path):
    """nanotron prints counts with a magnitude (1.31M, 137K); fairseq and metaseq name the step
    num_updates after the metrics, evaluations on lines of their own, and an epoch's averages
    on a summary line that is not a step."""
    from scalelab.watch.monitor import STEP_TIME_NAMES, THROUGHPUT_NAMES
    from scalelab.watch.stream import LineParser

    nano = write(tmp_path / "nanotron.log", "".join(
        f"01/01/2024 00:00:0{s} [INFO|DP=0|PP=0|TP=0|lm-node-0]: iteration: {s} / 9 | consumed_tokens: {s * 1.05:.3g}M | "
        f"time_per_iteration_ms: 1.2K | tokens_per_sec: 874K | global_batch_size: 1.05M | lm_loss: {5 - s / 10:.3g} | "
        "lr: 0.0003 | eta: 0:00:10\n" for s in range(1, 5)))
    f = read_log(nano)[0].frame
    assert f["tokens"].tolist() == [1.05e6, 2.1e6, 3.15e6, 4.2e6] and f["lm_loss"].tolist() == [4.9, 4.8, 4.7, 4.6]
    assert f["tokens_per_sec"].iloc[0] == 874e3 and f["time_per_iteration_ms"].iloc[0] == 1200
    assert "tokens_per_sec" in THROUGHPUT_NAMES and "time_per_iteration_ms" in STEP_TIME_NAMES
    lines = ["2021-01-01 00:00:00 | INFO | fairseq_cli.train | task: LanguageModelingTask"]
    lines += [f"2021-01-01 00:00:{s // 10:02d} | INFO | train_inner | epoch 001:    {s} / 1563 loss={10 - s / 100:.3f}, "
              f"ppl=512.2, wps=12345.6, ups=1.2, wpb=65536, bsz=64, num_updates={s}, lr=1e-05, gnorm=1.234, wall={s}"
              for s in (100, 200, 300)]
    lines += ["2021-01-01 00:01:00 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 9.1 | ppl 549 | "
              "wps 99.5 | wpb 2047.9 | bsz 4 | num_updates 300",
              "2021-01-01 00:01:01 | INFO | train | epoch 001 | loss 9.5 | ppl 724 | wps 12000 | num_updates 300 | wall 61"]
    fs = write(tmp_path / "fairseq.log", "\n".join(lines) + "\n")
    log = read_log(fs)[0]
    f = log.frame
    assert f["step"].tolist() == [100, 200, 300] and log.loss_name() == "loss"
    assert f["loss"].tolist() == [9.0, 8.0, 7.0] and f["valid_loss"].tolist()[-1] == 9.1 and "wps" in THROUGHPUT_NAMES
    assert np.diff(f["wall_time"]).tolist() == [10.0, 10.0]  # the summary's averages (loss 9.5) are not step 300's
    assert log.report.junk == 2 and log.report.duplicates == 0
    live = LineParser("text", str(fs)).parse([ln.encode() for ln in lines])
    assert live.dropna(subset=["loss"])["loss"].tolist() == [9.0, 8.0, 7.0]


def test_hugging_face_trainer_console(tmp_path):
    """A Trainer's stdout and stderr in one file: its log dicts carry no step, the training
    bar's count before each does (a dataset's map bar before it, an evaluation's bar between);
    a NaN loss prints as nan, a grad norm as a tensor. Its stdout alone is refused with the
    file to read instead."""
    from scalelab.watch.stream import LineParser

    bar = lambda n, m=40: f"\r{100 * n // m:3d}%|{'#' * (10 * n // m):<10}| {n}/{m} [00:01<00:02,  9.87it/s]"
    text = "Map: 100%|##########| 9000/9000 [00:01<00:00, 9000.00 examples/s]\n***** Running training *****\n"
    text += bar(0)
    for s in range(1, 41):
        text += bar(s)
        if s % 10 == 0:
            loss = "nan" if s == 30 else f"{4 - s / 20:.4f}"
            text += "\r" + " " * 40 + f"\r{{'loss': {loss}, 'grad_norm': tensor(1.5, device='cuda:0'), 'learning_rate': 5e-05, 'epoch': {s / 40}}}\n" + bar(s)
        if s == 20:
            text += "\n\r  0%|          | 0/8 [00:00<?, ?it/s]\r 50%|#####     | 4/8 [00:00<00:00]\r{'eval_loss': 3.1, 'epoch': 0.5}\n"
    p = write(tmp_path / "train.log", text + "\n{'train_runtime': 5.0, 'train_loss': 3.2, 'epoch': 1.0}\n")
    f = read_log(p)[0].frame
    assert f["step"].tolist() == [10, 20, 30, 40]
    assert f["loss"].tolist() == [3.5, 3.0, NONFINITE, 2.0] and f["grad_norm"].tolist() == [1.5] * 4
    assert f["eval_loss"].tolist()[1] == 3.1 and f["train_loss"].tolist()[-1] == 3.2
    parser = LineParser("text", str(p))  # live, a poll at a time
    lines = p.read_bytes().split(b"\n")
    live = pd.concat([x for x in (parser.parse(lines[k:k + 2]) for k in range(0, len(lines), 2)) if x is not None])
    assert live.dropna(subset=["loss"])["step"].tolist() == [10, 20, 30, 40]
    alone = write(tmp_path / "stdout.log", "{'loss': 3.5, 'learning_rate': 5e-05, 'epoch': 0.25}\n")
    with pytest.raises(InputError, match="prints its logs without their step: read the run's .*trainer_state.json"):
        read_log(alone)


def test_printed_logs_nanogpt_and_torchtitan(tmp_path):
    """What training scripts print: nanoGPT's iter lines with its eval lines at the same step,
    torchtitan's coloured lines with a timestamp, thousands separators and units."""
    nano = write(tmp_path / "nano.log", "\n".join([
        "tokens per iteration will be: 491,520",
        "step 0: train loss 10.9880, val loss 10.9902",
        "iter 0: loss 10.9853, time 12345.67ms, mfu -100.00%",
        "iter 10: loss 9.1023, time 351.20ms, mfu 35.12%",
        "step 20: train loss 8.4100, val loss 8.5200",
        "iter 20: loss 8.3311, time 350.02ms, mfu 35.20%",
        "saving checkpoint to out",
    ]) + "\n")
    log = read_log(nano)[0]
    assert log.report.format == "text" and log.frame["step"].tolist() == [0, 10, 20]
    assert log.loss_name() == "loss" and log.frame["loss"].tolist() == [10.9853, 9.1023, 8.3311]
    assert log.frame["val_loss"].dropna().tolist() == [10.9902, 8.52]
    assert log.frame["time_ms"].tolist()[1] == 351.2 and log.frame["wall_time"].isna().all()  # a duration, not a clock
    assert log.report.junk == 2 and log.report.duplicates == 0
    esc = "\x1b"
    titan = write(tmp_path / "titan.log", "".join(
        f"[rank0]:[titan] 2025-01-31 12:00:{s:02d},500 - root - INFO - {esc}[31mstep: {s:2d}  {esc}[32mloss: {9 - s / 10:7.4f}  "
        f"{esc}[33mmemory: 20.01GiB(25.33%)  {esc}[34mtps: 7,{s:03d}  {esc}[35mtflops: 58.12  mfu: 5.88%{esc}[39m\n"
        for s in (1, 2, 3)))
    log = read_log(titan)[0]
    f = log.frame
    assert f["step"].tolist() == [1, 2, 3] and f["loss"].tolist() == [8.9, 8.8, 8.7]
    assert f["tps"].tolist() == [7001, 7002, 7003] and f["memory_gib"].tolist()[0] == 20.01 and f["mfu_pct"].tolist()[0] == 5.88
    assert np.diff(f["wall_time"]).tolist() == [1.0, 1.0] and f["wall_time"].iloc[0] == 1738324801.5
    deepspeed = write(tmp_path / "ds.out", "steps: 10 loss: 4.2000 iter time (s): 1.100 samples/sec: 29.1\n"
                                           "steps: 20 loss: nan iter time (s): 1.100 samples/sec: 29.0\n")
    log = read_log(deepspeed)[0]
    assert log.frame["step"].tolist() == [10, 20] and log.frame["loss"].tolist() == [4.2, NONFINITE]
    assert log.report.nonfinite == 1
    assert log.frame["iter_time_s"].tolist() == [1.1, 1.1]  # "iter time (s): 1.100": the unit named before the colon
    # a NaN as other formats print it: NaN, NAN (a .4E or .4F format)
    shouted = write(tmp_path / "nan.out", "step 10: loss 4.2\nstep 20: loss NaN\nstep 30: loss NAN, lr 1e-4\n")
    log = read_log(shouted)[0]
    assert log.frame["loss"].tolist() == [4.2, NONFINITE, NONFINITE] and log.report.nonfinite == 2
    # build-nanogpt's "tok/sec", "dt" and "norm"; llm.c's rate printed after its value
    from scalelab.watch.monitor import GRAD_NORM_NAMES, STEP_TIME_NAMES, THROUGHPUT_NAMES

    bn = read_log(write(tmp_path / "bn.log", "step    10 | loss: 9.123456 | lr 6.0000e-05 | norm: 1.2345 | dt: 350.12ms | "
                                             "tok/sec: 1497234.56\n"))[0].frame
    assert {"tok/sec", "dt_ms", "norm"} <= set(bn.columns) and "tok/sec" in THROUGHPUT_NAMES
    assert "dt_ms" in STEP_TIME_NAMES and "norm" in GRAD_NORM_NAMES
    llmc = read_log(write(tmp_path / "llmc.log", "step    1/74 | train loss 11.010046 | norm 15.3231 | lr 8.57e-07 | "
                                                 "(2546.17 ms | 205,913 tok/s)\n"))[0].frame
    assert llmc["tokens_per_s"].tolist() == [205913.0] and llmc["train_loss"].tolist() == [11.010046]


def test_printed_log_without_steps_says_what_would_do(tmp_path):
    hf = write(tmp_path / "hf.log", "{'loss': 2.31, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.1}\n")
    with pytest.raises(InputError, match=r"no line names a step and a metric.*trainer_state\.json"):
        read_log(hf)
    with pytest.raises(InputError, match=r"not a Megatron log"):
        read_log(write(tmp_path / "nano.log", "iter 10: loss 4.2\n"), "megatron")


def test_hugging_face_trainer_state(tmp_path):
    history = [{"epoch": s / 100, "grad_norm": 1.0, "learning_rate": 5e-5, "loss": 3 - s / 100, "step": s,
                "num_input_tokens_seen": 4096 * s} for s in range(10, 101, 10)]
    history.insert(5, {"epoch": 0.5, "eval_loss": 2.6, "eval_runtime": 3.1, "step": 50})
    history.append({"epoch": 1.0, "step": 100, "total_flos": 1e15, "train_loss": 2.6, "train_runtime": 99.0})
    p = write(tmp_path / "trainer_state.json", json.dumps({"global_step": 100, "log_history": history}, indent=2))
    log = read_log(p)[0]
    assert log.frame["step"].tolist() == list(range(10, 101, 10)) and log.loss_name() == "loss"
    assert log.frame["tokens"].tolist()[0] == 40960 and log.frame["eval_loss"].dropna().tolist() == [2.6]
    assert log.report.duplicates == 0  # an evaluation row at a logged step is not a repeat
    other = write(tmp_path / "config.json", json.dumps({"lr": 1e-3}, indent=2))
    with pytest.raises(InputError, match=r"without a 'log_history' list"):
        read_log(other)
    # what the Trainer reports to TensorBoard and W&B: its keys under train/
    # (W&B's own _step counts its log calls, not the Trainer's steps)
    wandb = write(tmp_path / "wandb.jsonl", "".join(json.dumps({"_step": i, "train/global_step": s, "train/loss": 3 - s / 100,
                                                                "train/num_input_tokens_seen": 4096 * s}) + "\n"
                                                    for i, s in enumerate((10, 20))))
    f = read_log(wandb, "wandb")[0].frame
    assert f["step"].tolist() == [10, 20] and f["tokens"].tolist() == [40960, 81920]


def test_lightning_csv_logger(tmp_path):
    """Lightning's CSVLogger: a row per logged step, and validation and epoch rows at a step
    already logged, each filling its own columns and repeating the epoch."""
    rows = ["epoch,step,train_loss_step,val_loss,train_loss_epoch"]
    for s in range(49, 2000, 50):
        rows.append(f"{s // 1000},{s},{3 - s / 1000:.3f},,")
        if (s + 1) % 1000 == 0:
            rows += [f"{s // 1000},{s},,{3.1 - s / 1000:.3f},", f"{s // 1000},{s},,,{3.05 - s / 1000:.3f}"]
    log = read_log(write(tmp_path / "metrics.csv", "\n".join(rows) + "\n"))[0]
    assert log.loss_name() == "train_loss_step" and len(log.frame) == 40
    assert log.frame["val_loss"].dropna().tolist() == [2.101, 1.101]
    assert log.report.duplicates == 0  # nothing was lost by merging the rows of a step
    twice = write(tmp_path / "restart.csv", "step,epoch,loss\n1,0,3.0\n2,0,2.9\n2,0,2.8\n2,1,2.8\n")
    assert read_log(twice)[0].report.duplicates == 2 + 2  # two losses replaced, and the two epochs the last one changed


def test_wall_times_written_as_dates(tmp_path):
    """A timestamp column of ISO dates is the wall clock, so throughput and stalls work."""
    rows = "timestamp,step,loss,tokens\n" + "".join(
        f"2025-01-31T12:{s // 6:02d}:{10 * (s % 6):02d},{s},{3 - s / 100},{s * 1000}\n" for s in range(1, 50))
    log = read_log(write(tmp_path / "t.csv", rows))[0]
    assert np.diff(log.frame["wall_time"]).tolist() == [10.0] * 48 and log.frame["wall_time"].iloc[0] == 1738324810.0
    rows = "time,step,loss\n1700000000,1,3.0\n1700000010,2,2.9\n"  # seconds stay seconds
    assert read_log(write(tmp_path / "s.csv", rows))[0].frame["wall_time"].tolist() == [1.7e9, 1700000010.0]


def test_wandb_history_export(tmp_path):
    rows = [{"_step": i, "_timestamp": 1.7e9 + i, "_runtime": i, "train/loss": 5 - i * 0.1} for i in range(5)]
    p = write(tmp_path / "history.json", json.dumps(rows))
    log = read_log(p, "wandb")[0]
    assert log.frame["wall_time"].tolist()[0] == 1.7e9 and log.loss_name() == "train/loss"
    panel = write(tmp_path / "panel.csv", "Step,my-run - loss,my-run - loss__MIN,my-run - loss__MAX\n0,5,5,5\n1,4,4,4\n")
    assert read_log(panel, "wandb")[0].metric_names == ["loss"]


def test_wandb_panel_export_of_several_runs(tmp_path):
    """A panel exported from W&B holds a run per '<run> - <metric>' group (a run that stopped
    earlier has blanks after its end): each run is a log, found without --format, and a live
    watch, which cannot follow several runs, says to read it whole."""
    from scalelab.watch.stream import LineParser

    head = ('"Step","lr 3e-4 - seed 1 - train/loss","lr 3e-4 - seed 1 - train/loss__MIN","lr 3e-4 - seed 1 - train/loss__MAX",'
            '"b - train/loss","b - train/loss__MIN","b - train/loss__MAX"\n')
    rows = "".join(f"{s},{5 - s / 100},{5 - s / 100},{5 - s / 100}," + (f"{6 - s / 100},{6 - s / 100},{6 - s / 100}" if s < 40 else ",,")
                   + "\n" for s in range(1, 61))
    p = write(tmp_path / "wandb_export_2025-01-01T00_00_00.000+00_00.csv", head + rows)
    for fmt in ("auto", "wandb"):
        a, b = read_log(p, fmt)
        assert (a.name, b.name) == ("lr 3e-4 - seed 1", "b")
        assert a.metric_names == b.metric_names == ["train/loss"]
        assert len(a.frame) == 60 and len(b.frame) == 39 and b.frame["train/loss"].iloc[-1] == 6 - 39 / 100
    live = LineParser("csv", str(p))
    with pytest.raises(InputError, match="export of 2 runs .*--once"):
        live.parse(p.read_bytes().split(b"\n"))
    one = write(tmp_path / "one.csv", "Step,a - loss,a - loss__MIN,a - loss__MAX\n1,5,4,6\n2,4,3,5\n")
    assert read_log(one)[0].metric_names == ["loss"]
    assert LineParser("csv", str(one)).parse(one.read_bytes().split(b"\n"))["loss"].tolist() == [5.0, 4.0]
    plain = write(tmp_path / "plain.csv", "step,loss - smoothed\n1,5\n")  # ' - ' alone is not an export
    assert read_log(plain)[0].metric_names == ["loss - smoothed"]


def test_tensorboard_written_by_tensorboard(tmp_path):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    for run in ("a", "b"):
        w = EventFileWriter(str(tmp_path / run))
        for s in range(12000):  # more than EventAccumulator's default 10,000 per tag
            w.add_event(event_pb2.Event(wall_time=time.time(), step=s, summary=summary_pb2.Summary(value=[
                summary_pb2.Summary.Value(tag="train/loss", simple_value=5.0 / (s + 1))])))
        w.close()
    logs = read_log(tmp_path)
    assert [lg.name for lg in logs] == ["a", "b"]
    assert len(logs[0].frame) == 12000 and logs[0].loss_name() == "train/loss"
    assert logs[0].report.summary() == "12,000 rows from 12,000 scalar events"


def test_a_restarted_tensorboard_run_drops_what_the_restart_abandoned(tmp_path):
    """The job wrote steps 0-999 (a spike at 900), died, and its restart from the checkpoint
    at step 800 wrote a new event file from 801: the run is read as it now stands, 0-850."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    def event(s, value, tag):
        return event_pb2.Event(wall_time=1.7e9 + s, step=s, summary=summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=tag, simple_value=value)]))

    for steps, scale, suffix in ((range(1000), 5.0, ""), (range(801, 851), 4.9, ".restart")):
        w = EventFileWriter(str(tmp_path / "run"), filename_suffix=suffix)
        for s in steps:
            w.add_event(event(s, scale / (s + 1) * (3 if s == 900 else 1), "train/loss"))
            w.add_event(event(s, 1e-3, "lr"))
        w.close()
    (log,) = read_log(tmp_path)
    assert log.frame["step"].tolist() == list(range(851)) and log.frame["train/loss"].iloc[-1] == pytest.approx(4.9 / 851)
    assert (log.report.restarts, log.report.superseded, log.report.duplicates) == (1, 199, 0)
    w = EventFileWriter(str(tmp_path / "one"))  # a job that reopened its own file: 0-99, then 50-59 again
    for s in [*range(100), *range(50, 60)]:
        w.add_event(event(s, 5.0 / (s + 1), "train/loss"))
    w.close()
    (log,) = read_log(tmp_path / "one")
    assert log.frame["step"].tolist() == list(range(60)) and (log.report.restarts, log.report.superseded) == (1, 50)


def test_a_run_resumed_into_the_same_mlflow_run_drops_the_abandoned_steps(tmp_path, monkeypatch):
    """Logged to step 100, resumed into the same MLflow run from step 80: read as steps 1-90."""
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("x")).info.run_id
    t0 = 1_700_000_000_000
    for s in range(1, 101):
        client.log_metric(run_id, "loss", 5.0 / s, timestamp=t0 + s, step=s)
    for s in range(80, 91):
        client.log_metric(run_id, "loss", 4.0 / s, timestamp=t0 + 1000 + s, step=s)
    (log,) = read_log(uri, "mlflow", run=run_id)
    assert log.frame["step"].tolist() == list(range(1, 91)) and log.frame["loss"].iloc[-1] == pytest.approx(4.0 / 90)
    assert (log.report.restarts, log.report.superseded, log.report.duplicates) == (1, 21, 0)


def test_mlflow_written_by_mlflow(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_name="pilot") as run:
        for s in range(300):
            mlflow.log_metric("loss", 4.0 - s * 0.001, step=s)
    logs = read_log(tmp_path / "mlflow.db")
    assert len(logs) == 1 and logs[0].name == "pilot" and len(logs[0].frame) == 300
    assert logs[0].report.summary() == "300 rows from 300 logged values"
    assert read_log(uri, "mlflow", run=run.info.run_id)[0].frame["loss"].iloc[-1] == pytest.approx(3.701)
    with pytest.raises(InputError, match=r"no MLflow run with id or name 'nope'"):
        read_log(uri, "mlflow", run="nope")



def test_an_mlruns_folder_is_read_as_an_mlflow_store(tmp_path, monkeypatch):
    """MLflow's file store (the ./mlruns folder older versions wrote by default) is found by
    its layout; an experiment's or a run's folder given instead names the store and --run."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run(run_name="pilot") as run:
        for s in range(50):
            mlflow.log_metric("loss", 4.0 - s * 0.01, step=s)
    (log,) = read_log(tmp_path / "mlruns")
    assert log.name == "pilot" and len(log.frame) == 50
    experiment = tmp_path / "mlruns" / run.info.experiment_id
    with pytest.raises(InputError, match=r"is an experiment of the MLflow store .*mlruns'.*--run NAME"):
        read_log(experiment)
    with pytest.raises(InputError, match=rf"is a run of the MLflow store .*--run {run.info.run_id}"):
        read_log(experiment / run.info.run_id)


def test_mlflow_followed_incrementally(tmp_path, monkeypatch):
    """Each poll returns only the points logged since the last, across pages, for a metric
    that appears later too; a logged NaN is a logged NaN; the named run is the one followed."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from scalelab.runs.mlflow import MlflowFollower

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    follower = MlflowFollower(uri)
    assert follower.poll() is None  # an empty store is waited for
    exp = client.create_experiment("e")
    other = client.create_run(exp, run_name="other").info.run_id
    run = client.create_run(exp, run_name="pilot").info.run_id
    client.log_batch(other, metrics=[Metric("loss", 9.0, 1, 1)])

    def log(first, last, key="loss", value=None):
        client.log_batch(run, metrics=[Metric(key, 5.0 / s if value is None else value, 1_700_000_000_000 + s, s)
                                       for s in range(first, last + 1)])

    follower = MlflowFollower(uri, run="pilot")
    follower.PAGE = 7  # several pages per poll
    log(1, 40)
    first = follower.poll()
    assert follower.name == "pilot" and list(first.frame["step"]) == list(range(1, 41))
    assert first.frame["loss"].iloc[-1] == pytest.approx(0.125)
    assert follower.poll() is None
    log(41, 60)
    log(41, 60, key="grad_norm", value=1.0)
    log(61, 61, value=float("nan"))
    new = follower.poll()
    assert list(new.frame["step"]) == list(range(41, 62)) and new.frame["grad_norm"].iloc[0] == 1.0
    assert new.frame["loss"].iloc[-1] == NONFINITE and follower.report.lines == 81
    with pytest.raises(InputError, match=r"no MLflow run with id or name 'nope'"):
        MlflowFollower(uri, run="nope").poll()


def test_watch_follows_a_growing_mlflow_run(tmp_path, monkeypatch):
    """scalelab watch on an MLflow store, live (see _watch_a_growing_run)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run = client.create_run(client.create_experiment("e"), run_name="pilot").info.run_id
    _watch_a_growing_run(uri, "mlflow", lambda points: client.log_batch(
        run, metrics=[Metric("train/loss", v, 1_700_000_000_000 + s, s) for s, v in points]))


def _watch_a_growing_run(source: str, fmt: str, log_points) -> None:
    """A run of 200 points, then 50 more before each poll and a NaN before the third: each
    poll feeds the new steps once, and the NaN is alerted on at its step.
    ``log_points([(step, value), ...])`` writes points where ``source`` can see them."""
    from scalelab.watch import WatchSettings
    from scalelab.watch.session import watch_live

    written = {"step": 0}

    def write(n, value=None):
        steps = range(written["step"] + 1, written["step"] + n + 1)
        written["step"] += n
        log_points([(s, value if value is not None else 3 * s ** -0.1) for s in steps])

    write(200)
    ticks = iter(range(1000))
    polls = []

    def sleep(_):
        polls.append(written["step"])
        write(1, float("nan")) if len(polls) == 3 else write(50)

    out = watch_live(source, WatchSettings(), fmt=fmt, interval_s=1, duration_s=5,
                     clock=lambda: float(next(ticks)), sleep=sleep)
    assert out.monitor.steps[-1] == written["step"] and len(out.monitor.steps) == written["step"]
    assert [a.kind for a in out.alerts] == ["nonfinite"] and out.alerts[0].step == 301


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match=r"log file .*missing.jsonl' does not exist"):
        read_log(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match=r"--format 'parquet': choose one of"):
        read_log(tmp_path / "x.jsonl", "parquet")
    with pytest.raises(InputError, match=r"cannot tell the format of .*x.bin"):
        read_log(write(tmp_path / "x.bin", "data"))
    with pytest.raises(InputError, match=r"no step column \(looked for step, global_step"):
        read_log(write(tmp_path / "nostep.jsonl", '{"loss": 1.0}\n'))
    with pytest.raises(InputError, match=r"no JSON records found"):
        read_log(write(tmp_path / "junk.jsonl", "hello\nworld\n"))
    with pytest.raises(InputError, match=r"no line names a step and a metric"):
        read_log(write(tmp_path / "plain.log", "nothing here\n"))
    log = read_log(write(tmp_path / "ok.jsonl", '{"step": 1, "acc": 0.5}\n'))[0]
    with pytest.raises(InputError, match=r"no loss metric found among acc; choose one with --loss-name"):
        log.loss_name()
    with pytest.raises(InputError, match=r"no metric 'los'; metrics: acc; choose one with --loss-name"):
        log.loss_name("los")  # nothing close enough to suggest
    both = read_log(write(tmp_path / "both.jsonl", '{"step": 1, "acc": 0.5, "loss": 2.0}\n'))[0]
    with pytest.raises(InputError, match=r"no metric 'los' \(did you mean 'loss'\?\); metrics: acc, loss"):
        both.loss_name("los")


def test_large_log_in_chunks(tmp_path, monkeypatch):
    """Logs bigger than a chunk are read piece by piece, cut at line ends, nothing lost."""
    from scalelab.runs import logs

    monkeypatch.setattr(logs, "CHUNK_BYTES", 4096)
    p = tmp_path / "big.jsonl"
    with p.open("w") as fh:
        for s in range(5000):
            fh.write(json.dumps({"step": s, "loss": 1.0 + 1 / (s + 1)}) + "\n")
            if s == 2500:
                fh.write("junk line\n")
    log = read_log(p)[0]
    assert len(log.frame) == 5000 and log.report.junk == 1
    assert np.all(np.diff(log.frame["step"].to_numpy()) == 1)


def test_tensorboard_followed_incrementally(tmp_path):
    """Each poll returns only what was written since the last, from a file still being
    written (flushed, not closed), and from a file that appears later."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from scalelab.runs.tensorboard import TensorBoardFollower

    def scalar(step, value):
        return event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag="train/loss", simple_value=value)]))

    w = EventFileWriter(str(tmp_path / "run"))
    follower = TensorBoardFollower(tmp_path)
    assert follower.poll() is None  # nothing but the file's version header yet
    for s in range(1, 101):
        w.add_event(scalar(s, 5.0 / s))
    w.flush()
    first = follower.poll()
    assert list(first.frame["step"]) == list(range(1, 101)) and first.frame["train/loss"].iloc[-1] == pytest.approx(0.05)
    assert follower.poll() is None  # nothing new
    for s in range(101, 151):
        w.add_event(scalar(s, 5.0 / s))
    w.flush()
    assert list(follower.poll().frame["step"]) == list(range(101, 151))
    w.close()
    w2 = EventFileWriter(str(tmp_path / "run"), filename_suffix=".restart")  # a restarted job's second file
    w2.add_event(scalar(151, 0.03))
    w2.close()
    assert list(follower.poll().frame["step"]) == [151]
    assert follower.report.lines == 151


def test_watch_follows_a_growing_tensorboard_run(tmp_path):
    """scalelab watch on a TensorBoard folder, live (see _watch_a_growing_run)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(tmp_path / "run"))

    def log_points(points):
        for s, v in points:
            w.add_event(event_pb2.Event(wall_time=1.7e9 + s, step=s, summary=summary_pb2.Summary(value=[
                summary_pb2.Summary.Value(tag="train/loss", simple_value=v)])))
        w.flush()

    _watch_a_growing_run(str(tmp_path), "tensorboard", log_points)
    w.close()


def test_an_empty_log_read_whole_says_it_is_empty(tmp_path):
    for text in ("", "\n\n"):
        with pytest.raises(InputError, match=r"the log is empty \(no line yet"):
            read_log(write(tmp_path / "train.log", text))


def test_a_utf16_log_as_powershell_writes_it(tmp_path):
    """Windows PowerShell's > writes UTF-16 with a byte-order mark: read whole, it is decoded
    (and said); followed live, it is refused with the conversion to make."""
    from scalelab.watch.stream import LineParser

    text = "".join(f"step: {s}  loss: {4 - s / 10:.2f}\r\n" for s in range(1, 6))
    p = tmp_path / "train.log"
    p.write_bytes(text.encode("utf-16"))
    log = read_log(p)[0]
    assert log.frame["loss"].tolist() == [3.9, 3.8, 3.7, 3.6, 3.5] and "UTF-16" in log.report.summary()
    with pytest.raises(InputError, match="is UTF-16 text .*iconv -f UTF-16 -t UTF-8"):
        LineParser("text", str(p)).parse(p.read_bytes().split(b"\n"))
