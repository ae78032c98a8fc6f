"""Downstream capability forecasts: a task metric (accuracy, error) from a task loss, and
through a step-1 fit of that loss in N and D, from the run's size (see :mod:`.fit`)."""

from scalelab.tasks.fit import TaskFit, TaskForecast
from scalelab.tasks.data import chain_check, load_task, read_task_points, save_task, task_backtest

__all__ = ["TaskFit", "TaskForecast", "chain_check", "load_task", "read_task_points", "save_task", "task_backtest"]
