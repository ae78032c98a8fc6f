"""The monitor: a run's metrics as they arrive, checked against its forecast and plan.

``Monitor.update`` takes new rows (step, tokens, wall_time and metrics), keeps the curve
ordered by step (a repeated step replaces the earlier value; a step lower than the last
one means a restart from a checkpoint: the points up to it are judged, later points are
dropped and the rewind counted),
runs the detectors on the new points only (with the history they need), and returns the
new alerts. ``status`` says where the run stands: loss, tokens/s, ETA, money spent and
projected, the projected final loss against the forecast, and the alerts so far.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError
from scalelab.fitting.forecast import Forecast
from scalelab.runs.logs import ROLE_COLUMNS, pick_loss_name
from scalelab.watch import detectors as det
from scalelab.watch.forecast import Projection, compare

THROUGHPUT_NAMES = ("tokens_per_s", "tokens_per_second", "tokens/s", "throughput", "tps", "train/tokens_per_second",
                    "throughput/tokens_per_sec", "tokens_per_sec", "tok/sec", "tok/s", "tokens/sec", "wps")
STEP_TIME_NAMES = {"elapsed_time_per_iteration_ms": 1e-3, "time_per_iteration_ms": 1e-3, "time_ms": 1e-3, "step_time_ms": 1e-3,
                   "iter_time_ms": 1e-3, "dt_ms": 1e-3,
                   "step_time": 1.0, "step_time_s": 1.0, "iter_time_s": 1.0, "time_per_step": 1.0}
"""A step's duration as training scripts print it (Megatron's ``elapsed time per iteration
(ms)``, nanoGPT's ``time 350ms``), and the seconds in its unit: with the tokens a step trains
on, a throughput timed to the millisecond where the log's clock (Megatron's, to the second)
is too coarse, or where there is none."""
GRAD_NORM_NAMES = ("grad_norm", "grad-norm", "gradient_norm", "train/grad_norm", "optim/grad_norm",
                   "optim/total_grad_norm", "l2_norm/grad/global", "norm")  # build-nanogpt's and llm.c's "norm"
LR_NAMES = ("lr", "learning_rate", "learning-rate", "train/learning_rate", "train/lr", "optim/lr",
            "optim/learning_rate_group0", "optim/lr_(group_0)")
BURN_IN_KINDS = ("spike", "grad_norm_spike", "divergence")
# a grad-norm spike is at least a tripling: in per-step logs of small healthy runs the grad
# norm often jumps 2-2.5x for a step (tests/data/watch); BLOOM's rose 3-10x before its spike
GRAD_NORM_MIN_JUMP = math.log(3)  # the spike rule compares jumps in log space
THROUGHPUT_SAMPLE_S = 0.5
"""Throughput is judged in samples of at least this many seconds: a log of 7 ms steps (a
small rung on a CPU) is grouped by 72 steps, so that the rule's median of 20 samples spans
ten seconds of the run, not a tenth of one in which the host's scheduling moves it 20%."""
HISTORY = 700  # points of history the detectors look back over (divergence: 150 judged + 400 before,
# from up to 150 points before the new ones, to know whether an event is still going on)
THROUGHPUT_HISTORY = 2400  # samples the throughput rule looks back over (the spread of its comparison over
# 2,000 samples, the 20 + 50 of the comparison, and two windows before the new ones for its events)


def lr_column(columns) -> str | None:
    """The learning rate's column: a known name, else one whose last part is ``lr`` or
    ``learning_rate`` (``trainer/lr``), or Lightning's ``lr-AdamW``.

    >>> lr_column(["step", "loss", "lr-AdamW"]), lr_column(["trainer/learning_rate"]), lr_column(["loss"])
    ('lr-AdamW', 'trainer/learning_rate', None)
    """
    cols = [str(c) for c in columns]
    known = next((c for c in LR_NAMES if c in cols), None)
    if known:
        return known
    return next((c for c in cols if c.rsplit("/", 1)[-1].lower() in ("lr", "learning_rate", "learning-rate")
                 or c.lower().startswith("lr-")), None)


