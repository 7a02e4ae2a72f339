"""Over-training chapter: loss-vs-compute slopes per D/N preset, and Gadre et al.'s extrapolation from 5 small runs."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit

from xlstm_lab.anchors.paper import PAPER
from xlstm_lab.fit import FewPointsWarning, ParametricFit, fit_parametric, fit_power_law
from xlstm_lab.fit.types import ConvergenceError, InvalidInputError, TooFewPointsError

__all__ = [
    "SLOPE_PRESETS",
    "GADRE_SMALL_CONFIGS",
    "GADRE_P0_GRID",
    "GADRE_HELDOUT",
    "GadreFit",
    "slope_points",
    "slope_table",
    "slope_lines",
    "slope_summary",
    "crossover_compute",
    "gadre_law",
    "gadre_fit_rows",
    "fit_gadre_overtraining",
    "fit_gadre_chinchilla",
    "gadre_heldout_table",
    "gadre_curves",
    "gadre_points",
]

#: D/N presets of the paper's slope table (``tab:tokenparam_slopes``).
SLOPE_PRESETS: tuple[float, ...] = (22.0, 44.0, 110.0, 220.0, 550.0, 1100.0)
#: Gadre et al.'s four small open_lm configurations (10.6M, 78.9M, 153.7M, 411.6M parameters), smallest first.
GADRE_SMALL_CONFIGS: tuple[str, ...] = ("d=96_l=8_h=4", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=1024_l=24_h=8")
#: Start grid of upstream's fit (scaling/laws.py): 4 x 4 x 2 x 4 = 128 starts for (a, c, b, E).
GADRE_P0_GRID: dict[str, tuple[float, ...]] = {
    "a": (1e2, 3e2, 1e3, 3e3), "c": (1e2, 3e2, 1e3, 3e3), "b": (-0.1, -0.3), "E": (0.0, 1.0, 2.0, 10.0),
}
#: The two extrapolation targets of Gadre et al.'s headline: (config, M) -> key used in ``PAPER["gadre.heldout.*"]``.
GADRE_HELDOUT: dict[tuple[str, float], str] = {("open_lm_1b", 640.0): "1.4B_M640", ("open_lm_7b", 20.0): "6.9B_M20"}
_SIZE_ORDER = ("160M", "400M", "830M", "1.4B", "2.7B", "7B")


# ----------------------------------------------------------------------------------------------- slopes


def slope_points(runs: pd.DataFrame, presets: Iterable[float] = SLOPE_PRESETS) -> pd.DataFrame:
    """The runs behind the slope table: one row per run at a D/N preset, "extra" and "7B long" excluded.

    xLSTM compute is the "tfla" FLOP count (``C_flops_training_mlstm_tfla``), as in upstream's slope notebook;
    the Transformer uses ``C_flops_training``.

    Args:
        runs: ``anchors.load_tokenparam_runs()``. presets: D/N presets to keep (22 ... 2200).

    Returns:
        Columns family, preset, model_size, N, D, C (FLOPs), loss (DCLM validation, nats/token), sorted by C.

    Raises:
        InvalidInputError: a preset that no run has (the message lists the available ones).
    """
    wanted = [float(p) for p in presets]
    have = sorted(set(runs["preset"].dropna()))
    missing = [p for p in wanted if p not in have]
    if not wanted or missing:
        raise InvalidInputError(f"slope_points: presets {missing or wanted} not available; use some of {have}.")
    c = np.where(runs["family_label"] == "xlstm", runs["C_flops_training_mlstm_tfla"], runs["C_flops_training"])
    out = pd.DataFrame({"family": runs["family_label"], "preset": runs["preset"], "model_size": runs["model_size"],
                        "N": runs["N_params"], "D": runs["D_tokens"], "C": c, "loss": runs["val_dclm_loss"]})
    # "extra" runs (and the 7B-long run) carry no preset (NaN) and are dropped here, as upstream excludes them.
    out = out[out["preset"].isin(wanted)]
    return out.sort_values(["family", "preset", "C"]).reset_index(drop=True)


def slope_table(runs: pd.DataFrame, presets: Iterable[float] = SLOPE_PRESETS, conf: float = 0.95) -> pd.DataFrame:
    """-d ln L / d ln C per family and preset: OLS of ln L on ln C (``fit_power_law``), with t-intervals.

    A preset with only 2 or 3 runs has 0 or 1 residual degrees of freedom: its interval is NaN (2 runs) or very
    wide (3 runs). The fitter's :class:`FewPointsWarning` is caught and recorded in ``few_points_warning``.

    Returns:
        Columns family, preset, n_points, slope (= -a), slope_lo, slope_hi, se, dof, status ("ok", "few_points",
        "exact"; "too_few" for a single run, with NaN values), few_points_warning, k, a (L = k C^a), paper
        (published slope or NaN), diff (slope - paper).

    Raises:
        InvalidInputError: a family has no chosen preset with >= 2 runs (and an unknown preset, see slope_points).
    """
    pts = slope_points(runs, presets)
    rows = []
    for (fam, preset), g in pts.groupby(["family", "preset"], sort=True):
        if len(g) < 2:  # one run gives no slope; say so in the table instead of failing the whole chapter
            rows.append(dict(family=fam, preset=preset, n_points=len(g), status="too_few"))
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FewPointsWarning)
            fit = fit_power_law(g["C"], g["loss"], conf=conf, x_name="C", y_name="loss")
        key = f"overtraining.slope.{fam}.M{int(preset)}"
        paper = PAPER[key].value if key in PAPER else math.nan
        rows.append(dict(
            family=fam, preset=preset, n_points=fit.n_points, slope=-fit.a, slope_lo=-fit.a_interval[1],
            slope_hi=-fit.a_interval[0], se=fit.se_a, dof=fit.dof, status=fit.status,
            few_points_warning=any(issubclass(w.category, FewPointsWarning) for w in caught),
            k=fit.k, a=fit.a, paper=paper, diff=-fit.a - paper,
        ))
    out = pd.DataFrame(rows)
    fitted = set(out.dropna(subset=["k"])["family"]) if "k" in out else set()
    families = set(runs["family_label"])
    if fitted != families:
        raise InvalidInputError(
            f"slope_table: no preset in {sorted(set(pts['preset']))} has >= 2 runs for "
            f"{sorted(families - fitted)}; choose presets with at least 2 runs per family (22 ... 1100)."
        )
    return out


def slope_lines(table: pd.DataFrame, points: pd.DataFrame, n: int = 2) -> pd.DataFrame:
    """Fitted power laws L = k C^a over each preset's C range, for drawing (n points per line; 2 suffice in log-log)."""
    parts = []
    for r in table.dropna(subset=["k"]).itertuples():
        g = points[(points["family"] == r.family) & (points["preset"] == r.preset)]
        c = np.logspace(np.log10(g["C"].min()), np.log10(g["C"].max()), n)
        parts.append(pd.DataFrame({"family": r.family, "preset": r.preset, "C": c, "loss": r.k * c**r.a}))
    return pd.concat(parts, ignore_index=True)


