"""The watch inside a training loop: ``Watcher.observe`` once a step.

>>> from scalelab.watch import Watcher
>>> w = Watcher()
>>> for step in range(1, 301):
...     alerts = w.observe(step, loss=3.0 * step ** -0.1, tokens=step * 4096)
>>> w.observe(301, loss=float("nan"))[0].kind
'nonfinite'

A step's values are kept in a buffer and the monitor's detectors run on every ``every``
new steps (the same detectors, settings and alert sinks as ``scalelab watch``), so a step
costs an append and the detectors' cost is shared by the batch. A non-finite loss, grad
norm or throughput is never an exception: it is recorded as the NaN event and checked at
once, so ``observe`` returns its alert on the step it happened.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd

from scalelab.errors import InputError
from scalelab.watch.detectors import Alert
from scalelab.watch.monitor import Monitor, Status, WatchSettings


class Watcher:
    """A run watched from inside its training loop (see the module docstring).

    ``settings`` are the monitor's (:class:`WatchSettings`; the loss is named ``loss``);
    ``sinks`` is called with each new alert and the run's name (e.g.
    :class:`scalelab.watch.alerts.AlertSinks`).
    """

    def __init__(self, settings: WatchSettings | None = None, *, name: str = "run", every: int = 50, sinks=None):
        if every < 1:
            raise ValueError(f"every={every}: run the detectors every 1 or more steps")
        settings = settings or WatchSettings()
        if settings.loss_name is None:
            settings = dataclasses.replace(settings, loss_name="loss")
        self.monitor = Monitor(settings, name=name)
        self.every = every
        self.sinks = sinks
        self._rows: list[dict] = []

    def observe(self, step: int, *, loss: float | None = None, tokens: float | None = None,
                grad_norm: float | None = None, tokens_per_s: float | None = None,
                wall_time: float | None = None, lr: float | None = None, **metrics: float) -> list[Alert]:
        """Record one step; returns the alerts this call raised (usually none). ``lr``, the
        step's learning rate, tells a comparison with a forecast whether a cooldown is still to
        come (a warmup-stable-decay run sits above its final loss until then). ``metrics`` are
        other values of the step, such as an evaluation's ``val_bpb=2.81``: the one a ladder's
        fit forecasts is judged against it (the settings' ``forecast_metric``)."""
        nonfinite = False
        row = {"step": int(step), "tokens": _value(tokens, "tokens"),
               "wall_time": time.time() if wall_time is None else wall_time}
        if lr is not None:
            row["lr"] = _value(lr, "lr")
        for key, value in metrics.items():
            v = _value(value, key)
            row[key] = math.inf if value is not None and not math.isfinite(v) else v
        for key, value in (("loss", loss), ("grad_norm", grad_norm), ("tokens_per_s", tokens_per_s)):
            v = _value(value, key)
            if value is not None and not math.isfinite(v):
                v, nonfinite = math.inf, True  # a logged NaN, as the log readers store it
            row[key] = v
        self._rows.append(row)
        if nonfinite or len(self._rows) >= self.every:
            return self.flush()
        return []

    def flush(self) -> list[Alert]:
        """Run the detectors on the buffered steps now; returns the new alerts."""
        if not self._rows:
            return []
        frame = pd.DataFrame(self._rows)
        self._rows = []
        alerts = self.monitor.update(frame, now_wall=time.time())
        if self.sinks is not None:
            for a in alerts:
                self.sinks(a, self.monitor.name)
        return alerts

    @property
    def alerts(self) -> list[Alert]:
        """Every alert so far."""
        return list(self.monitor.alerts)

    def status(self) -> Status:
        """Where the run stands (the buffered steps included)."""
        self.flush()
        return self.monitor.status()


def _value(x, name: str = "value") -> float:
    """One number from a float, int, numpy scalar or one-element tensor (None: not logged).
    Anything else is the caller's mistake, said at once, not recorded as a NaN event."""
    if x is None:
        return math.nan
    count = (int(x.numel()) if hasattr(x, "numel") else int(x.size) if isinstance(x, np.ndarray)  # torch, numpy
             else len(x) if isinstance(x, (list, tuple)) else 1)
    if count != 1:
        raise InputError(f"observe: {name} has {count} values; give one number (for a batch's losses, their mean)")
    try:
        return float(x.item() if hasattr(x, "item") else x)  # a 0-d tensor or numpy scalar
    except (TypeError, ValueError):
        raise InputError(f"observe: {name}={x!r:.40} is not a number") from None
