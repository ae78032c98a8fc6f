"""The ``scalelab`` command line: a face over the Python API.

One module per command group (``fit`` also holds predict, backtest and demo; ``plan``,
``watch``, ``runs``, ``ladder``); each command parses its options, calls one library
function, and prints. Whatever a command computes, the Python API offers.
"""

# each module registers its commands; --help and docs/cli.md list them in this order
from scalelab.cli import fit, tasks, samples, returns, trends, data, plan, watch, report, runs, ladder  # noqa: F401, I001
from scalelab.cli.common import app

__all__ = ["app"]
