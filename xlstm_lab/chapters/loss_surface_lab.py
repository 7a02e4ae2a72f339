"""The loss-surface chapter's lab half: L(N, D) fitted to our own runs at ctx 256, and a held-out-budget test.

The runs are the IsoFLOP chapter's lab grid (the same plan, so a book build reads its live runs from the store
as "stored earlier") plus the token/param sweep where it is shipped or stored. The surfaces are fitted with the
released-data half's own fitter (:func:`xlstm_lab.chapters.loss_surface.fit_surfaces`). The extrapolation test
fits every budget but the largest and predicts the largest budget's runs; its error is set beside the
seed-to-seed spread of the same runs (:func:`xlstm_lab.chapters.lab.seed_noise`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from xlstm_lab.anchors.paper import PAPER
from xlstm_lab.chapters import lab
from xlstm_lab.chapters.loss_surface import FAMILIES, fit_surfaces
from xlstm_lab.params import ParameterError

__all__ = ["RECIPE", "TOKENPARAM_AROUND", "TOKENPARAM_SIZES", "gather", "surface_runs", "fit_lab_surfaces",
           "parameter_table", "holdout_split", "holdout_test", "holdout_errors", "noise_by_family",
           "noise_verdict", "holdout_phrase", "holdout_curves", "holdout_points"]

RECIPE = ("each family's surface L = E + (A/N^alpha + B/D^beta)^gamma by the released-data half's Huber fit "
          "(delta 1e-3, same start grid), with gamma free and with gamma = 1, on every run at ctx 256: the IsoFLOP "
          "grid with its second seeds and the token/param runs; a row bootstrap of each fit (lab_n_bootstrap "
          "resamples) for the interval of the implied N* exponent; the held-out refit without bootstrap")
"""The fit recipe of the lab half, stated on the page."""

TOKENPARAM_AROUND = 3e11
"""Budget (FLOPs) whose expected optimum centres the shipped token/param sweep's sizes."""

TOKENPARAM_SIZES = 3
"""Sizes per ratio of the shipped token/param sweep."""

_MIN_RUNS = 7  # distinct (N, D) points a gamma-free surface needs per family


def _combine(parts: Sequence[lab.LabRuns]) -> lab.LabRuns:
    frames = [p.runs for p in parts if len(p.runs)]
    runs = pd.concat(frames, ignore_index=True) if frames else parts[0].runs
    runs = runs.drop_duplicates("key").reset_index(drop=True)
    return lab.LabRuns(runs, parts[0].store, sum(p.planned for p in parts),
                       tuple(k for p in parts for k in p.trained_now), tuple(k for p in parts for k in p.failed),
                       tuple(s for p in parts for s in p.skipped), sum(p.estimate_s for p in parts),
                       sum(p.wall_s for p in parts))


def gather(budgets: Sequence[float], ratios: Sequence[float] = (), *, ctx: int = 256, seeds: Sequence[int] = (0,),
           train: bool = True, shipped: pd.DataFrame | None = None, store=None) -> lab.LabRuns:
    """The runs of both families: the IsoFLOP chapter's grid (trained where missing) plus token/param runs.

    Token/param runs are read where shipped or stored and never trained here (the over-training chapter trains
    them); a ratio none of whose runs exist simply adds none.

    Args:
        budgets: IsoFLOP budgets (FLOPs), the IsoFLOP chapter's ``lab_budgets``.
        ratios: tokens per parameter of the token/param sweep (``lab_ratios``; empty: none).
        ctx: context length. seeds: seeds of every IsoFLOP grid point (shipped second seeds are added).
        train: False trains nothing (a dry look). shipped, store: as in :func:`xlstm_lab.chapters.lab.gather`.

    Raises:
        ParameterError: naming ``lab_budgets`` or ``lab_ratios`` (a budget or ratio the corpus cannot hold).
    """
    iso = lab.plan("isoflop", families=FAMILIES, param="lab_budgets", budgets=budgets, ctx=ctx, seeds=seeds)
    parts = [lab.gather(iso, other_seeds=True, train=train, shipped=shipped, store=store)]
    if len(list(ratios)):
        tp = lab.plan("tokenparam", families=FAMILIES, param="lab_ratios", ratios=ratios, ctx=ctx, seeds=seeds,
                      around=TOKENPARAM_AROUND, n_sizes=TOKENPARAM_SIZES)
        parts.append(lab.gather(tp, other_seeds=True, train=False, shipped=shipped, store=store))
    return _combine(parts)


