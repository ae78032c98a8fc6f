"""Watching a live run: detectors, the monitor, the tailer, alert sinks. No torch, no plots."""

from scalelab.watch.detectors import Alert
from scalelab.watch.monitor import Monitor, WatchSettings

__all__ = ["Alert", "Monitor", "WatchSettings"]