def slope_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Is one exponent consistent with every preset? Per family: the range of the slopes and whether all finite
    t-intervals share a point (max of the lower ends <= min of the upper ends).

    Returns:
        Columns family, n_presets, slope_min, slope_max, max_lo, min_hi, common (bool), max_abs_diff_paper.
    """
    rows = []
    for fam, g in table.dropna(subset=["slope"]).groupby("family"):
        iv = g.dropna(subset=["slope_lo", "slope_hi"])
        max_lo, min_hi = float(iv["slope_lo"].max()), float(iv["slope_hi"].min())
        rows.append(dict(family=fam, n_presets=len(g), slope_min=float(g["slope"].min()),
                         slope_max=float(g["slope"].max()), max_lo=max_lo, min_hi=min_hi, common=max_lo <= min_hi,
                         max_abs_diff_paper=float(g["diff"].abs().max())))
    return pd.DataFrame(rows)


def crossover_compute(table: pd.DataFrame) -> pd.DataFrame:
    """Compute at which the two families' fitted lines L = k C^a of one preset would meet (an extrapolation).

    Returns:
        Columns preset, C_cross (FLOPs; NaN if the lines are parallel or meet below C = 1 FLOP, i.e. they diverge
        with compute), loss_cross (nats), both_ok (both slopes have >= 3 residual degrees of freedom).
    """
    rows = []
    t = table.dropna(subset=["k"]).set_index(["family", "preset"])
    for preset in sorted({p for _, p in t.index}):
        if ("llama", preset) not in t.index or ("xlstm", preset) not in t.index:
            continue
        lo, xl = t.loc[("llama", preset)], t.loc[("xlstm", preset)]
        da = xl["a"] - lo["a"]
        ln_c = (math.log(lo["k"]) - math.log(xl["k"])) / da if da != 0 else math.nan
        c = math.exp(ln_c) if math.isfinite(ln_c) and ln_c > 0 else math.nan
        rows.append(dict(preset=preset, C_cross=c, loss_cross=xl["k"] * c ** xl["a"] if math.isfinite(c) else math.nan,
                         both_ok=bool(lo["status"] == "ok" and xl["status"] == "ok")))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- Gadre et al.


def gadre_law(N, M, a: float, c: float, b: float, E: float) -> np.ndarray:
    """L(N, M) = E + a N^b + c 6^(b/2) (M N)^b: Chinchilla with one shared exponent b < 0 and D = M N.

    (The factor 6^(b/2) comes from writing the law in compute C = 6 N D.) N in parameters, M = D/N.
    """
    n, m = np.asarray(N, dtype=np.float64), np.asarray(M, dtype=np.float64)
    return E + a * n**b + c * 6.0 ** (b / 2) * (m * n) ** b


@dataclass(frozen=True, eq=False)
class GadreFit:
    """Result of :func:`fit_gadre_overtraining`.

    Attributes:
        a, c, b, E: parameters of :func:`gadre_law` (E in nats/token).
        residual_std: sqrt(RSS / (n - 2)), the criterion upstream uses to pick the best start (nats).
        n_points: fit points. n_starts: starts tried. n_failed: starts where curve_fit raised (no convergence).
        best_start: the (a, c, b, E) start that won. target: loss column fitted. dataset: training set.
        fit_rows: the rows fitted (name, model_config, N_params, token_multiplier_M, target).
    """

    a: float
    c: float
    b: float
    E: float
    residual_std: float
    n_points: int
    n_starts: int
    n_failed: int
    best_start: tuple[float, float, float, float]
    target: str
    dataset: str
    fit_rows: pd.DataFrame = field(repr=False)

    def predict(self, N, M) -> np.ndarray:
        """Predicted loss (nats/token) at N parameters and M tokens per parameter (broadcast)."""
        return gadre_law(N, M, self.a, self.c, self.b, self.E)


def _one_dataset(df: pd.DataFrame, target: str, what: str) -> str:
    if target not in df.columns:
        losses = sorted(c[len("loss_"):] for c in df.columns if c.startswith("loss_") and "95" not in c)
        raise InvalidInputError(f"{what}: no column {target!r}; validation sets are {losses} (column loss_<set>).")
    sets = sorted(set(df["train_dataset"]))
    if len(sets) != 1:
        raise InvalidInputError(f"{what}: pass one training set (anchors.load_gadre(dataset)), got {sets}.")
    return sets[0]


def gadre_fit_rows(df: pd.DataFrame, fit_multipliers: Sequence[float] = (20.0,),
                   extra: Sequence[tuple[str, float]] = (("d=96_l=8_h=4", 320.0),)) -> pd.DataFrame:
    """Upstream's fit set: the four small configs at each M in ``fit_multipliers``, plus the ``extra`` (config, M).

    With the defaults: 4 runs at M = 20 plus the 10.6M model at M = 320 (5 points).
    """
    at_m = df["token_multiplier_M"].isin([float(m) for m in fit_multipliers])
    small = df["model_config"].isin(GADRE_SMALL_CONFIGS) & at_m
    for cfg, m in extra:
        small |= (df["model_config"] == cfg) & (df["token_multiplier_M"] == float(m))
    return df[small].sort_values(["N_params", "token_multiplier_M"]).reset_index(drop=True)


def fit_gadre_overtraining(df: pd.DataFrame, *, target: str = "loss_c4_val", fit_multipliers: Sequence[float] = (20.0,),
                           extra: Sequence[tuple[str, float]] = (("d=96_l=8_h=4", 320.0),),
                           p0_grid: Mapping[str, Sequence[float]] | None = None, maxfev: int = 10000) -> GadreFit:
    """Fit :func:`gadre_law` in linear loss space on a handful of small runs, keeping the best of a start grid.

    An independent implementation of the procedure described by Gadre et al. (2024): ``scipy.optimize.curve_fit``
    (Levenberg-Marquardt) from every start of ``p0_grid`` (default :data:`GADRE_P0_GRID`, 128 starts), keeping the
    fit with the lowest residual std sqrt(RSS/(n-2)). With 4 parameters on 5 points the problem is poorly
    conditioned: different optimisers can land a little apart.

    Args:
        df: one training set of ``anchors.load_gadre(dataset)``.
        target: loss column (default ``loss_c4_val``, the paper's). fit_multipliers, extra: see :func:`gadre_fit_rows`.
        p0_grid: starts, keys a, c, b, E. maxfev: function-evaluation budget per start.

    Returns:
        :class:`GadreFit`.

    Raises:
        InvalidInputError: unknown target, more than one training set, or a NaN target in the fit rows.
        TooFewPointsError: fewer than 5 fit rows (4 parameters).
        ConvergenceError: no start converged.
    """
    dataset = _one_dataset(df, target, "fit_gadre_overtraining")
    rows = gadre_fit_rows(df, fit_multipliers, extra)
    if len(rows) < 5:
        raise TooFewPointsError(f"fit_gadre_overtraining: {len(rows)} fit rows for 4 parameters; add fit_multipliers.")
    y = rows[target].to_numpy(np.float64)
    if not np.isfinite(y).all():
        bad = list(rows.loc[~np.isfinite(y), "name"])
        raise InvalidInputError(f"fit_gadre_overtraining: {target} is NaN for runs {bad}; drop them or pick another "
                                "target.")
    x = np.vstack([rows["N_params"].to_numpy(np.float64), rows["token_multiplier_M"].to_numpy(np.float64)])
    grid = dict(GADRE_P0_GRID, **(p0_grid or {}))

    def model(xx, a, c, b, e):
        return gadre_law(xx[0], xx[1], a, c, b, e)

    best, n_failed, starts = None, 0, list(itertools.product(*(grid[k] for k in ("a", "c", "b", "E"))))
    for p0 in starts:
        # Bad starts overflow or leave the covariance undefined; those warnings say nothing about the best fit.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", OptimizeWarning)
            try:
                popt, _ = curve_fit(model, x, y, p0=p0, maxfev=maxfev)
            except RuntimeError:  # curve_fit's "optimal parameters not found": this start did not converge
                n_failed += 1
                continue
            resid = y - model(x, *popt)
            score = float(np.sqrt(np.sum(resid**2) / (y.size - 2)))
        if np.isfinite(score) and (best is None or score < best[0]):
            best = (score, popt, p0)
    if best is None:
        raise ConvergenceError(f"fit_gadre_overtraining: none of {len(starts)} starts converged on {dataset}.")
    score, popt, p0 = best
    keep = rows[["name", "model_config", "N_params", "D_tokens", "token_multiplier_M", target]]
    return GadreFit(*(float(v) for v in popt), residual_std=score, n_points=int(y.size), n_starts=len(starts),
                    n_failed=n_failed, best_start=tuple(float(v) for v in p0), target=target, dataset=dataset,
                    fit_rows=keep.reset_index(drop=True))


def fit_gadre_chinchilla(df: pd.DataFrame, *, target: str = "loss_c4_val", delta: float = 1e-3) -> ParametricFit:
    """Chinchilla form L = E + A/N^alpha + B/D^beta (``fit_parametric``, gamma = 1) on every small-config run.

    Uses all four small configs at all M (31-32 runs per training set) instead of 5 points, so the held-out
    errors show what the richer data buy.
    """
    _one_dataset(df, target, "fit_gadre_chinchilla")
    rows = df[df["model_config"].isin(GADRE_SMALL_CONFIGS)]
    return fit_parametric(rows["N_params"], rows["D_tokens"], rows[target], gamma=False, delta=delta)


def gadre_heldout_table(data: Mapping[str, pd.DataFrame], fits: Mapping[str, GadreFit],
                        chinchilla: Mapping[str, ParametricFit] | None = None) -> pd.DataFrame:
    """Predicted vs observed loss of the large held-out runs (1.4B and 6.9B), per training set.

    Args:
        data: dataset -> ``anchors.load_gadre(dataset)``. fits: dataset -> :func:`fit_gadre_overtraining`.
        chinchilla: optional dataset -> :func:`fit_gadre_chinchilla`, for a second prediction column.

    Returns:
        One row per held-out run: dataset, model_config, M, N, D, observed, predicted, rel_err (signed,
        (predicted - observed)/observed), published_rel_err (|rel err| from ``PAPER["gadre.heldout.*"]`` for the
        two headline runs, else NaN), and if given chinchilla_pred, chinchilla_rel_err.
    """
    rows = []
    for ds, fit in fits.items():
        df = data[ds]
        big = df[df["model_config"].isin(["open_lm_1b", "open_lm_7b"])].sort_values(["N_params", "token_multiplier_M"])
        for r in big.itertuples():
            obs = float(getattr(r, fit.target))
            pred = float(fit.predict(r.N_params, r.token_multiplier_M))
            label = GADRE_HELDOUT.get((r.model_config, float(r.token_multiplier_M)))
            key = f"gadre.heldout.{ds}.{label}.rel_err"
            row = dict(dataset=ds, model_config=r.model_config, M=float(r.token_multiplier_M), N=float(r.N_params),
                       D=float(r.D_tokens), observed=obs, predicted=pred, rel_err=(pred - obs) / obs,
                       published_rel_err=PAPER[key].value if key in PAPER else math.nan)
            if chinchilla is not None:
                cp = float(chinchilla[ds].predict(r.N_params, r.D_tokens)[()])
                row.update(chinchilla_pred=cp, chinchilla_rel_err=(cp - obs) / obs)
            rows.append(row)
    return pd.DataFrame(rows)


def gadre_curves(fits: Mapping[str, GadreFit], multipliers: Iterable[float] = (20.0, 640.0),
                 n_range: tuple[float, float] = (8e6, 9e9), n: int = 40) -> pd.DataFrame:
    """Each fit's law along lines of constant M, against compute 6 N D = 6 M N^2 (for drawing).

    Returns:
        Columns dataset, M, N, C (FLOPs, 6ND), loss.
    """
    ns = np.logspace(np.log10(n_range[0]), np.log10(n_range[1]), n)
    parts = [pd.DataFrame({"dataset": ds, "M": float(m), "N": ns, "C": 6.0 * m * ns**2, "loss": fit.predict(ns, m)})
             for ds, fit in fits.items() for m in multipliers]
    return pd.concat(parts, ignore_index=True)


def gadre_points(data: Mapping[str, pd.DataFrame], fits: Mapping[str, GadreFit]) -> pd.DataFrame:
    """Every run of each training set with its role in the fit: "fit", "held-out" (the 1.4B and 6.9B models) or
    "other" (small runs the 5-point fit does not use), and the fit's prediction for the held-out ones.

    Returns:
        Columns dataset, name, model_config, N, D, M, C (6ND, FLOPs), loss (the fit's target), role, predicted.
    """
    parts = []
    for ds, fit in fits.items():
        df = data[ds]
        role = np.where(df["name"].isin(fit.fit_rows["name"]), "fit",
                        np.where(df["model_config"].isin(["open_lm_1b", "open_lm_7b"]), "held-out", "other"))
        pred = np.where(role == "held-out", fit.predict(df["N_params"], df["token_multiplier_M"]), np.nan)
        parts.append(pd.DataFrame({
            "dataset": ds, "name": df["name"], "model_config": df["model_config"], "N": df["N_params"],
            "D": df["D_tokens"], "M": df["token_multiplier_M"], "C": df["flops_6ND"], "loss": df[fit.target],
            "role": role, "predicted": pred,
        }))
    return pd.concat(parts, ignore_index=True)
