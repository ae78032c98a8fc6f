"""The watch in a Hugging Face ``Trainer``: a ``TrainerCallback`` over :class:`Watcher`.

    from scalelab.watch.hf import WatchCallback
    trainer = Trainer(..., callbacks=[WatchCallback(stop_on=("nonfinite",))])

Each log the trainer writes (``logging_steps``) is observed: its ``loss``, ``grad_norm``
and, with ``include_num_input_tokens_seen``, the tokens so far. Alerts go to ``sinks``
(e.g. :class:`scalelab.watch.alerts.AlertSinks`) and to :attr:`WatchCallback.alerts`;
an alert of a kind in ``stop_on`` stops training at the end of that step (none by
default). Needs ``pip install 'scalelab[hf]'``.
"""

from __future__ import annotations

from scalelab.errors import MissingDependencyError
from scalelab.watch.monitor import WatchSettings
from scalelab.watch.watcher import Watcher

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependencyError("the Trainer callback needs transformers: pip install 'scalelab[hf]'") from exc


class WatchCallback(TrainerCallback):
    """Watch a ``Trainer`` run from its logs (see the module docstring)."""

    def __init__(self, settings: WatchSettings | None = None, *, name: str = "run", every: int = 1, sinks=None,
                 stop_on: tuple[str, ...] = ()):
        self.watcher = Watcher(settings, name=name, every=every, sinks=sinks)
        self.stop_on = tuple(stop_on)
        self.stopped_by = None

    @property
    def alerts(self) -> list:
        return self.watcher.alerts

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return control  # an evaluation or the final summary, not a training step
        tokens = getattr(state, "num_input_tokens_seen", 0) or None
        new = self.watcher.observe(state.global_step, loss=logs["loss"], grad_norm=logs.get("grad_norm"),
                                   tokens=tokens, lr=logs.get("learning_rate"))
        for a in new:
            if a.kind in self.stop_on and self.stopped_by is None:
                self.stopped_by = a
                control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.watcher.flush()
        return control
