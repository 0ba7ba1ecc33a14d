"""Daily mDAU in two segments (US, international), fitted to the quarterly actuals.

Per segment, log mDAU is a trend with an explicit COVID-19 shock::

    log m(t) = a + b t + s g(t) + c (t - t_peak)+ + x (t - t_adj)+ + log(1 + lift F(t)) + e(t)

``g`` is the shock: 0 before mid-February 2020, ramping to 1 by mid-May 2020 and staying there
(the level it added lasts). ``c`` is the change of trend growth after the shock: the data show
the shock pulled growth forward (about 22% a year before it, about 8% after), so the projected
trend is the post-shock one, ``b + c``. ``a, b, s, c`` are least squares on log mDAU, using each
quarter's mean of ``g`` and of the kink because the actuals are quarterly averages of days.

``x`` is extra annual growth a scenario adds (``analyst-day`` solves it for the 315M goal);
``lift`` is how much more often a Spaces adopter is a daily user, with Spaces adoption ``F`` a
Bass curve from launch (``spaces-boost`` solves it for the goal). Uncertainty per replication:
parameters drawn from the fit's covariance, an extra growth-rate shock after the last actual
(``growth_sd``), and AR(1) day-to-day noise.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import signal

from sim.actuals import ANALYST_DAY_GOAL_QUARTER, SEGMENTS, quarterly_mdau
from sim.diffusion import bass_adopted, validate_bass

FloatArray = NDArray[np.float64]
EPOCH = pd.Timestamp("2019-01-01")
SHOCK_START = pd.Timestamp("2020-02-15")  # first lockdowns
SHOCK_PEAK = pd.Timestamp("2020-05-15")  # the Q2 2020 level is fully in
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class UserParams:
    """Growth of monetizable daily active users."""

    start: date = date(2019, 1, 1)
    end: date = date(2023, 12, 31)
    covid_shock: bool = True  # fit the 2020 step as a shock; False folds it into the trend
    extra_growth: float = 0.0  # extra annual log-growth from adjust_from on (both segments)
    adjust_from: date = date(2021, 4, 1)  # first day after the last published quarter
    target_mdau_m: float = 0.0  # > 0: solve extra_growth so the target quarter's median hits it
    target_quarter: str = ANALYST_DAY_GOAL_QUARTER
    growth_sd: float = 0.03  # sd of the annual growth-rate shock after the last actual
    daily_noise_sd: float = 0.01  # stationary sd of day-to-day log noise
    daily_noise_ar: float = 0.97  # AR(1) coefficient of that noise
    parameter_uncertainty: bool = True  # draw a, b, s from the fit's covariance

    def validate(self) -> None:
        if self.end <= self.start:
            raise ValueError("users.end: must be after users.start")
        if self.start > date(2019, 1, 1) or self.end < date(2021, 3, 31):
            raise ValueError("users.start/end: the horizon must cover 2019-01-01..2021-03-31")
        for name in ("growth_sd", "daily_noise_sd", "target_mdau_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"users.{name}: must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.daily_noise_ar < 1:
            raise ValueError(f"users.daily_noise_ar: must be in [0, 1), got {self.daily_noise_ar}")
        if not -0.5 <= self.extra_growth <= 1.0:
            raise ValueError(f"users.extra_growth: must be in [-0.5, 1], got {self.extra_growth}")
        try:
            pd.Period(self.target_quarter, freq="Q")
        except ValueError as error:
            raise ValueError(f"users.target_quarter: not a quarter like 2023Q4: "
                             f"{self.target_quarter!r}") from error
        if self.target_mdau_m > 0:
            self.check_target_quarter()

    def check_target_quarter(self) -> None:
        quarter = pd.Period(self.target_quarter, freq="Q")
        if not (pd.Timestamp(self.start) <= quarter.start_time
                and quarter.end_time <= pd.Timestamp(self.end) + pd.Timedelta(days=1)):
            raise ValueError(f"users.target_quarter: {self.target_quarter} is outside the "
                             f"horizon {self.start}..{self.end}")


@dataclass(frozen=True)
class SpacesParams:
    """Spaces adoption among users and the mDAU lift it brings (the spaces-boost mechanism)."""

    launch: date = date(2020, 12, 17)  # iOS beta
    bass_p: float = 0.03  # per year (Sultan, Farley & Lehmann 1990)
    bass_q: float = 0.38
    mdau_lift: float = 0.0  # adopters are (1 + lift) times as likely to be daily users
    target_mdau_m: float = 0.0  # > 0: solve mdau_lift so the target quarter's median hits it
    #: Listening per active user at launch, as a multiple of the steady level the room
    #: parameters describe; it decays to 1 with the half-life below (``sim.novelty``). Default 1
    #: (no novelty, today's outputs): no public figure of Spaces' early listening exists, so a
    #: novelty burst is a scenario choice, e.g. 2.0 with a half-life of 60 days.
    listening_novelty: float = 1.0
    #: Days for listening to get halfway from the novelty level to the steady one. Scenario
    #: assumption (it only matters when ``listening_novelty`` != 1): 90 days, about a quarter.
    listening_half_life_days: float = 90.0

    def validate(self) -> None:
        validate_bass("spaces", self.bass_p, self.bass_q)
        if not 0 <= self.mdau_lift <= 50:
            raise ValueError(f"spaces.mdau_lift: must be in [0, 50], got {self.mdau_lift}")
        if self.target_mdau_m < 0:
            raise ValueError(f"spaces.target_mdau_m: must be >= 0, got {self.target_mdau_m}")
        if not 0 < self.listening_novelty <= 100:
            raise ValueError(
                f"spaces.listening_novelty: must be in (0, 100], got {self.listening_novelty}"
            )
        if not self.listening_half_life_days > 0:
            raise ValueError(
                "spaces.listening_half_life_days: must be > 0, "
                f"got {self.listening_half_life_days}"
            )


@dataclass(frozen=True)
class SegmentFit:
    """Least-squares fit of one segment: coefficients a, b, s, c (per year) and covariance."""

    segment: str
    coef: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    rmse_log: float

    @property
    def growth_before_pct(self) -> float:
        return 100.0 * (math.exp(self.coef[1]) - 1.0)

    @property
    def growth_after_pct(self) -> float:
        return 100.0 * (math.exp(self.coef[1] + self.coef[3]) - 1.0)

    @property
    def shock_pct(self) -> float:
        return 100.0 * (math.exp(self.coef[2]) - 1.0)


def years_since_epoch(days: pd.DatetimeIndex | pd.Series) -> FloatArray:
    delta = pd.DatetimeIndex(days) - EPOCH
    return np.asarray(delta.days, dtype=float) / DAYS_PER_YEAR


def _year(day: pd.Timestamp | date) -> float:
    return float(years_since_epoch(pd.DatetimeIndex([pd.Timestamp(day)]))[0])


def design_matrix(t: FloatArray, covid_shock: bool) -> FloatArray:
    """Columns: 1, t, shock g(t), post-shock kink (t - t_peak)+ (or just 1, t without shock)."""
    if not covid_shock:
        return np.column_stack([np.ones_like(t), t, np.zeros_like(t), np.zeros_like(t)])
    t0, t1 = _year(SHOCK_START), _year(SHOCK_PEAK)
    shock = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)
    return np.column_stack([np.ones_like(t), t, shock, np.maximum(t - t1, 0.0)])


def _quarter_design(covid_shock: bool) -> FloatArray:
    quarters = quarterly_mdau()
    rows = [
        design_matrix(years_since_epoch(pd.date_range(start, end, freq="D")), covid_shock)
        .mean(axis=0)
        for start, end in zip(quarters["start"], quarters["end"], strict=True)
    ]
    return np.array(rows)


def fit_segment(segment: str, covid_shock: bool = True) -> SegmentFit:
    """Least squares of log quarterly mDAU on the design (shock columns only if asked)."""
    y = np.log(quarterly_mdau()[segment].to_numpy())
    design = _quarter_design(covid_shock)
    used = [0, 1, 2, 3] if covid_shock else [0, 1]
    coef_used, *_ = np.linalg.lstsq(design[:, used], y, rcond=None)
    residuals = y - design[:, used] @ coef_used
    sigma2 = float(residuals @ residuals) / max(len(y) - len(used), 1)
    coef = np.zeros(4)
    coef[used] = coef_used
    cov = np.zeros((4, 4))
    cov[np.ix_(used, used)] = sigma2 * np.linalg.inv(design[:, used].T @ design[:, used])
    return SegmentFit(
        segment=segment,
        coef=tuple(float(v) for v in coef),
        cov=tuple(tuple(float(v) for v in row) for row in cov),
        rmse_log=math.sqrt(float(residuals @ residuals) / len(y)),
    )


@cache
def _fits(covid_shock: bool) -> dict[str, SegmentFit]:
    return {segment: fit_segment(segment, covid_shock) for segment in SEGMENTS}


def fits(params: UserParams) -> dict[str, SegmentFit]:
    """The segment fits these parameters ask for (cached)."""
    return _fits(params.covid_shock)


def fit_table(params: UserParams | None = None) -> pd.DataFrame:
    """The fitted parameters of both segments, for reports."""
    return pd.DataFrame(
        [
            {
                "segment": f.segment,
                "growth_before_shock_pct_per_year": f.growth_before_pct,
                "covid_shock_pct": f.shock_pct,
                "growth_after_shock_pct_per_year": f.growth_after_pct,
                "rmse_log": f.rmse_log,
            }
            for f in fits(params or UserParams()).values()
        ]
    )


def horizon(params: UserParams) -> pd.DatetimeIndex:
    return pd.date_range(params.start, params.end, freq="D")


def _segment_path(design: FloatArray, coef: FloatArray, extra: FloatArray,
                  log_lift: FloatArray, noise: FloatArray) -> FloatArray:
    return np.asarray(np.exp(design @ coef + extra + log_lift + noise))


def _central_paths(params: UserParams, spaces: SpacesParams) -> dict[str, FloatArray]:
    days = horizon(params)
    t = years_since_epoch(days)
    extra = _extra_growth(t, params, params.extra_growth)
    log_lift = _log_lift(days, spaces, spaces.mdau_lift)
    design = design_matrix(t, params.covid_shock)
    return {
        seg: _segment_path(design, np.array(f.coef), extra, log_lift, np.zeros_like(t))
        for seg, f in fits(params).items()
    }


def _extra_growth(t: FloatArray, params: UserParams, rate: float) -> FloatArray:
    return np.asarray(rate * np.maximum(t - _year(params.adjust_from), 0.0))


def _log_lift(days: pd.DatetimeIndex, spaces: SpacesParams, lift: float) -> FloatArray:
    since = np.asarray((days - pd.Timestamp(spaces.launch)).days, dtype=float) / DAYS_PER_YEAR
    adopted = np.where(since > 0, bass_adopted(since, spaces.bass_p, spaces.bass_q), 0.0)
    return np.asarray(np.log1p(lift * adopted))


def quarter_mean(days: pd.DatetimeIndex, values: FloatArray, quarter: str) -> float:
    mask = days.to_period("Q") == pd.Period(quarter, freq="Q")
    return float(values[mask].mean())


def _solve(objective: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """Bisection for an increasing objective; raises when the target is out of reach."""
    if objective(hi) < target:
        raise ValueError(f"target {target:g} out of reach (at most {objective(hi):.1f})")
    if objective(lo) >= target:
        return lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if objective(mid) < target else (lo, mid)
    return 0.5 * (lo + hi)


def required_extra_growth(params: UserParams, spaces: SpacesParams, target_m: float) -> float:
    """Extra annual log-growth from ``adjust_from`` so the target quarter's central path hits it."""
    days = horizon(params)

    def total_at(rate: float) -> float:
        paths = _central_paths(dataclasses.replace(params, extra_growth=rate), spaces)
        return quarter_mean(days, paths["us"] + paths["intl"], params.target_quarter)

    return _solve(total_at, target_m, -0.5, 1.0)


