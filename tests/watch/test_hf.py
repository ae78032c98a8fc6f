"""The Trainer callback with the real Hugging Face Trainer: a tiny GPT-2 built from a config
(random weights, no download) on random tokens, on the CPU, with a NaN injected."""

import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from scalelab.watch.hf import WatchCallback  # noqa: E402


class PoisonAt(transformers.TrainerCallback):
    """Fill the token embeddings with NaN when step ``at`` begins."""

    def __init__(self, at: int):
        self.at = at

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.at:
            with torch.no_grad():
                model.transformer.wte.weight.fill_(math.nan)


def train(tmp_path, callbacks, steps=40):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    model = transformers.GPT2LMHeadModel(cfg)
    g = torch.Generator().manual_seed(0)
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 64, (steps * 4, 32), generator=g)]
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4,
                                          max_steps=steps, logging_steps=1, learning_rate=1e-3, report_to=[],
                                          save_strategy="no", use_cpu=True, disable_tqdm=True,
                                          include_num_input_tokens_seen=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks)
    trainer.train()
    return trainer


def test_a_nan_in_a_trainer_run_is_reported_and_can_stop_it(tmp_path):
    watch = WatchCallback(stop_on=("nonfinite",))
    trainer = train(tmp_path, [PoisonAt(20), watch])
    nonfinite = [a for a in watch.alerts if a.kind == "nonfinite"]
    assert nonfinite and nonfinite[0].step == 21 and nonfinite[0].delay == 0  # step 21 is the first NaN loss
    assert watch.stopped_by is nonfinite[0] and trainer.state.global_step == 21  # stopped at once
    assert watch.watcher.monitor.status().points == 21


def test_a_healthy_trainer_run_raises_nothing(tmp_path):
    watch = WatchCallback()
    trainer = train(tmp_path, [watch], steps=30)
    assert trainer.state.global_step == 30 and watch.alerts == []
    status = watch.watcher.status()
    assert status.points == 30 and status.tokens == 30 * 4 * 32  # tokens seen, from the trainer


def test_the_trainer_console_as_it_prints_it_is_read(tmp_path):
    """The real Trainer's stdout and stderr in one file (its progress bar on, steps of 0.15 s,
    longer than the bar's redraw interval, as training steps are): each log dict is read at
    its step, with its tokens, whatever form this transformers prints values in."""
    import contextlib
    import io
    import time

    from scalelab.runs.logs import read_log

    class Slow(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            time.sleep(0.15)

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 64, (80, 32))]
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4,
                                          max_steps=20, logging_steps=5, learning_rate=1e-3, report_to=[],
                                          save_strategy="no", use_cpu=True, disable_tqdm=False,
                                          include_num_input_tokens_seen=True)
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        transformers.Trainer(model=transformers.GPT2LMHeadModel(cfg), args=args, train_dataset=data,
                             callbacks=[Slow()]).train()
    path = tmp_path / "train.log"
    path.write_text(console.getvalue())
    f = read_log(path)[0].frame.dropna(subset=["loss"])
    assert f["step"].tolist() == [5, 10, 15, 20] and f["tokens"].tolist() == [640, 1280, 1920, 2560]
    assert f["loss"].between(3, 5).all() and f["grad_norm"].gt(0).all()
