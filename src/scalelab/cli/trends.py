"""``scalelab trends compute``: public trends (Epoch AI's database, a dated snapshot)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from scalelab.cli.common import Json, app, out, print_json, run

trends_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                         help="Public trends from Epoch AI's database (a dated snapshot shipped with the package).",
                         epilog="""\b
Examples:
  scalelab trends compute
  scalelab trends compute --frontier --since 2018 --json
""")
app.add_typer(trends_app, name="trends")


@trends_app.command("compute", epilog="""\b
Examples:
  scalelab trends compute
  scalelab trends compute --frontier --since 2018 --json
  scalelab trends compute --domain Language
""")
def trends_compute(
    frontier: Annotated[bool, typer.Option("--frontier", help="Epoch's frontier models instead of all notable ones.")] = False,
    since: Annotated[float, typer.Option("--since", help="Models published from this year.")] = 2010,
    domain: Annotated[Optional[str], typer.Option("--domain", help="Only models of this domain (e.g. Language, Vision).")] = None,
    as_json: Json = False,
) -> None:
    """How fast the training compute of notable (or frontier) models grows per year, with an
    interval from a bootstrap over models, and its doubling time."""

    def go():
        from scalelab.trends import compute_trend

        return compute_trend(frontier=frontier, since=since, domain=domain)

    t = run(go)
    if as_json:
        print_json(t.to_dict())
        return
    out.print(f"{t.selection} ({t.n_models} with a compute estimate, {t.first_year:.0f}–{t.last_year:.1f}): training "
              f"compute grows {t.growth_per_year:.2f}x per year (80%: {t.interval80[0]:.2f}–{t.interval80[1]:.2f}x, "
              f"95%: {t.interval95[0]:.2f}–{t.interval95[1]:.2f}x), doubling every {t.doubling_months:.1f} months. "
              f"Data: {t.attribution}.", markup=False)
