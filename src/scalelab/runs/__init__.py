"""Runs: the validated table of training runs and its readers."""

from scalelab.runs.readers import read_runs, read_table
from scalelab.runs.table import Runs

__all__ = ["Runs", "read_runs", "read_table"]
