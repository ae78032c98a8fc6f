"""Turn lines appended to a log into rows for the monitor (JSONL, CSV, printed text logs)."""

from __future__ import annotations

import csv

import pandas as pd

from scalelab.errors import InputError
from scalelab.runs.logs import (UTF16_BOMS, ParseReport, PrintedLines, map_roles, parse_json, utf16_message,
                                wandb_panel)


class LineParser:
    """Parses batches of complete lines; counts junk in ``report``."""

    def __init__(self, fmt: str, source: str, *, step_col=None, tokens_col=None, time_col=None):
        if fmt not in ("jsonl", "csv", "tsv", "text", "megatron", "wandb"):
            raise InputError(f"--format {fmt!r} cannot be followed line by line; choose jsonl, csv, tsv, text, "
                             "megatron or wandb")
        self.fmt = fmt
        self.report = ParseReport(source=source, format=fmt)
        self.header: list[str | None] | None = None
        self.roles = dict(step_col=step_col, tokens_col=tokens_col, time_col=time_col)
        self.printed = PrintedLines(fmt, self.report) if fmt in ("text", "megatron") else None
        self._last_step: int | None = None

    def parse(self, lines: list[bytes]) -> pd.DataFrame | None:
        records = []
        for raw in lines:
            if self.report.lines == 0 and self.header is None and raw[:2] in UTF16_BOMS:
                raise InputError(utf16_message(self.report.source) + "; a live log is followed as UTF-8")
            if not raw.strip():
                continue
            if self.header is None and self._tabular(raw):
                self.header = self._columns([f.strip() for f in self._fields(raw)])
                continue
            if self.printed is not None:
                records += self.printed.feed(raw)
                continue
            self.report.lines += 1
            rec = self._one(raw)
            if rec is None:
                self.report.junk += 1
            else:
                records.append(rec)
        if self.printed is not None:  # a block is written in one go: what a poll ends on is complete
            records += self.printed.flush()
        if not records:
            return None
        frame = pd.DataFrame.from_records(records)
        try:
            out = map_roles(frame, self.report, **self.roles)
        except InputError:  # no step column in these rows: they are junk, counted
            self.report.junk += len(records)
            return None
        # a row per step, as a whole-file read merges them: an evaluation's line at the step of
        # the training line before it (Megatron's, OLMo's) adds no row
        steps = out["step"].to_numpy()
        self.report.rows += int(len(steps) - (steps[1:] == steps[:-1]).sum() - (len(steps) and steps[0] == self._last_step))
        if len(steps):
            self._last_step = int(steps[-1])
        return out

    def _columns(self, header: list[str]) -> list[str | None]:
        """A W&B panel export's header as its run's names (the __MIN/__MAX companions as None,
        left out); an export of several runs is refused: it is a finished file, read whole."""
        panel = wandb_panel(header, explicit=self.fmt == "wandb") if self.fmt in ("csv", "wandb") else None
        if panel is None:
            return header
        if len(panel) > 1:
            raise InputError(f"{self.report.source}: a W&B panel export of {len(panel)} runs "
                             f"({', '.join(list(panel)[:3])}{', ...' if len(panel) > 3 else ''}); an export is a "
                             "finished file: give --once, which reads it whole and watches each run")
        (columns,) = panel.values()
        return [columns.get(h) for h in header]

    def _tabular(self, raw: bytes) -> bool:
        return self.fmt in ("csv", "tsv") or (self.fmt == "wandb" and raw.lstrip()[:1] != b"{")

    def _fields(self, raw: bytes) -> list[str]:
        text = raw.decode("utf-8", "replace")
        return next(csv.reader([text], delimiter="\t" if self.fmt == "tsv" else ","))

    def _one(self, raw: bytes) -> dict | None:
        if self._tabular(raw):
            fields = self._fields(raw)
            return ({h: f for h, f in zip(self.header, fields) if h is not None}
                    if len(fields) == len(self.header) else None)
        if self.fmt in ("jsonl", "wandb"):
            try:
                obj = parse_json(raw)
            except ValueError:
                return None
            return _flatten(obj) if isinstance(obj, dict) else None
        return None


def _flatten(obj: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "/"))
        else:
            out[key] = v
    return out