# (setting, option, lowest, highest): what a value may be, and the option that sets it
LIMITS = (("params", "--params", 1, 1e15), ("final_tokens", "--tokens", 1, 1e16), ("budget_usd", "--budget-usd", 0, 1e13),
          ("num_gpus", "--num-gpus", 1, 1e8), ("price_usd_per_gpu_hour", "--price", 0, 1e4),
          ("stall_minutes", "--stall-minutes", 0.01, 1e6), ("spike_z", "--spike-z", 1, 1e3),
          ("spike_min_rel_jump", "--spike-min-jump", 0, 10), ("throughput_drop", "--throughput-drop", 0.001, 0.99),
          ("divergence_evals", "--divergence-evals", 2, 1e4), ("burn_in_steps", "--burn-in-steps", 0, 1e12))


@dataclass(frozen=True)
class WatchSettings:
    """What the monitor knows about the run and how sensitive it is (checked on creation)."""

    loss_name: str | None = None
    """The metric to watch; None: the first conventional loss name the log has."""
    forecast_metric: str | None = None
    """The metric the forecast is of, where it is not ``loss_name``: a ladder's fit forecasts
    ``val_bpb``, logged at evaluations, while the detectors watch the per-step training loss
    (None: the forecast is of ``loss_name``)."""
    params: float | None = None
    """N, for the forecast (with ``fit``)."""
    final_tokens: float | None = None
    """D the run will train on: for the projection, the ETA and the projected cost."""
    fit: object | None = None
    """A fitted law of N and D (``scalelab.fitting.Fit``): the forecast the run is compared with."""
    forecast: Forecast | None = None
    """The forecast of this run's final loss, without a ``fit``: the one a plan carries
    (``scalelab plan --fit``), for the plan's N and D."""
    planned_tokens_per_s: float | None = None
    num_gpus: float | None = None
    price_usd_per_gpu_hour: float | None = None
    budget_usd: float | None = None
    stall_minutes: float | None = None
    """No new step for this long is a hang; None: follow the run's own cadence (Monitor.stall_minutes)."""
    spike_z: float = 6.0
    spike_min_rel_jump: float = 0.001
    divergence_evals: int = 4
    divergence_min_rise: float = 0.01
    throughput_drop: float = 0.05
    throughput_evals: int = 20
    burn_in_steps: int = 200
    """No spike, grad-norm spike or divergence alerts before this step, and no trend fitted
    to the steps before it: the first steps of training (warm-up, the loss falling from its
    initial value) are all 'spikes' to a local-curve rule, and while a model still guesses
    near-uniformly its per-step noise is small and growing (43 real pilot-run logs: 49
    false spikes between steps 100 and 200, none after). NaN, stalls and throughput are
    watched from the first step."""
    forecast_level: float = 0.95
    forecast_min_fraction: float = 0.2
    cooldown_allowance: float | None = None
    """What a pending cooldown may take off the projected final loss [default:
    ``scalelab.watch.forecast.COOLDOWN_ALLOWANCE``; a ladder's fit says what its rungs' took]."""
    """Judge 'behind forecast' only after this share of training (earlier projections are noisy)."""

    def __post_init__(self) -> None:
        if self.forecast_metric is not None and self.forecast_metric == self.loss_name:
            object.__setattr__(self, "forecast_metric", None)  # one series: the watched loss is the forecast's
        for name, option, lo, hi in LIMITS:
            value = getattr(self, name)
            if value is not None and not (lo <= value <= hi):
                raise InputError(f"{option} {value:g}: give a value in [{lo:g}, {hi:g}]")
        if self.fit is None and self.forecast is not None:
            f = self.forecast
            for name, option, mine in (("params", "--params", self.params), ("tokens", "--tokens", self.final_tokens)):
                theirs = getattr(f, name)
                if mine is not None and theirs is not None and not math.isclose(mine, theirs, rel_tol=1e-6):
                    raise InputError(f"{option} {mine:g}: the plan's forecast is for {name} {theirs:g}; give --fit "
                                     "fit.json to forecast this run")
        if self.fit is not None:
            law = self.fit.law_
            if "tokens" not in law.inputs:
                raise InputError(f"watch compares a run with a law of N and D (chinchilla); this fit is a {law.name} "
                                 "law; refit with scalelab fit RUNS --law chinchilla")
            if not self.params:
                raise InputError("comparing with a forecast needs the run's size: give --params N (and --tokens D), "
                                 "or --plan plan.json")

    @classmethod
    def from_plan(cls, plan=None, **given) -> WatchSettings:
        """Settings from the values given, a plan (``scalelab.planning.Plan``) filling the
        run's size, length, throughput, GPUs, price and budget where they are not given, and
        the fit's own facts (:func:`fit_facts`: a ladder's metric and target) where neither does."""
        facts = fit_facts(given.get("fit"))
        facts |= {} if plan is None else {
            "params": plan.params.active, "final_tokens": plan.tokens, "planned_tokens_per_s": plan.tokens_per_s,
            "num_gpus": plan.run.num_gpus, "price_usd_per_gpu_hour": plan.run.accelerator.price_usd_per_hour,
            "budget_usd": plan.run.cost_usd, "forecast": plan.forecast}
        return cls(**(facts | {k: v for k, v in given.items() if v is not None}))

    def for_metrics(self, names: list[str], source: str) -> WatchSettings:
        """These settings with ``loss_name`` resolved against a log's metric names: with a
        ``forecast_metric`` and no ``loss_name``, the log's training loss when it has one,
        else the forecast metric (a log's first rows may come before its first evaluation:
        the forecast metric is then compared once it is logged)."""
        f = self.forecast_metric
        if f is not None and self.loss_name is None:
            try:
                name = pick_loss_name([n for n in names if n != f], None, source)
            except InputError:
                name = pick_loss_name(names, f, source)
            return dataclasses.replace(self, loss_name=name)
        return dataclasses.replace(self, loss_name=pick_loss_name(names, self.loss_name, source))