def surface_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Lab runs in the columns of the surface fitters (``loss_surface.select_runs``'s), plus where they came from.

    Returns:
        family, N (params), D (tokens), C (training FLOPs), tokens_per_param, loss (validation, nats/byte),
        budget (the planned budget, FLOPs), sweep, seed, source.
    """
    return pd.DataFrame({
        "family": runs["family"].astype(str), "N": runs["N_params"].astype(float),
        "D": runs["D_tokens"].astype(float), "C": runs["C_flops_training"].astype(float),
        "tokens_per_param": runs["D_tokens"].astype(float) / runs["N_params"].astype(float),
        "loss": runs["val_loss"].astype(float), "budget": runs["budget_flops"].astype(float),
        "sweep": runs["sweep"].astype(str), "seed": runs["seed"].astype(int), "source": runs["source"].astype(str),
    }).reset_index(drop=True)


def _require_runs(data: pd.DataFrame, what: str) -> None:
    distinct = {f: len(data.loc[data["family"] == f, ["N", "D"]].drop_duplicates()) for f in FAMILIES}
    if min(distinct.values()) < _MIN_RUNS:
        raise ParameterError(
            f"parameter 'lab_budgets': {what} has {distinct} distinct (N, D) points per family; a surface needs "
            f">= {_MIN_RUNS}: add budgets (each adds 5 sizes per family)")


def fit_lab_surfaces(data: pd.DataFrame, *, n_bootstrap: int = 0, seed: int | None = 0) -> dict:
    """:func:`~xlstm_lab.chapters.loss_surface.fit_surfaces` on lab runs: {(family, gamma): ParametricFit}.

    Args:
        data: :func:`surface_runs` output. n_bootstrap: row resamples per fit (0: none), for
            :func:`parameter_table`'s intervals. seed: bootstrap seed.

    Raises:
        ParameterError: fewer than 7 distinct runs of a family.
    """
    _require_runs(data, "the lab grid")
    return fit_surfaces(data, n_bootstrap=n_bootstrap, seed=seed)


def parameter_table(fits: Mapping, data: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Fitted parameters per family and form, with the compute-optimal exponents the surface implies.

    Under C = 6ND, N* grows as C^(beta/(alpha+beta)) and D* as C^(alpha/(alpha+beta)) for any gamma; the paper's
    stored surface (ctx 8192, nats/token) gives the same quantities in ``a_N_paper``. E is not comparable: our
    loss is nats per byte of a different corpus. With bootstrap samples in the fits, ``a_N_lo``/``a_N_hi`` are
    the percentile interval of beta/(alpha+beta) over the resamples and ``paper_inside`` says whether the paper's
    a_N lies in it (NaN / None without samples).

    Returns:
        family, gamma_free, runs, E, A, B, alpha, beta, gamma, objective, status, a_N (= beta/(alpha+beta)),
        a_N_lo, a_N_hi, a_D, a_N_paper, paper_inside.
    """
    rows = []
    for (fam, g), fit in fits.items():
        form = "gamma" if g else "nogamma"
        pa, pb = PAPER[f"surface.{form}.{fam}.alpha"].value, PAPER[f"surface.{form}.{fam}.beta"].value
        a_paper = pb / (pa + pb)
        lo = hi = math.nan
        inside = None
        if fit.samples is not None:
            s = fit.samples[np.isfinite(fit.samples["objective"])]
            a = (s["beta"] / (s["alpha"] + s["beta"])).to_numpy()
            if a.size >= 2:
                lo, hi = (float(v) for v in np.percentile(a, [50 * (1 - level), 50 * (1 + level)]))
                inside = bool(lo <= a_paper <= hi)
        rows.append({"family": fam, "gamma_free": bool(g), "runs": int((data["family"] == fam).sum()),
                     "E": fit.E, "A": fit.A, "B": fit.B, "alpha": fit.alpha, "beta": fit.beta, "gamma": fit.gamma,
                     "objective": fit.objective, "status": fit.status,
                     "a_N": fit.beta / (fit.alpha + fit.beta), "a_N_lo": lo, "a_N_hi": hi,
                     "a_D": fit.alpha / (fit.alpha + fit.beta), "a_N_paper": a_paper, "paper_inside": inside})
    return pd.DataFrame(rows)


def holdout_split(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(fit set, held-out set, held-out budget): the largest IsoFLOP budget is held out.

    The held-out set is every IsoFLOP run at the largest budget; the fit set is every run (IsoFLOP or
    token/param) whose planned budget is smaller, so predicting the held-out runs is an extrapolation in compute.

    Raises:
        ParameterError: fewer than two IsoFLOP budgets, or too few runs left to fit.
    """
    iso = data[data["sweep"] == "isoflop"]
    if iso["budget"].nunique() < 2:
        raise ParameterError(
            "parameter 'lab_budgets': the held-out test needs >= 2 IsoFLOP budgets (one held out, the rest "
            f"fitted); got {sorted(iso['budget'].unique())}")
    held_budget = float(iso["budget"].max())
    held = iso[iso["budget"] == held_budget]
    fit_set = data[data["budget"] < held_budget * (1 - 1e-9)]
    _require_runs(fit_set, f"the fit set (budgets below {held_budget:.0e})")
    return fit_set.reset_index(drop=True), held.reset_index(drop=True), held_budget


def holdout_test(data: pd.DataFrame) -> tuple[dict, pd.DataFrame, pd.DataFrame, float]:
    """Fit the surfaces without the largest budget and predict its runs.

    Returns:
        (fits on the fit set, fit set, held-out runs with columns predicted_gamma / predicted_nogamma (nats) and
        error_gamma / error_nogamma (predicted - observed), held-out budget).
    """
    fit_set, held, held_budget = holdout_split(data)
    fits = fit_surfaces(fit_set)
    held = held.copy()
    for fam in FAMILIES:
        m = held["family"] == fam
        for g, tag in ((True, "gamma"), (False, "nogamma")):
            held.loc[m, f"predicted_{tag}"] = fits[(fam, g)].predict(held.loc[m, "N"], held.loc[m, "D"])
    for tag in ("gamma", "nogamma"):
        held[f"error_{tag}"] = held[f"predicted_{tag}"] - held["loss"]
    return fits, fit_set, held, held_budget


def noise_by_family(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed-to-seed spread per family from :func:`~xlstm_lab.chapters.lab.seed_noise` (export-column runs).

    Returns:
        family, pairs (grid points with >= 2 seeds), mean_spread, max_spread (max - min loss, nats), mean_sd.
        A family without any repeated grid point has pairs 0 and NaN spreads.
    """
    noise = lab.seed_noise(runs)
    rows = []
    for fam in FAMILIES:
        g = noise[noise["family"] == fam]
        rows.append({"family": fam, "pairs": len(g),
                     "mean_spread": float(g["spread"].mean()) if len(g) else math.nan,
                     "max_spread": float(g["spread"].max()) if len(g) else math.nan,
                     "mean_sd": float(g["sd"].mean()) if len(g) else math.nan})
    return pd.DataFrame(rows)


def noise_verdict(error: float, noise: float) -> str:
    """"within" if a held-out error is at most the seed noise, "beyond" if larger, "not comparable" without noise.

    Both are absolute losses in nats (e.g. mean absolute error against mean seed-to-seed spread).
    """
    if not (math.isfinite(error) and math.isfinite(noise)):
        return "not comparable"
    return "within" if abs(error) <= noise else "beyond"


_NAMES = {"xlstm": "xLSTM", "llama": "the Transformer"}


def holdout_phrase(errors: pd.DataFrame) -> str:
    """How the held-out error compares with the seed noise, for the prose (from :func:`holdout_errors`).

    E.g. "within the seed noise for both families" or "beyond the seed noise for xLSTM but within it for the
    Transformer"; a family without repeated grid points has "no seed noise to compare with".
    """
    v = dict(zip(errors["family"], errors["mean_verdict"]))
    if len(set(v.values())) == 1 and "not comparable" not in v.values():
        return f"{next(iter(v.values()))} the seed noise for both families"
    parts = [f"{word} the seed noise for {_NAMES.get(f, f)}" if word != "not comparable" else
             f"with no seed noise to compare with for {_NAMES.get(f, f)}" for f, word in v.items()]
    return " but ".join(parts)


def holdout_errors(held: pd.DataFrame, noise: pd.DataFrame, gamma: bool = True) -> pd.DataFrame:
    """Per family: the held-out error of one form beside the seed noise, with a verdict word for each.

    Returns:
        family, runs, mean_abs, max_abs, bias (mean of predicted - observed), mean_spread, max_spread,
        mean_verdict (mean_abs against mean_spread), max_verdict (max_abs against max_spread).
    """
    col = f"error_{'gamma' if gamma else 'nogamma'}"
    rows = []
    for fam in FAMILIES:
        e = held.loc[held["family"] == fam, col].to_numpy(float)
        nz = noise.set_index("family").loc[fam]
        mean_abs = float(np.abs(e).mean()) if e.size else math.nan
        max_abs = float(np.abs(e).max()) if e.size else math.nan
        rows.append({"family": fam, "runs": int(e.size), "mean_abs": mean_abs, "max_abs": max_abs,
                     "bias": float(e.mean()) if e.size else math.nan, "mean_spread": float(nz["mean_spread"]),
                     "max_spread": float(nz["max_spread"]),
                     "mean_verdict": noise_verdict(mean_abs, float(nz["mean_spread"])),
                     "max_verdict": noise_verdict(max_abs, float(nz["max_spread"]))})
    return pd.DataFrame(rows)


def holdout_curves(fits: Mapping, data: pd.DataFrame, gamma: bool = True, n_points: int = 30) -> pd.DataFrame:
    """The held-out fit's loss along each IsoFLOP budget, for the chart.

    Along a budget, D = C / f(N): C is the median training FLOPs of the budget's runs, and f(N), the training
    FLOPs per token, is interpolated (linear in log-log) between that budget's runs; N spans the budget's runs
    only.

    Returns:
        family, budget (label like 3e+11), N, loss.
    """
    iso = data[data["sweep"] == "isoflop"]
    parts = []
    for (fam, budget), g in iso.groupby(["family", "budget"]):
        per = (g["C"] / g["D"]).groupby(g["N"]).median()
        ln_n, ln_f = np.log(per.index.to_numpy(float)), np.log(per.to_numpy(float))
        n = np.exp(np.linspace(ln_n.min(), ln_n.max(), n_points))
        d = float(g["C"].median()) / np.exp(np.interp(np.log(n), ln_n, ln_f))
        parts.append(pd.DataFrame({"family": fam, "budget": f"{budget:.0e}", "N": n,
                                   "loss": fits[(fam, gamma)].predict(n, d)}))
    return pd.concat(parts, ignore_index=True)


def holdout_points(data: pd.DataFrame, held_budget: float) -> pd.DataFrame:
    """The IsoFLOP runs for the chart: family, budget (label), N, loss, role ("fitted"/"held out"), seed, source."""
    iso = data[data["sweep"] == "isoflop"]
    role = np.where(np.isclose(iso["budget"], held_budget, rtol=1e-9), "held out", "fitted")
    return pd.DataFrame({"family": iso["family"], "budget": iso["budget"].map(lambda b: f"{b:.0e}"), "N": iso["N"],
                         "loss": iso["loss"], "role": role, "seed": iso["seed"], "source": iso["source"]})
