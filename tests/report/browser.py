"""Headless Chromium (Debian's ``chromium`` package) on a report: what a reader's browser
makes of it. Used by the report tests and by benchmarks/report_screenshots.py."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(e.message ||
  ('failed to load ' + ((e.target && (e.target.src || e.target.href)) || '?').slice(0, 80))), true);
const _err = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); _err(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-check', JSON.stringify({
    images: imgs.length, loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth,
    errors: window.__errors}));
});
</script>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                               f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)


def check(page: Path, width: int = 700) -> dict:
    """Load ``page`` at ``width`` CSS pixels: images loaded, errors raised (scripts, resources,
    console.error), and whether the page is wider than the window (sideways scrolling)."""
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe.html"
        probe.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
        r = _run([f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()])
    m = re.search(r'data-check="([^"]*)"', r.stdout)
    if not m:
        raise RuntimeError(f"chromium gave no result (exit {r.returncode}): {r.stderr[-500:]}")
    return json.loads(html.unescape(m.group(1)))


def screenshot(page: Path, out: Path, width: int = 700, height: int = 1600) -> None:
    r = _run([f"--window-size={width},{height}", "--virtual-time-budget=5000", f"--screenshot={out}", page.as_uri()])
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot (exit {r.returncode}): {r.stderr[-500:]}")