@dataclass(frozen=True)
class Status:
    """Where a watched run stands (:meth:`Monitor.status`)."""

    run: str
    points: int
    step: int | None
    loss: float | None
    tokens: float | None
    replaced_steps: int
    rewinds: int
    alerts: tuple[det.Alert, ...]
    tokens_per_s: float | None
    """Median of the recent logged (or derived) throughput."""
    planned_tokens_per_s: float | None
    elapsed_hours: float | None
    fraction_done: float | None = None
    eta_hours: float | None = None
    spent_usd: float | None = None
    projected_cost_usd: float | None = None
    budget_usd: float | None = None
    projection: Projection | None = None
    forecast_metric: str | None = None
    """The metric the forecast is of, where it is not the watched loss (a ladder's val_bpb)."""
    forecast_value: float | None = None
    """Its latest value."""
    unjudged: str | None = None
    """Why a run that has a forecast is not set against it (a log that counts no tokens)."""

    def eta(self) -> str | None:
        """The time left in words: '3.2 h (41.0% done)', or 'none left: 100.1% of the planned
        tokens trained'; None without a planned token count and a rate."""
        from scalelab.units import duration

        if self.fraction_done is not None and self.fraction_done >= 1:
            return f"none left: {100 * self.fraction_done:.1f}% of the planned tokens trained"
        if self.eta_hours is None or self.fraction_done is None:
            return None
        return f"{duration(3600 * self.eta_hours)} ({100 * self.fraction_done:.1f}% done)"

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["alerts"] = [a.to_dict() for a in self.alerts]
        d["projection"] = None if self.projection is None else self.projection.to_dict()
        return d


def fit_facts(fit) -> dict:
    """What a saved fit says about the run it forecasts (``scalelab ladder fit --out``
    records them): the metric it was fitted to, as ``forecast_metric``, its target's N and D, as
    ``params`` and ``final_tokens``, and what its WSD rungs' cooldowns took off their
    projections, as ``cooldown_allowance``. Empty for a fit that says nothing."""
    prov = getattr(fit, "provenance_", None) or {}
    target = prov.get("target") or {}
    facts = {"forecast_metric": prov.get("metric"), "params": target.get("params"), "final_tokens": target.get("tokens"),
             "cooldown_allowance": (prov.get("cooldown") or {}).get("allowance")}
    return {k: v for k, v in facts.items() if v is not None}


def lasting(alerts: list[det.Alert]) -> list[det.Alert]:
    """The spikes whose next point is a spike too (each point's own alert, ``merge=False``),
    seen when that next point is. A grad norm several times its level for one step and back
    the next is one odd batch, which healthy runs have every few hundred steps (the gradient
    is clipped); one that stays up (BLOOM's rose over several steps before its loss spike)
    is an event."""
    by = {a.index: a for a in alerts}
    return [det.Alert(a.kind, a.index, a.step, max(a.seen_index, by[a.index + 1].seen_index), a.value, a.message)
            for a in alerts if a.index + 1 in by]


