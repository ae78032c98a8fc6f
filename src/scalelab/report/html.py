"""A single-file HTML report: headings, paragraphs, tables and inline PNG figures."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field

import pandas as pd

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:900px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45;overflow-wrap:anywhere}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
.tbl{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:.88em;margin:.8em 0}td,th{padding:.25em .6em;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}
th{background:#f5f5f5}img{max-width:100%;height:auto}.note{color:#555;font-size:.9em}code{background:#f3f3f3;padding:0 .2em}
.verdict{font-size:1.1em;font-weight:600;background:#f3f7fb;border-left:4px solid #08306b;padding:.5em .8em}
.warn{color:#8a4b00;font-size:.9em}
.text td,.text th{text-align:left}.text td:nth-child(-n+3){white-space:nowrap}
"""


def compact(x: float | None) -> str:
    """A count as a reader takes it in: 13.2B, 5T, 2.1T, 950."""
    if x is None:
        return "-"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


@dataclass
class Report:
    title: str
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(self, frame: pd.DataFrame, text: bool = False) -> None:
        """A table; ``text`` left-aligns every column (for tables of words, not numbers)."""
        cls = "tbl text" if text else "tbl"
        self.parts.append(f'<div class="{cls}">{frame.to_html(index=False, border=0, escape=True)}</div>')

    def figure(self, fig) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        import matplotlib.pyplot as plt

        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode()
        self.parts.append(f'<img alt="figure" src="data:image/png;base64,{data}">')

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<style>{STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")
