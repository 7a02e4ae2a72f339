"""Scaling-law fitters (torch-free): parametric loss surface, IsoFLOP optima, power laws, runtime model.

Every fitter takes plain arrays or a DataFrame, validates its input, and raises a subclass of :class:`FitError`
whose message names the offending rows and the fix. Results are frozen dataclasses with a status, the objective,
residuals and intervals (analytic, or bootstrap where asked for). Residuals are observed minus predicted
everywhere.
"""

from xlstm_lab.fit.isoflop import LOSS_COLUMNS, IsoflopFit, fit_isoflop, group_budgets
from xlstm_lab.fit.latency import LATENCY_FORMS, LatencyFit, fit_latency, latency_model
from xlstm_lab.fit.parabola import vertex_interval
from xlstm_lab.fit.parametric import CHINCHILLA_GRID, GAMMA_STARTS, fit_parametric
from xlstm_lab.fit.powerlaw import FewPointsWarning, PowerLawFit, fit_power_law
from xlstm_lab.fit.simulate import simulate_isoflop, simulate_surface
from xlstm_lab.fit.surface import ParametricFit, chinchilla_frontier, huber_objective, surface_loss
from xlstm_lab.fit.types import (
    ConvergenceError,
    FitError,
    InvalidInputError,
    NoInteriorMinimum,
    TooFewPointsError,
    validate_arrays,
)
from xlstm_lab.fit.varpro import fit_varpro

__all__ = [
    "CHINCHILLA_GRID",
    "GAMMA_STARTS",
    "LATENCY_FORMS",
    "LOSS_COLUMNS",
    "ConvergenceError",
    "FewPointsWarning",
    "FitError",
    "InvalidInputError",
    "IsoflopFit",
    "LatencyFit",
    "NoInteriorMinimum",
    "ParametricFit",
    "PowerLawFit",
    "TooFewPointsError",
    "chinchilla_frontier",
    "fit_isoflop",
    "fit_latency",
    "fit_parametric",
    "fit_power_law",
    "fit_varpro",
    "group_budgets",
    "huber_objective",
    "latency_model",
    "simulate_isoflop",
    "simulate_surface",
    "surface_loss",
    "validate_arrays",
    "vertex_interval",
]