@dataclass
class Monitor:
    """A run's curve as it arrives, its detectors, and its standing (see the module docstring)."""

    settings: WatchSettings
    name: str = "run"
    steps: list = field(default_factory=list)
    tokens: list = field(default_factory=list)
    wall: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    loss_repaired: list = field(default_factory=list)  # spikes replaced by the local curve
    grad_norm: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    """The learning rate at each point: from its row, else the last one logged before it."""
    _lr_now: float = math.nan
    rate: list = field(default_factory=list)
    step_secs: list = field(default_factory=list)  # a step's logged duration, in seconds
    alerts: list = field(default_factory=list)
    replaced: int = 0
    rewinds: int = 0
    last_update_wall: float | None = None
    _seen: set = field(default_factory=set)
    _last_index: dict = field(default_factory=dict)
    _checked: int = 0  # points before this index have had every detector that needs no future point
    _group: int | None = None  # steps per throughput sample, fixed once the run's step interval is known
    _counts_samples: bool = False  # the log counts consumed samples (sequences), Megatron's way
    _projection: Projection | None = None
    _forecast: Forecast | None = None
    # the forecast metric's own points where it is not the watched loss (steps, tokens, value, lr)
    f_steps: list = field(default_factory=list)
    f_tokens: list = field(default_factory=list)
    f_values: list = field(default_factory=list)
    f_lr: list = field(default_factory=list)

    # ------------------------------------------------------------- ingest
    def update(self, frame, now_wall: float | None = None) -> list[det.Alert]:
        """Add rows (a DataFrame with ``step``, ``tokens``, ``wall_time`` and metrics)."""
        if frame is None or len(frame) == 0:
            return []
        if self.settings.loss_name is None:
            self.settings = self.settings.for_metrics([c for c in frame.columns if c not in ROLE_COLUMNS], self.name)
        s = self.settings
        cols = set(frame.columns)
        self._counts_samples = self._counts_samples or "consumed_samples" in cols
        rate_col = next((c for c in THROUGHPUT_NAMES if c in cols), None)
        time_col = next((c for c in STEP_TIME_NAMES if c in cols), None)
        gn_col = next((c for c in GRAD_NORM_NAMES if c in cols), None)
        lr_col = lr_column(frame.columns)
        first_new = len(self.steps)
        found: list[det.Alert] = []
        for r in frame.to_dict("records"):  # (itertuples would rename columns like "train/loss")
            step = int(r["step"])
            if lr_col and math.isfinite(_f(r.get(lr_col))):
                self._lr_now = _f(r.get(lr_col))  # training rows carry it; evaluation rows may not
            logged = not math.isnan(_f(r.get(s.loss_name)))
            if s.forecast_metric:
                if logged and self.steps and step < self.steps[-1]:
                    self._cut_forecast_series(step)  # a restart: the evaluations of the abandoned stretch go too
                if not math.isnan(_f(r.get(s.forecast_metric))):
                    self._cut_forecast_series(step)  # a repeated step replaces the one before
                    self.f_steps.append(step)
                    self.f_tokens.append(_f(r.get("tokens")))
                    self.f_values.append(_f(r.get(s.forecast_metric)))
                    self.f_lr.append(self._lr_now)
            if not logged:
                continue  # the watched metric was not logged in this row (NaN = not logged)
            if self.steps and step <= self.steps[-1]:
                if step == self.steps[-1]:
                    self.replaced += 1
                    self._pop()
                else:
                    if first_new < len(self.steps):  # the stretch the restart abandons is judged first,
                        found += self._detect(first_new)  # as it would have been had it come alone
                        first_new = len(self.steps)
                    cut = int(np.searchsorted(np.asarray(self.steps), step))
                    self.rewinds += 1
                    while len(self.steps) > cut:
                        self._pop()
                first_new = min(first_new, len(self.steps))
                self._checked = min(self._checked, len(self.steps))
            self.steps.append(step)
            self.tokens.append(_f(r.get("tokens")))
            self.wall.append(_f(r.get("wall_time")))
            self.loss.append(_f(r.get(s.loss_name)))
            self.loss_repaired.append(self.loss[-1])
            self.grad_norm.append(_f(r.get(gn_col)) if gn_col else math.nan)
            self.rate.append(_f(r.get(rate_col)) if rate_col else math.nan)
            self.step_secs.append(_f(r.get(time_col)) * STEP_TIME_NAMES[time_col] if time_col else math.nan)
            self.lr.append(self._lr_now)
        self.last_update_wall = now_wall if now_wall is not None else (self.wall[-1] if self.wall else None)
        return found + self._detect(first_new)

    def _cut_forecast_series(self, step: int) -> None:
        """Drop the forecast metric's points from ``step`` on."""
        while self.f_steps and self.f_steps[-1] >= step:
            for arr in (self.f_steps, self.f_tokens, self.f_values, self.f_lr):
                arr.pop()

    def _pop(self) -> None:
        for arr in (self.steps, self.tokens, self.wall, self.loss, self.loss_repaired, self.grad_norm, self.rate,
                    self.step_secs, self.lr):
            arr.pop()

    # ------------------------------------------------------------- detect
    def _detect(self, first_new: int) -> list[det.Alert]:
        s = self.settings
        n = len(self.steps)
        lo = max(0, min(first_new, self._checked) - HISTORY)
        steps = np.asarray(self.steps[lo:])
        loss = np.asarray(self.loss[lo:], float)
        toks = np.asarray(self.tokens[lo:], float)
        start = max(0, min(first_new, self._checked) - 1 - lo)  # a spike at the last old point needs this new one
        found = []
        found += det.nonfinite(steps, loss, s.loss_name, start=max(0, first_new - lo))
        fixed = np.asarray(self.loss_repaired[lo:], float)
        found += det.spike(steps, fixed, toks, z=s.spike_z, min_rel_jump=s.spike_min_rel_jump, start=start,
                           name=s.loss_name, repaired=fixed, merge=False)
        with np.errstate(invalid="ignore"):
            self.loss_repaired[lo:] = [x if np.isfinite(x) else raw for x, raw in zip(fixed, self.loss[lo:])]
        found += det.shift(steps, fixed, toks, start=max(0, first_new - lo - (det.SHIFT_POINTS - 1)), name=s.loss_name)
        found += det.divergence(steps, loss, toks, k=s.divergence_evals, min_rel_rise=s.divergence_min_rise,
                                settled=int(np.searchsorted(steps, s.burn_in_steps)),
                                start=max(0, first_new - lo), name=s.loss_name, offset=lo)
        gn = np.asarray(self.grad_norm[lo:], float)
        found += det.nonfinite(steps, np.where(np.isnan(gn), 0.0, gn), "grad norm", start=max(0, first_new - lo))
        if np.isfinite(gn).sum() >= 10:
            found += lasting(det.spike(steps, gn, None, z=s.spike_z, min_rel_jump=GRAD_NORM_MIN_JUMP, start=start,
                                       name="grad norm", kind="grad_norm_spike", merge=False))
        found += [det.Alert(a.kind, a.index - lo, a.step, a.seen_index - lo, a.value, a.message)
                  for a in self._throughput(min(first_new, self._checked))]
        found = [a for a in found if a.step >= s.burn_in_steps or a.kind not in BURN_IN_KINDS]
        new = []
        for a in sorted(found, key=lambda a: a.index):
            a = det.Alert(a.kind, a.index + lo, a.step, a.seen_index + lo, a.value, a.message)
            key = (a.kind, a.step)
            if key in self._seen:
                continue
            self._seen.add(key)
            last = self._last_index.get(a.kind)
            self._last_index[a.kind] = a.index if last is None else max(last, a.index)  # (one found late starts earlier)
            if last is not None and a.index <= last + 1:
                continue  # the same event, still going
            new.append(a)
        self._checked = n
        new += self._forecast_alert()
        self.alerts += new
        return new

    def _throughput(self, first_new: int) -> list[det.Alert]:
        """The throughput rule over samples of at least :data:`THROUGHPUT_SAMPLE_S` (the median
        rate of each group of steps; whole groups only, counted from the first step, so that a
        log read whole and the same log watched live are grouped alike); indices absolute."""
        s = self.settings
        g = self._steps_per_sample()
        if g is None:
            return []
        rate_all = self._rates()
        lo = max(0, (first_new // g - THROUGHPUT_HISTORY) * g)
        hi = lo + (len(rate_all) - lo) // g * g
        if hi <= lo:
            return []
        groups = rate_all[lo:hi].reshape(-1, g)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a group without a rate is NaN
            rate = np.nanmedian(groups, axis=1) if g > 1 else groups[:, 0]
        if not (np.isfinite(rate).sum() >= 10 or (s.planned_tokens_per_s and np.isfinite(rate).any())):
            return []
        ends = np.asarray(self.steps[lo + g - 1:hi:g])  # a sample is dated by its last step
        unit = "samples" if g == 1 else f"samples of {g} steps"
        found = det.throughput_drop(ends, rate, planned=s.planned_tokens_per_s, drop=s.throughput_drop,
                                    k=s.throughput_evals, start=max(0, (first_new - lo) // g), unit=unit)
        return [det.Alert(a.kind, lo + a.index * g + g - 1, a.step, lo + a.seen_index * g + g - 1, a.value, a.message)
                for a in found]

    def _steps_per_sample(self) -> int | None:
        """Steps per throughput sample: 1, or as many as span :data:`THROUGHPUT_SAMPLE_S` at
        the median interval of the first 50 (None until those are known, when the first ones
        are shorter than that)."""
        if self._group is not None:
            return self._group
        w = np.asarray(self.wall[:51], float)
        dw = np.diff(w[np.isfinite(w)])
        dw = dw[dw > 0]
        dt = float(np.median(dw)) if dw.size else math.inf
        g = 1 if dt >= THROUGHPUT_SAMPLE_S else max(1, math.ceil(THROUGHPUT_SAMPLE_S / dt))
        if len(self.wall) >= 51:
            self._group = g
        elif g > 1:
            return None
        return g

    def _rates(self) -> np.ndarray:
        """tokens/s: the logged throughput; else the tokens a step trains on over its logged
        duration (:data:`STEP_TIME_NAMES`); else Δtokens/Δwall-time between logged points."""
        r = np.asarray(self.rate, float)
        if np.isfinite(r).any():
            return r
        t, w = np.asarray(self.tokens, float), np.asarray(self.wall, float)
        out = np.full(len(t), np.nan)
        if len(t) > 1:
            dt, dw = np.diff(t), np.diff(w)
            secs = np.asarray(self.step_secs[1:], float)
            with np.errstate(divide="ignore", invalid="ignore"):
                if np.isfinite(secs).any():  # the tokens of one step of the stretch, over a step's time
                    per_step = dt / np.diff(np.asarray(self.steps, float))
                    out[1:] = np.where(secs > 0, per_step / secs, np.nan)
                else:
                    out[1:] = np.where(dw > 0, dt / dw, np.nan)
        return out

    def run_forecast(self) -> Forecast | None:
        """The forecast the run is judged against: the fit's for the run's N and D (made once),
        or the plan's."""
        s = self.settings
        if s.fit is None:
            return s.forecast if s.final_tokens else None
        if self._forecast is None and s.params and s.final_tokens:
            self._forecast = s.fit.forecast(params=s.params, tokens=s.final_tokens, levels=(0.8, s.forecast_level))
        return self._forecast

    def _forecast_alert(self) -> list[det.Alert]:
        s = self.settings
        forecast = self.run_forecast()
        if forecast is None:
            return []
        name, toks, values, lr = self.forecast_series()
        if not np.isfinite(toks).any():
            return []
        self._projection = compare(forecast, s.final_tokens, toks, values, level=s.forecast_level, lr=lr,
                                   allowance=s.cooldown_allowance)
        p = self._projection
        if p is None or not p.behind or p.fraction_done < s.forecast_min_fraction or ("behind_forecast",) in self._seen:
            return []
        self._seen.add(("behind_forecast",))
        i = len(self.steps) - 1
        return [det.Alert("behind_forecast", i, int(self.steps[i]), i, p.projected_final,
                          f"projected final {name} {p.projected_final:.4g} is above the forecast's "
                          f"{100 * s.forecast_level:g}% interval ({p.band.lo:.4g}-{p.band.hi:.4g}, point "
                          f"{p.forecast.loss:.4g}) at {100 * p.fraction_done:.0f}% of training{p.units_hint()}")]

    def forecast_series(self) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """The metric the forecast is of, and its points: ``(name, tokens, values, lr)`` (the
        watched loss itself unless ``forecast_metric`` names another)."""
        if self.settings.forecast_metric:
            return (self.settings.forecast_metric, np.asarray(self.f_tokens, float), np.asarray(self.f_values, float),
                    np.asarray(self.f_lr, float))
        return (self.settings.loss_name or "loss", np.asarray(self.tokens, float), np.asarray(self.loss, float),
                np.asarray(self.lr, float))

    def stall_minutes(self) -> float:
        """How long without a new step is a hang: the ``stall_minutes`` setting, or from the
        run's own cadence over its last 200 intervals (:func:`scalelab.watch.detectors.stall_minutes`)."""
        if self.settings.stall_minutes is not None:
            return self.settings.stall_minutes
        w = np.asarray(self.wall[-201:], float)
        return det.stall_minutes(np.diff(w[np.isfinite(w)]))

    def finished(self) -> bool:
        """Whether the run has trained the tokens it was to train (a run that has ended is no hang)."""
        d = self.settings.final_tokens
        return bool(d and self.tokens and math.isfinite(self.tokens[-1]) and self.tokens[-1] >= d * (1 - 1e-3))

    def check_stall(self, now_wall: float) -> det.Alert | None:
        if self.last_update_wall is None or not self.steps or self.finished():
            return None
        a = det.stall(self.steps[-1], self.last_update_wall, now_wall, minutes=self.stall_minutes())
        if a is None or ("stall", self.steps[-1]) in self._seen:
            return None
        self._seen.add(("stall", self.steps[-1]))
        self.alerts.append(a)
        return a

    # -------------------------------------------------------------- status
    def status(self) -> Status:
        s = self.settings
        n = len(self.steps)
        rates = self._rates()
        recent = rates[-20:][np.isfinite(rates[-20:])] if n else np.array([])
        rate = float(np.median(recent)) if recent.size else None
        wall = np.asarray(self.wall, float)
        elapsed_h = float(np.nanmax(wall) - np.nanmin(wall)) / 3600 if np.isfinite(wall).sum() >= 2 else None
        tok = self.tokens[-1] if n else math.nan
        fraction = eta = spent = projected = None
        if s.final_tokens and math.isfinite(tok):
            fraction = tok / s.final_tokens
            eta = max(0.0, s.final_tokens - tok) / rate / 3600 if rate else None
        if s.num_gpus and s.price_usd_per_gpu_hour and elapsed_h is not None:
            burn = s.num_gpus * s.price_usd_per_gpu_hour
            spent = elapsed_h * burn
            projected = None if eta is None else (elapsed_h + eta) * burn
        return Status(run=self.name, points=n, step=self.steps[-1] if n else None, loss=self.loss[-1] if n else None,
                      tokens=self.tokens[-1] if n else None, replaced_steps=self.replaced, rewinds=self.rewinds,
                      alerts=tuple(self.alerts), tokens_per_s=rate, planned_tokens_per_s=s.planned_tokens_per_s,
                      elapsed_hours=elapsed_h, fraction_done=fraction, eta_hours=eta, spent_usd=spent,
                      projected_cost_usd=projected, budget_usd=s.budget_usd if projected is not None else None,
                      projection=self._projection, forecast_metric=s.forecast_metric,
                      forecast_value=self.f_values[-1] if s.forecast_metric and self.f_values else None,
                      unjudged=self._unjudged())

    def _unjudged(self) -> str | None:
        """Why the run is not set against the forecast it has: its log counts no tokens."""
        if not self.steps or self.run_forecast() is None:
            return None
        if np.isfinite(np.asarray(self.tokens, float)).any():
            return None
        if self._counts_samples:
            return ("not judged against the forecast: the log counts consumed samples (sequences), not tokens; keep "
                    "the arguments Megatron prints first in the log (their seq_length turns samples into tokens), "
                    "or give --tokens-per-step (global batch x sequence length)")
        return ("not judged against the forecast: the log counts no tokens; give --tokens-per-step "
                "(global batch x sequence length), or in a training loop observe(step, tokens=...)")

    def budget_alert(self) -> det.Alert | None:
        cost = self.status().projected_cost_usd
        s = self.settings
        if not s.budget_usd or cost is None or ("over_budget",) in self._seen:
            return None
        if cost <= s.budget_usd * 1.05:
            return None
        self._seen.add(("over_budget",))
        i = len(self.steps) - 1
        a = det.Alert("over_budget", i, int(self.steps[i]), i, cost,
                      f"projected cost ${cost:,.0f} exceeds the budget ${s.budget_usd:,.0f} "
                      f"by {100 * (cost / s.budget_usd - 1):.0f}% at the current throughput")
        self.alerts.append(a)
        return a


def _f(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v
