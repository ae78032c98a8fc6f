"""The README's end-to-end example as a reader's browser shows it: builds the report and the
watch snapshot (and the demo's page) from tests/data (the OLMo ladder as pilots, OLMo 2 13B as the target, its
first 2T tokens as the log), checks each page in headless Chromium at 700 px (figures
loaded, no errors, no sideways scrolling) and writes the screenshots the README shows.

Run:  apt install chromium && python benchmarks/report_screenshots.py   (writes docs/report.png, docs/watch.png)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from typer.testing import CliRunner  # noqa: E402

from scalelab.cli import app  # noqa: E402
from tests.report.browser import check, chromium, screenshot  # noqa: E402

DATA = REPO / "tests" / "data"


def main() -> None:
    if chromium() is None:
        sys.exit("needs Debian's chromium package: apt install chromium")
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(app, [str(a) for a in args])
        if r.exit_code not in (0, 1):
            sys.exit(f"scalelab {' '.join(map(str, args))} failed:\n{r.output}")
        return r

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        fit, plan, log = d / "pilots-fit.json", d / "plan.json", DATA / "olmo13b-first-2T.jsonl"
        run("fit", DATA / "scaling" / "olmo_ladder.csv", "--where", "paper_role == 'fit'", "--out", fit)
        run("plan", "--params", "13.2B", "--tokens", "5T", "--gpu", "h100", "--num-gpus", "1024", "--fit", fit,
            "--out", plan)
        pages = {"report": d / "report.html", "watch": d / "watch.html"}
        run("report", fit, "--plan", plan, "--log", log, "--out", pages["report"])
        run("watch", log, "--plan", plan, "--once", "--html", pages["watch"])
        run("demo", "--out-dir", d / "demo")
        pages["demo"] = d / "demo" / "report.html"
        for name, page in pages.items():
            c = check(page, width=700)
            ok = c["images"] == c["loaded"] and not c["errors"] and c["scroll_width"] <= c["client_width"]
            print(f"{name}: {c['loaded']}/{c['images']} figures loaded, {len(c['errors'])} errors, "
                  f"width {c['scroll_width']} px in a {c['client_width']} px window: {'ok' if ok else 'NOT OK'}")
            if name != "demo":  # the README shows the user's own run; the demo's page is only checked
                out = REPO / "docs" / f"{name}.png"
                screenshot(page, out, width=700, height=1500 if name == "report" else 1100)
                print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