def required_spaces_lift(params: UserParams, spaces: SpacesParams, target_m: float) -> float:
    """How much more often Spaces adopters must be daily users for the target quarter to hit it."""
    days = horizon(params)

    def total_at(lift: float) -> float:
        paths = _central_paths(params, dataclasses.replace(spaces, mdau_lift=lift))
        return quarter_mean(days, paths["us"] + paths["intl"], params.target_quarter)

    return _solve(total_at, target_m, 0.0, 50.0)


def resolve_targets(params: UserParams, spaces: SpacesParams) -> tuple[UserParams, SpacesParams]:
    """Turn target_mdau_m settings into the extra growth / Spaces lift that reaches them."""
    if params.target_mdau_m > 0 or spaces.target_mdau_m > 0:
        params.check_target_quarter()
    if params.target_mdau_m > 0:
        rate = required_extra_growth(dataclasses.replace(params, target_mdau_m=0.0), spaces,
                                     params.target_mdau_m)
        params = dataclasses.replace(params, extra_growth=rate, target_mdau_m=0.0)
    if spaces.target_mdau_m > 0:
        lift = required_spaces_lift(params, dataclasses.replace(spaces, target_mdau_m=0.0),
                                    spaces.target_mdau_m)
        spaces = dataclasses.replace(spaces, mdau_lift=lift, target_mdau_m=0.0)
    return params, spaces


def simulate_users(params: UserParams, spaces: SpacesParams, rng: np.random.Generator
                   ) -> pd.DataFrame:
    """One replication of daily mDAU: columns date, us, intl, total (millions)."""
    days = horizon(params)
    t = years_since_epoch(days)
    extra = _extra_growth(t, params, params.extra_growth)
    log_lift = _log_lift(days, spaces, spaces.mdau_lift)
    t_last = _year(params.adjust_from)
    design = design_matrix(t, params.covid_shock)
    out: dict[str, object] = {"date": days}
    ar = params.daily_noise_ar
    for segment, fit in fits(params).items():
        coef = np.array(fit.coef)
        if params.parameter_uncertainty:
            coef = rng.multivariate_normal(coef, np.array(fit.cov))
        drift = rng.normal(0.0, params.growth_sd) * np.maximum(t - t_last, 0.0)
        shocks = rng.normal(0.0, params.daily_noise_sd * math.sqrt(1 - ar * ar), size=len(t))
        noise = signal.lfilter([1.0], [1.0, -ar], shocks)
        out[segment] = _segment_path(design, coef, extra + drift, log_lift, noise)
    frame = pd.DataFrame(out)
    frame["total"] = frame["us"] + frame["intl"]
    return frame
