"""Loss-surface chapter: refit L(N, D) on the over-training runs, compare with the stored fits, bootstrap it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from xlstm_lab.anchors.check import AnchorMismatch
from xlstm_lab.anchors.paper import PAPER
from xlstm_lab.fit import ParametricFit, fit_parametric, fit_varpro, huber_objective, surface_loss
from xlstm_lab.fit.types import InvalidInputError

__all__ = [
    "FAMILIES",
    "select_runs",
    "fit_surfaces",
    "stored_params",
    "stored_comparison",
    "parameter_table",
    "identification_table",
    "residual_frame",
    "surface_grid",
    "compute_optimal_frame",
    "compute_optimal_gap",
    "varpro_comparison",
    "is_paper_recipe",
    "require_not_worse",
    "require_close_predictions",
]

FAMILIES: tuple[str, ...] = ("llama", "xlstm")
_PARAMS = ("E", "A", "B", "alpha", "beta", "gamma")
# The paper's fit set: all token/param runs with D/N in [0, 5000] (the largest run ratio is ~2200).
_PAPER_RANGE = (0.0, 5000.0)


def select_runs(runs: pd.DataFrame, min_tokens_per_param: float = 0.0,
                max_tokens_per_param: float = 5000.0) -> pd.DataFrame:
    """Tidy the over-training runs for the surface fits and keep those with D/N in a range.

    Args:
        runs: ``anchors.load_tokenparam_runs()`` (both families).
        min_tokens_per_param, max_tokens_per_param: inclusive D/N range (tokens per parameter).

    Returns:
        One row per run: family ("llama"/"xlstm"), model_size, N (params), D (tokens), C (training FLOPs, the
        paper's count), tokens_per_param, preset (NaN for "extra" runs), loss (DCLM validation, nats/token).

    Raises:
        InvalidInputError: an empty range, or fewer than 7 runs of a family left (a 6-parameter fit needs 7).
    """
    if not min_tokens_per_param < max_tokens_per_param:
        raise InvalidInputError(
            f"select_runs: min_tokens_per_param ({min_tokens_per_param}) must be < max_tokens_per_param "
            f"({max_tokens_per_param})."
        )
    out = pd.DataFrame({
        "family": runs["family_label"], "model_size": runs["model_size"], "N": runs["N_params"].astype(float),
        "D": runs["D_tokens"].astype(float), "C": runs["C_flops_training"].astype(float),
        "tokens_per_param": runs["token_param_ratio"].astype(float), "preset": runs["preset"],
        "loss": runs["val_dclm_loss"].astype(float),
    })
    keep = out["tokens_per_param"].between(min_tokens_per_param, max_tokens_per_param)
    out = out[keep].reset_index(drop=True)
    counts = {fam: int((out["family"] == fam).sum()) for fam in FAMILIES}
    if min(counts.values()) < 7:
        raise InvalidInputError(
            f"select_runs: D/N in [{min_tokens_per_param}, {max_tokens_per_param}] leaves {counts} runs; the "
            "surface with gamma has 6 parameters and needs >= 7 runs per family: widen the range "
            "(runs span D/N 22-2200)."
        )
    return out


def _family(runs: pd.DataFrame, family: str) -> pd.DataFrame:
    return runs[runs["family"] == family]


def fit_surfaces(runs: pd.DataFrame, *, delta: float = 1e-3, n_bootstrap: int = 0, seed: int | None = 0) -> dict:
    """Huber L-BFGS fits with and without gamma, per family.

    Args:
        runs: :func:`select_runs` output. delta: Huber threshold on log-loss residuals.
        n_bootstrap: resamples per fit (0: none). seed: bootstrap seed.

    Returns:
        {(family, gamma): ParametricFit} for family in FAMILIES and gamma in (True, False).
    """
    return {
        (fam, g): fit_parametric(data=_family(runs, fam), N="N", D="D", loss="loss", gamma=g, delta=delta,
                                 n_bootstrap=n_bootstrap, seed=seed)
        for fam in FAMILIES for g in (True, False)
    }


def stored_params(family: str, gamma: bool) -> dict[str, float]:
    """The paper's stored fit (``PAPER["surface.{gamma|nogamma}.{family}.*"]``) as E, A, B, alpha, beta, gamma."""
    form = "gamma" if gamma else "nogamma"
    p = {k: PAPER[f"surface.{form}.{family}.{k}"].value for k in _PARAMS[:5]}
    p["gamma"] = PAPER[f"surface.gamma.{family}.gamma"].value if gamma else 1.0
    return p


def _raw(p: Mapping[str, float], gamma: bool) -> list[float]:
    x = [math.log(p["E"]), math.log(p["A"]), math.log(p["B"]), p["alpha"], p["beta"]]
    return x + [p["gamma"]] if gamma else x


def stored_comparison(fits: Mapping, runs: pd.DataFrame) -> pd.DataFrame:
    """Our objective and predictions beside the stored fit's, on the same runs.

    Returns:
        One row per (family, gamma): objective (ours), objective_stored_params (the stored parameters scored on
        these runs with our objective), objective_published (gamma fits only; NaN otherwise), max_abs_dL and
        mean_abs_dL (|L_ours - L_stored| over the runs, nats), n_points, status, n_best, rel_grad (gradient norm
        over objective at our optimum: ~0 means a stationary point, whatever the status says).
    """
    rows = []
    for (fam, g), fit in fits.items():
        d = _family(runs, fam)
        p = stored_params(fam, g)
        obj_stored, _ = huber_objective(_raw(p, g), d["N"], d["D"], d["loss"], delta=fit.delta)
        _, grad = huber_objective(fit.x, d["N"], d["D"], d["loss"], delta=fit.delta)
        dl = np.abs(fit.predict(d["N"], d["D"]) - surface_loss(d["N"], d["D"], **p))
        pub = PAPER[f"surface.gamma.{fam}.objective"].value if g else math.nan
        rows.append(dict(family=fam, gamma=g, objective=fit.objective, objective_stored_params=obj_stored,
                         objective_published=pub, max_abs_dL=float(dl.max()), mean_abs_dL=float(dl.mean()),
                         n_points=fit.n_points, status=fit.status, n_best=fit.n_best,
                         rel_grad=float(np.linalg.norm(grad) / fit.objective)))
    return pd.DataFrame(rows)


def _with_effective(p: Mapping[str, float]) -> dict[str, float]:
    out = {k: float(p[k]) for k in _PARAMS}
    out["alpha*gamma"], out["beta*gamma"] = out["alpha"] * out["gamma"], out["beta"] * out["gamma"]
    return out


def parameter_table(fits: Mapping) -> pd.DataFrame:
    """Long table of our parameters beside the stored ones (plus the effective exponents alpha*gamma, beta*gamma).

    Returns:
        Columns family, gamma, parameter, ours, stored, rel_diff = ours/stored - 1.
    """
    rows = []
    for (fam, g), fit in fits.items():
        ours = _with_effective({k: getattr(fit, k) for k in _PARAMS})
        stored = _with_effective(stored_params(fam, g))
        for k in ours:
            if k == "gamma" and not g:
                continue
            rows.append(dict(family=fam, gamma=g, parameter=k, ours=ours[k], stored=stored[k],
                             rel_diff=ours[k] / stored[k] - 1.0))
    return pd.DataFrame(rows)


def _sample_log_loss(samples: pd.DataFrame, N, D) -> np.ndarray:
    """log L of every bootstrap parameter set at the points (N, D): shape (S, len(N))."""
    s = {k: samples[k].to_numpy(np.float64)[:, None] for k in ("e", "a", "b", "alpha", "beta", "gamma")}
    ln_n, ln_d = np.log(np.asarray(N, np.float64))[None, :], np.log(np.asarray(D, np.float64))[None, :]
    bracket = np.logaddexp(s["a"] - s["alpha"] * ln_n, s["b"] - s["beta"] * ln_d)
    return np.logaddexp(s["gamma"] * bracket, s["e"])


def _interval_row(name: str, estimate: float, values: np.ndarray, level: float) -> dict[str, float | str]:
    v = values[np.isfinite(values)]
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    decades = math.log10(hi / lo) if lo > 0 and hi > 0 else math.nan
    return dict(quantity=name, estimate=estimate, lo=float(lo), hi=float(hi),
                rel_width=float((hi - lo) / abs(estimate)), decades=decades)


def identification_table(fit: ParametricFit, data: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """What the bootstrap pins down: parameters, effective exponents, predicted losses.

    Args:
        fit: a fit with bootstrap samples (``n_bootstrap >= 2``). data: the family's runs (N, D columns).
        level: coverage of the percentile intervals.

    Returns:
        Rows quantity, estimate, lo, hi, rel_width = (hi - lo)/|estimate|, decades = log10(hi/lo). Quantities:
        E, A, B, alpha, beta, (gamma), alpha*gamma, beta*gamma, and the predicted loss at the run whose interval is
        widest ("L_hat, widest run") and at the median run ("L_hat, median run").
    """
    if fit.samples is None:
        raise InvalidInputError("identification_table: the fit has no bootstrap samples; refit with n_bootstrap >= 2.")
    s = fit.samples[np.isfinite(fit.samples["objective"])]
    names = list(_PARAMS if fit.fit_gamma else _PARAMS[:5])
    rows = [_interval_row(k, getattr(fit, k), s[k].to_numpy(), level) for k in names]
    rows.append(_interval_row("alpha*gamma", fit.alpha * fit.gamma, (s["alpha"] * s["gamma"]).to_numpy(), level))
    rows.append(_interval_row("beta*gamma", fit.beta * fit.gamma, (s["beta"] * s["gamma"]).to_numpy(), level))
    pred = np.exp(_sample_log_loss(s, data["N"], data["D"]))
    est = fit.predict(data["N"], data["D"])
    lo, hi = np.percentile(pred, [50 * (1 - level), 50 * (1 + level)], axis=0)
    width = (hi - lo) / est
    for label, j in (("L_hat, widest run", int(np.argmax(width))),
                     ("L_hat, median run", int(np.argsort(width)[width.size // 2]))):
        rows.append(_interval_row(label, float(est[j]), pred[:, j], level))
    return pd.DataFrame(rows)


def residual_frame(fits: Mapping, runs: pd.DataFrame, gamma: bool = True) -> pd.DataFrame:
    """Per-run predicted loss and residual (predicted - observed, nats) of each family's fit."""
    parts = []
    for fam in FAMILIES:
        d = _family(runs, fam).copy()
        d["predicted"] = fits[(fam, gamma)].predict(d["N"], d["D"])
        d["residual"] = d["predicted"] - d["loss"]
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


def surface_grid(fits: Mapping, runs: pd.DataFrame, gamma: bool = True, n_cells: int = 36,
                 pad: float = 0.15) -> pd.DataFrame:
    """Cells of a (log10 N, log10 D) grid spanning the runs (both families, same bounds) with predicted loss.

    Returns:
        Columns family, log10_N, log10_N2, log10_D, log10_D2 (cell edges), N, D (cell centres), loss.
        n_cells^2 rows per family (36: 1296).
    """
    lx = np.log10(runs["N"]).agg(["min", "max"]).to_numpy() + (-pad, pad)
    ly = np.log10(runs["D"]).agg(["min", "max"]).to_numpy() + (-pad, pad)
    ex, ey = np.linspace(*lx, n_cells + 1), np.linspace(*ly, n_cells + 1)
    cx, cy = np.meshgrid(0.5 * (ex[:-1] + ex[1:]), 0.5 * (ey[:-1] + ey[1:]), indexing="ij")
    ix, iy = np.meshgrid(np.arange(n_cells), np.arange(n_cells), indexing="ij")
    parts = []
    for fam in FAMILIES:
        n, d = 10.0 ** cx.ravel(), 10.0 ** cy.ravel()
        parts.append(pd.DataFrame({
            "family": fam, "log10_N": ex[ix.ravel()], "log10_N2": ex[ix.ravel() + 1], "log10_D": ey[iy.ravel()],
            "log10_D2": ey[iy.ravel() + 1], "N": n, "D": d, "loss": fits[(fam, gamma)].predict(n, d),
        }))
    return pd.concat(parts, ignore_index=True)


def _flops_per_token(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(ln N, ln C/D) of each trained model size: the paper's FLOP count per token, which is not 6N."""
    per = (data["C"] / data["D"]).groupby(data["N"]).median()
    return np.log(per.index.to_numpy(np.float64)), np.log(per.to_numpy(np.float64))


def _allocations(fit: ParametricFit, data: pd.DataFrame, c: float, n_grid: int):
    """N grid over the trained sizes, D = c / f(N), the fit's loss there and each bootstrap resample's minimum."""
    ln_n, ln_f = _flops_per_token(data)
    grid = np.linspace(ln_n.min(), ln_n.max(), n_grid)
    n = np.exp(grid)
    d = c / np.exp(np.interp(grid, ln_n, ln_f))
    sample_min = None if fit.samples is None else np.exp(_sample_log_loss(fit.samples, n, d)).min(axis=1)
    return n, d, fit.predict(n, d), sample_min


def _interval(values: np.ndarray | None, level: float) -> tuple[float, float]:
    if values is None or not np.isfinite(values).any():
        return math.nan, math.nan
    lo, hi = np.percentile(values[np.isfinite(values)], [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def _budgets(budgets: Iterable[float]) -> np.ndarray:
    b = np.asarray(list(budgets), dtype=np.float64)
    if b.size == 0 or not (np.isfinite(b).all() and (b > 0).all()):
        raise InvalidInputError(f"compute-optimal: budgets must be finite FLOP counts > 0, got {b}.")
    return b


def compute_optimal_frame(fits: Mapping, runs: pd.DataFrame, budgets: Iterable[float], gamma: bool = True,
                          n_grid: int = 600, level: float = 0.95) -> pd.DataFrame:
    """Loss of each family's compute-optimal allocation at given budgets, with bootstrap intervals.

    Compute is the paper's FLOP count: D = C / f(N), where f(N), the FLOPs per token of a model with N
    parameters, is interpolated (linear in log-log) between the trained model sizes. N is searched on a
    log grid over the trained sizes only, so the surface is not extrapolated in N; ``at_edge`` flags an
    optimum on the grid's edge (the true optimum may lie outside).

    Args:
        fits: :func:`fit_surfaces` output (bootstrap samples give the interval; without, lo = hi = NaN).
        runs: :func:`select_runs` output (for f(N) and the N range). budgets: FLOPs, > 0.
        gamma: which form's fits to use. n_grid: N grid points. level: interval coverage.

    Returns:
        Columns family, C, N_opt, D_opt, tokens_per_param, L_opt, L_lo, L_hi, at_edge.
    """
    rows = []
    for fam in FAMILIES:
        for c in _budgets(budgets):
            n, d, loss, sample_min = _allocations(fits[(fam, gamma)], _family(runs, fam), c, n_grid)
            i = int(np.argmin(loss))
            lo, hi = _interval(sample_min, level)
            rows.append(dict(family=fam, C=c, N_opt=n[i], D_opt=d[i], tokens_per_param=d[i] / n[i], L_opt=loss[i],
                             L_lo=lo, L_hi=hi, at_edge=i in (0, n_grid - 1)))
    return pd.DataFrame(rows)


def compute_optimal_gap(fits: Mapping, runs: pd.DataFrame, budgets: Iterable[float], gamma: bool = True,
                        n_grid: int = 600, level: float = 0.95) -> pd.DataFrame:
    """Transformer minus xLSTM compute-optimal loss per budget (> 0: xLSTM lower), with a bootstrap interval.

    The families were fitted on independent runs, so resample j of one is paired with resample j of the other
    to form the distribution of the difference. Allocation as in :func:`compute_optimal_frame`.

    Returns:
        Columns C, L_llama, L_xlstm, gap (nats), gap_lo, gap_hi, at_edge (either optimum on the N-grid edge).
    """
    rows = []
    for c in _budgets(budgets):
        res = {fam: _allocations(fits[(fam, gamma)], _family(runs, fam), c, n_grid) for fam in FAMILIES}
        best = {fam: int(np.argmin(r[2])) for fam, r in res.items()}
        diff = None
        if res["llama"][3] is not None and res["xlstm"][3] is not None:
            k = min(res["llama"][3].size, res["xlstm"][3].size)
            diff = res["llama"][3][:k] - res["xlstm"][3][:k]
        lo, hi = _interval(diff, level)
        l_opt = {fam: float(res[fam][2][best[fam]]) for fam in FAMILIES}
        rows.append(dict(C=c, L_llama=l_opt["llama"], L_xlstm=l_opt["xlstm"], gap=l_opt["llama"] - l_opt["xlstm"],
                         gap_lo=lo, gap_hi=hi, at_edge=any(best[f] in (0, n_grid - 1) for f in FAMILIES)))
    return pd.DataFrame(rows)


def varpro_comparison(fits: Mapping, runs: pd.DataFrame) -> pd.DataFrame:
    """Variable projection (least squares in linear loss, gamma = 1) beside the Huber L-BFGS fit without gamma.

    Returns:
        One row per (family, method) with E, A, B, alpha, beta, rmse (linear loss, nats), max_abs_resid (nats),
        huber (the Huber-log objective of those parameters), and max_abs_dL_vs_huber: the largest difference
        between the two fits' predictions on the runs.
    """
    rows = []
    for fam in FAMILIES:
        d = _family(runs, fam)
        hub = fits[(fam, False)]
        vp = fit_varpro(data=d, N="N", D="D", loss="loss")
        for name, fit in (("huber-lbfgs", hub), ("varpro", vp)):
            pred = fit.predict(d["N"], d["D"])
            obj, _ = huber_objective(fit.x[:5], d["N"], d["D"], d["loss"], delta=hub.delta)
            rows.append(dict(family=fam, method=name, E=fit.E, A=fit.A, B=fit.B, alpha=fit.alpha, beta=fit.beta,
                             rmse=float(np.sqrt(np.mean((pred - d["loss"]) ** 2))),
                             max_abs_resid=float(np.max(np.abs(pred - d["loss"]))), huber=obj,
                             max_abs_dL_vs_huber=float(np.max(np.abs(pred - hub.predict(d["N"], d["D"])))),
                             status=fit.status))
    return pd.DataFrame(rows)


def is_paper_recipe(delta: float, min_tokens_per_param: float, max_tokens_per_param: float) -> bool:
    """True when the chapter's parameters reproduce the paper's fit set-up (delta 1e-3, all runs, D/N 0-5000),
    so its numbers can be checked against the stored fits; other settings answer a different question."""
    return (delta == 1e-3 and min_tokens_per_param <= 22.0 and max_tokens_per_param >= 2300.0)


def require_not_worse(comparison: pd.DataFrame, slack: float = 1e-9) -> None:
    """Raise AnchorMismatch unless our objective <= the stored parameters' objective on the same runs.

    Both minimise the same sum of Huber losses on the same data, so a refit that does worse has missed the
    optimum the paper found. ``slack`` (relative) only absorbs floating-point noise.
    """
    bad = comparison[comparison["objective"] > comparison["objective_stored_params"] * (1 + slack)]
    if len(bad):
        raise AnchorMismatch("loss surface: our objective exceeds the stored fit's on the same runs for "
                             f"{bad[['family', 'gamma', 'objective', 'objective_stored_params']].to_dict('records')}")


def require_close_predictions(comparison: pd.DataFrame, tol: float = 0.01) -> None:
    """Raise AnchorMismatch if our predicted loss differs from the stored fit's by >= ``tol`` nats on any run."""
    bad = comparison[comparison["max_abs_dL"] >= tol]
    if len(bad):
        raise AnchorMismatch(f"loss surface: predictions differ from the stored fit's by >= {tol} nats for "
                             f"{bad[['family', 'gamma', 'max_abs_dL']].to_dict('records')}")
