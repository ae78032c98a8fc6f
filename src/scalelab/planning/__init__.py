"""Planning: model arithmetic, accelerators, memory per device, time/energy/cost, budgets.

Pure arithmetic over the bundled catalogue: no printing, no files of its own.
"""

from scalelab.planning.cost import BudgetPlan, RunEstimate, budget_to_run, estimate_run, plan_budget
from scalelab.planning.hardware import Accelerator, catalogue, get_accelerator
from scalelab.planning.memory import MemoryBreakdown, Parallelism, memory_per_device, smallest_layout
from scalelab.planning.model import ModelConfig, dense_from_params
from scalelab.planning.plan import FlopCount, Layout, ParamCount, Plan, make_plan, resolve_model
from scalelab.planning.presets import PRESETS, Preset, get_preset
from scalelab.planning.validate import RunCheck, check_runs

__all__ = [
    "PRESETS", "Accelerator", "BudgetPlan", "FlopCount", "Layout", "MemoryBreakdown", "ModelConfig", "ParamCount",
    "Parallelism", "Plan", "Preset", "RunCheck", "RunEstimate", "budget_to_run", "catalogue", "check_runs",
    "dense_from_params", "estimate_run", "get_accelerator", "get_preset", "make_plan", "memory_per_device",
    "plan_budget", "resolve_model", "smallest_layout",
]
