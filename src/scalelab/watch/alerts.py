"""Where alerts go: a JSON-lines file, standard output, and an HTTP webhook."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from scalelab.errors import InputError


def alert_record(alert, run: str) -> dict:
    d = alert.to_dict()
    d["run"] = run
    d["time_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return d


def _key(record: dict) -> tuple:
    return record.get("run"), record.get("kind"), record.get("step")


class JsonlSink:
    """Appends one JSON object per alert (flushed at once, so other tools can tail it). An
    alert the file already holds (same run, kind and step: a watch run again over the same
    log, or restarted) is not written twice; :meth:`seen` says so."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.parent.exists():
            raise InputError(f"cannot write alerts to {str(self.path)!r}: folder {str(self.path.parent)!r} does not exist")
        self._keys: set[tuple] = set()
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    self._keys.add(_key(json.loads(line)))
                except (ValueError, AttributeError):
                    continue  # not an alert line: left as it is
        self.fh = self.path.open("a", encoding="utf-8")

    def seen(self, record: dict) -> bool:
        return _key(record) in self._keys

    def __call__(self, record: dict) -> None:
        self._keys.add(_key(record))
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


class WebhookSink:
    """POSTs each alert as JSON; failures are counted and reported, never raised."""

    def __init__(self, url: str, timeout_s: float = 5.0):
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--webhook {url!r}: give an http:// or https:// URL")
        self.url, self.timeout_s = url, timeout_s
        self.sent = 0
        self.failed: list[str] = []

    def __call__(self, record: dict) -> None:
        body = json.dumps(record).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
            self.sent += 1
        except (urllib.error.URLError, OSError) as exc:
            self.failed.append(f"{type(exc).__name__}: {exc}")


class AlertSinks:
    """Every place a watch sends its alerts: a JSON-lines file, a webhook, or neither.

    Call it with an alert and the run's name; :meth:`close` when done. ``webhook`` keeps
    the count of POSTs sent and the reasons of those that failed. An alert the JSON-lines
    file already holds is neither written nor posted again.
    """

    def __init__(self, jsonl: str | Path | None = None, webhook: str | None = None):
        self.webhook = WebhookSink(webhook) if webhook else None
        self.jsonl = JsonlSink(jsonl) if jsonl else None

    def __call__(self, alert, run: str) -> None:
        record = alert_record(alert, run)
        if self.jsonl is not None and self.jsonl.seen(record):
            return
        for sink in (self.jsonl, self.webhook):
            if sink is not None:
                sink(record)

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
