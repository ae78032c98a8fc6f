"""Watching a live run: detectors, the monitor, the tailer, alert sinks. No torch, no plots."""

from scalelab.watch.detectors import Alert
from scalelab.watch.monitor import Monitor, WatchSettings
from scalelab.watch.watcher import Watcher

__all__ = ["Alert", "Monitor", "WatchSettings", "Watcher"]
