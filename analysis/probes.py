"""Mechanistic probes from the two papers: why a mixer wins, measured on the mixers of the zoo.

Each probe returns ``(frame, figure)``: a tidy DataFrame of what it measured (``frame.attrs["fit"]`` holds the
fitted summary per mixer) and a matplotlib figure. All draws are seeded; everything runs in float64 on the CPU.

- :func:`lrd` — long-range dependency (shared/papers/long_range_dependency.md): ‖∂y_t/∂x_s‖_F against the lag
  t − s for the last output t = L − 1, N(0, I) inputs averaged over draws, with a fitted e-folding length.
- :func:`influence` — Theorem 2 of the B2S6 paper: the relative gradient S_k = ‖∂y_L/∂u_k‖_F / Σ_k' ‖∂y_L/∂u_k'‖_F
  of the inputs before one input scaled by c; the fitted log-log slope against c per mixer.
- :func:`grad_growth` — Theorem 3: the ratio of S6's to S4D's Δ-parameter gradients for d = 1, w = 0 against the
  input scale c (slopes 3 for w, 2 for b) and against the length L at c = 1 (slope ½ for b).
- :func:`stability` — ‖h_T‖ under N(0, I) input for growing T; the mixers expose no state, so the output y_T.

SSM mixers are probed as the bare unit (``activation=identity, output=none``: the object the theorems are
about) unless ``layer=True``; a mixer without those fields (attention) is always the full layer. Where a probe
takes ``mixers``, a run directory may stand in for a name: its trained first-layer mixer is probed, loaded from
the run's ``checkpoint.pt`` (:func:`trained_mixer`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import zoo
from ablations import store
from analysis import plots
from kernels import selective_scan
from zoo.variants import resolve_mixer

UNIT_FIELDS = {"activation": "identity", "output": "none"}
SCAN_BACKEND = "torch"
"""Backend of the d = 1 scans of :func:`grad_growth` (the chunked CPU path; float64 throughout)."""


def build(
    name: str, d_model: int, seed: int, layer: bool = False, n_state: int | None = None
) -> tuple[torch.nn.Module, str]:
    """The mixer to probe, in float64 and eval mode, and the site probed (``unit``, ``layer`` or ``trained``).

    ``name`` is a registered mixer or variant (built at its seeded initialisation, width ``d_model``; ``n_state``
    overrides the state size of mixers that have one) or a run directory (its trained first-layer mixer, see
    :func:`trained_mixer`; ``d_model`` and ``n_state`` then come from the run's config).
    """
    if is_run_dir(name):
        return trained_mixer(name).double().eval(), "trained"
    registered, _ = resolve_mixer(name)  # a variant such as b2s6_nobias probes its registered mixer's fields
    fields = set(zoo.config_fields(registered))
    site = "layer" if layer or not set(UNIT_FIELDS) <= fields else "unit"
    overrides = {} if site == "layer" else dict(UNIT_FIELDS)
    if n_state is not None and "n_state" in fields:
        overrides["n_state"] = n_state
    torch.manual_seed(seed)
    return zoo.build_mixer(name, d_model, **overrides).double().eval(), site


def is_run_dir(name: str) -> bool:
    """True if ``name`` is a run directory of the store (it holds a ``config.yaml``)."""
    return (Path(name) / store.CONFIG_FILE).is_file()


def display(name: str) -> str:
    """How a probed mixer is named in frames and legends: the name, or ``<mixer>@<run_id>`` for a run directory."""
    if not is_run_dir(name):
        return name
    config, _, _ = store.read_run(name)
    return f"{config.get('mixer', {}).get('name', '?')}@{Path(name).name}"


def trained_mixer(run_dir: str | Path, block: int = 0) -> torch.nn.Module:
    """The mixer of block ``block`` of a run, as trained: built from the run's ``config.yaml`` (``mixer.*`` and
    ``model.d_model``) with the weights of ``checkpoint.pt`` (the whole layer, activation and output included)."""
    config, _, status = store.read_run(run_dir)
    checkpoint = Path(run_dir) / store.CHECKPOINT_FILE
    if not config or not checkpoint.is_file():
        raise FileNotFoundError(f"{run_dir} has no readable config and checkpoint ({status}); train the run first.")
    if config.get("model", {}).get("bidirectional"):
        raise ValueError(f"{run_dir}: a bidirectional model's mixer is not causal; probe a causal run.")
    fields = dict(config["mixer"])
    mixer = zoo.build_mixer(fields.pop("name"), config["model"]["d_model"], **fields)
    prefix = f"blocks.{block}.mixer."
    weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    mixer.load_state_dict({k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)})
    return mixer


def check_names(mixers: Sequence[str]) -> None:
    """Fail before any work if a name is neither a registered mixer nor a variant (``ConfigError`` with a hint)."""
    for name in mixers:
        if not is_run_dir(name):
            resolve_mixer(name)


def last_output_jacobian(mixer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """‖∂y_{L−1}/∂x_s‖_F for every s: x (draws, L, d) -> (draws, L).

    One backward pass: each draw is repeated d times and copy i back-propagates output channel i, so the rows of
    the (d × d) Jacobian block at every s come out together (mixers treat batch elements independently).
    """
    draws, L, d = x.shape
    xs = x.repeat_interleave(d, dim=0).requires_grad_(True)  # (draws·d, L, d)
    y = mixer(xs)[:, -1, :].reshape(draws, d, d)  # [draw, copy i, channel]
    y.diagonal(dim1=1, dim2=2).sum().backward()
    grad = xs.grad.reshape(draws, d, L, d)  # [draw, output channel, s, input channel]
    return grad.pow(2).sum(dim=(1, 3)).sqrt()


def fit_log_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log(y) against x over the finite, positive points."""
    keep = np.isfinite(y) & (y > 0)
    if keep.sum() < 2:
        return math.nan
    return float(np.polyfit(x[keep], np.log(y[keep]), 1)[0])


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: plots.mixer_colour(name) for name in names}


def lrd(
    mixers: Sequence[str] = ("s4d", "s6", "b2s6", "attention"),
    d_model: int = 16,
    length: int = 256,
    draws: int = 8,
    seed: int = 0,
    layer: bool = False,
    n_state: int | None = None,
    min_lag: int = 1,
):
    """Long-range dependency ‖∂y_t/∂x_s‖_F against the lag t − s, for t = L − 1, averaged over N(0, I) draws.

    The e-folding length is −1 / slope of log LRD against the lag, fitted over lags ≥ ``min_lag`` (lag 0 holds the
    skip connection, not memory); it is ``inf`` when LRD does not decay (slope ≥ −1e-12). Frame: one row per
    (mixer, lag) with ``lrd``; ``attrs["fit"]``: per mixer ``slope`` (per step), ``efold`` (steps), ``site``.
    """
    check_names(mixers)
    rows, fits = [], []
    for name in mixers:
        mixer, site = build(name, d_model, seed, layer, n_state)
        name = display(name)
        gen = torch.Generator().manual_seed(seed + 1)
        x = torch.randn(draws, length, d_model, dtype=torch.float64, generator=gen)
        values = last_output_jacobian(mixer, x).mean(0).flip(0).detach().numpy()  # index = lag
        lags = np.arange(length)
        slope = fit_log_slope(lags[min_lag:], values[min_lag:])
        fits.append({"mixer": name, "site": site, "slope": slope, "efold": -1 / slope if slope < -1e-12 else math.inf})
        rows += [
            {"mixer": name, "site": site, "lag": int(g), "lrd": float(v)} for g, v in zip(lags, values, strict=True)
        ]
    frame = pd.DataFrame(rows)
    frame.attrs["fit"] = pd.DataFrame(fits)
    frame.attrs["setup"] = {"d_model": d_model, "length": length, "draws": draws, "seed": seed}

    colours = _colours([display(m) for m in mixers])
    with plots.theme():
        fig, (ax,) = plots._figure(6.5, 4.0)
        for fit in fits:
            sub = frame[frame["mixer"] == fit["mixer"]]
            if fit["efold"] > 10 * length:
                efold = "no decay" if math.isinf(fit["efold"]) else f"flat: e-fold {fit['efold']:.0f} > 10 L"
            else:
                efold = f"e-fold {fit['efold']:.0f} steps"
            ax.semilogy(
                sub["lag"],
                sub["lrd"],
                color=colours[fit["mixer"]],
                lw=1.5,
                label=f"{fit['mixer']} ({fit['site']}, {efold})",
            )
        ax.set_xlabel("lag t − s (steps)")
        ax.set_ylabel("‖∂y_t/∂x_s‖_F (mean over draws)")
        ax.set_title(f"Long-range dependency at init (t = L − 1, L = {length}, d = {d_model})")
        ax.legend(fontsize=8)
    return frame, fig


def influence(
    mixers: Sequence[str] = ("s4d", "s6", "b2s6"),
    scales: Sequence[float] = tuple(np.logspace(0, 2, 9)),
    d_model: int = 16,
    length: int = 32,
    draws: int = 8,
    seed: int = 0,
    layer: bool = False,
    n_state: int | None = None,
    fit_from: float = 10.0,
):
    """Theorem 2: relative influence of the inputs before the last one when the last input is scaled by c.

    u ~ N(0, I) with u_L multiplied by c; S_k = ‖∂y_L/∂u_k‖_F / Σ_k' ‖∂y_L/∂u_k'‖_F; ``earlier`` = Σ_{k<L} S_k,
    averaged over draws. The paper: S4D constant (its Jacobian does not depend on the input), S6 collapsing faster
    than any power of c, B2S6 decaying polynomially (Θ(c⁻²), Theorem 5). Measured on the zoo's S6 (Δ from a
    low-rank projection of all channels): a local log-log slope down to −2.8 near c = 30, settling at −2 from
    c ≈ 300, with B2S6 about 10³× above it. ``attrs["fit"]``: the log-log slope of
    ``earlier`` against c for c ≥ ``fit_from`` and the ratio earlier(c_max) / earlier(c_min).
    """
    check_names(mixers)
    rows = []
    for name in mixers:
        mixer, site = build(name, d_model, seed, layer, n_state)
        name = display(name)
        gen = torch.Generator().manual_seed(seed + 1)
        base = torch.randn(draws, length, d_model, dtype=torch.float64, generator=gen)
        for c in scales:
            x = base.clone()
            x[:, -1] *= c
            norms = last_output_jacobian(mixer, x)  # (draws, L)
            share = norms / norms.sum(dim=1, keepdim=True)
            rows.append({"mixer": name, "site": site, "c": float(c), "earlier": float(share[:, :-1].sum(1).mean())})
    frame = pd.DataFrame(rows)
    fits = []
    for name, sub in frame.groupby("mixer", sort=False):
        tail = sub[sub["c"] >= fit_from]
        slope = fit_log_slope(np.log(tail["c"].to_numpy()), tail["earlier"].to_numpy())
        ratio = sub["earlier"].iloc[-1] / sub["earlier"].iloc[0]
        fits.append({"mixer": name, "site": sub["site"].iloc[0], "slope": slope, "ratio": ratio})
    frame.attrs["fit"] = pd.DataFrame(fits)

    colours = _colours([display(m) for m in mixers])
    with plots.theme():
        fig, (ax,) = plots._figure(6.0, 4.0)
        for fit in fits:
            sub = frame[frame["mixer"] == fit["mixer"]]
            ax.loglog(
                sub["c"],
                sub["earlier"],
                "o-",
                color=colours[fit["mixer"]],
                ms=4,
                label=f"{fit['mixer']} (slope {fit['slope']:.2f} for c ≥ {fit_from:g})",
            )
        ax.set_xlabel("scale c of the last input")
        ax.set_ylabel("relative influence of earlier inputs Σ S_k")
        ax.set_title(f"Theorem 2: influence of u_1..u_(L−1) on y_L (L = {length})")
        ax.legend(fontsize=8)
    return frame, fig


def _delta_gradients(c: float, length: int, trials: int, n_state: int, dt: float, seed: int) -> dict[str, float]:
    """Mean |gradient| of y_L w.r.t. S6's Δ parameters (w, b) and S4D's Δ bias for d = 1, w = 0 (Theorem 3).

    Each trial is its own d = 1 system, run as one channel (and, for S6, one block) of a single scan:
    A ~ −U(0.1, 1) + i·N(0, 1) (left half plane), B, C ~ N(0, 1) with n states, u ~ c·N(0, 1), Δ = softplus(w·u + b)
    with softplus(b) = ``dt``. S6: B_k = B·u_k, C_k = C·u_k (selective); S4D: B, C fixed. Zero-order hold.
    """
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    real = -torch.empty(trials, n_state, dtype=f64).uniform_(0.1, 1.0, generator=gen)
    A = torch.complex(real, torch.randn(trials, n_state, dtype=f64, generator=gen))
    B = torch.randn(trials, n_state, dtype=f64, generator=gen)
    C = torch.randn(trials, n_state, dtype=f64, generator=gen)
    u = c * torch.randn(1, length, trials, dtype=f64, generator=gen)
    b0 = math.log(math.expm1(dt))
    w = torch.zeros(trials, dtype=f64, requires_grad=True)
    b = torch.full((trials,), b0, dtype=f64, requires_grad=True)
    y, _ = selective_scan(
        u, u * w + b, A, B * u[..., None], C * u[..., None], discretization="zoh", backend=SCAN_BACKEND
    )
    grad_w, grad_b = torch.autograd.grad(y[0, -1].sum(), [w, b])
    b4 = torch.full((trials,), b0, dtype=f64, requires_grad=True)
    y4, _ = selective_scan(
        u, b4, A, B_bias=B.to(A.dtype), C_bias=C.to(A.dtype), discretization="zoh", backend=SCAN_BACKEND
    )
    (grad_s4d,) = torch.autograd.grad(y4[0, -1].sum(), [b4])
    s4d = grad_s4d.abs().mean().item()
    return {"w": grad_w.abs().mean().item() / s4d, "b": grad_b.abs().mean().item() / s4d}


def grad_growth(
    scales: Sequence[float] = tuple(np.logspace(-1, 1, 7)),
    lengths: Sequence[int] = (16, 32, 64, 128, 256, 512, 1024),
    trials: int = 200,
    n_state: int = 4,
    dt: float = 1e-4,
    scale_length: int = 64,
    seed: int = 0,
):
    """Theorem 3: ratio of S6's to S4D's Δ-parameter gradient magnitudes against c and against L.

    The paper's d = 1 units are written directly on ``kernels.selective_scan`` (no zoo mixer has d = 1 and w = 0).

    Against c (at L = ``scale_length``): the w-ratio grows as c³ and the b-ratio as c²; against L (at c = 1):
    the b-ratio grows as √L while Δ·|A|·L stays small (S6's state accumulates u_k², whose mean adds up, where
    S4D's accumulates u_k, whose signs cancel); the w-ratio does not grow with L in this regime. Frame: one row
    per (sweep, parameter, x); ``attrs["fit"]``: the log-log slope per (sweep, parameter) and the paper's value.
    """
    rows = []
    for c in scales:
        ratios = _delta_gradients(float(c), scale_length, trials, n_state, dt, seed)
        rows += [{"sweep": "c", "param": p, "x": float(c), "ratio": r} for p, r in ratios.items()]
    for L in lengths:
        ratios = _delta_gradients(1.0, int(L), trials, n_state, dt, seed)
        rows += [{"sweep": "L", "param": p, "x": float(L), "ratio": r} for p, r in ratios.items()]
    frame = pd.DataFrame(rows)
    expected = {("c", "w"): 3.0, ("c", "b"): 2.0, ("L", "b"): 0.5, ("L", "w"): math.nan}
    fits = [
        {
            "sweep": s,
            "param": p,
            "slope": fit_log_slope(np.log(g["x"].to_numpy()), g["ratio"].to_numpy()),
            "paper": expected[(s, p)],
        }
        for (s, p), g in frame.groupby(["sweep", "param"], sort=False)
    ]
    frame.attrs["fit"] = pd.DataFrame(fits)

    with plots.theme():
        fig, axes = plots._figure(10.0, 3.8, ncols=2)
        colours = {"w": plots.mixer_colour("s6"), "b": plots.mixer_colour("s4d")}
        for ax, sweep, xlabel in ((axes[0], "c", "input scale c"), (axes[1], "L", "length L (c = 1)")):
            for fit in (f for f in fits if f["sweep"] == sweep):
                sub = frame[(frame["sweep"] == sweep) & (frame["param"] == fit["param"])]
                paper = "" if math.isnan(fit["paper"]) else f", paper {fit['paper']:g}"
                ax.loglog(
                    sub["x"],
                    sub["ratio"],
                    "o-",
                    ms=4,
                    color=colours[fit["param"]],
                    label=f"Δ {fit['param']}: slope {fit['slope']:.2f}{paper}",
                )
            ax.set_xlabel(xlabel)
            ax.set_ylabel("|∂y_L/∂θ| S6 / S4D")
            ax.legend(fontsize=8)
        axes[0].set_title(f"Theorem 3 vs c (L = {scale_length}, {trials} trials)", fontsize=10)
        axes[1].set_title(f"Theorem 3 vs L (softplus(b) = {dt:g})", fontsize=10)
    return frame, fig


def stability(
    mixers: Sequence[str] = ("s4d", "s6", "b2s6", "attention"),
    lengths: Sequence[int] = (16, 64, 256, 1024),
    d_model: int = 16,
    draws: int = 4,
    seed: int = 0,
    layer: bool = False,
    n_state: int | None = None,
):
    """‖y_T‖ / √d under N(0, I) input of length T, mean over draws (no zoo mixer exposes its state, so the output).

    Bounded growth means the mixer is stable under Gaussian input (the LRD paper's criterion). ``attrs["fit"]``:
    the log-log slope of the norm against T per mixer (0 for a bounded mixer).
    """
    check_names(mixers)
    rows = []
    for name in mixers:
        mixer, site = build(name, d_model, seed, layer, n_state)
        name = display(name)
        gen = torch.Generator().manual_seed(seed + 1)
        for T in lengths:
            x = torch.randn(draws, int(T), d_model, dtype=torch.float64, generator=gen)
            with torch.no_grad():
                norm = mixer(x)[:, -1].norm(dim=-1).mean().item() / math.sqrt(d_model)
            rows.append({"mixer": name, "site": site, "quantity": "output y_T", "T": int(T), "norm": norm})
    frame = pd.DataFrame(rows)
    frame.attrs["fit"] = pd.DataFrame(
        [
            {
                "mixer": m,
                "slope": fit_log_slope(np.log(g["T"].to_numpy(float)), g["norm"].to_numpy()),
                "max_norm": g["norm"].max(),
            }
            for m, g in frame.groupby("mixer", sort=False)
        ]
    )
    colours = _colours([display(m) for m in mixers])
    with plots.theme():
        fig, (ax,) = plots._figure(6.0, 4.0)
        for name, sub in frame.groupby("mixer", sort=False):
            ax.loglog(sub["T"], sub["norm"], "o-", ms=4, color=colours[name], label=f"{name} ({sub['site'].iloc[0]})")
        ax.set_xlabel("length T")
        ax.set_ylabel("‖y_T‖ / √d (mean over draws)")
        ax.set_title("Stability under N(0, I) input")
        ax.legend(fontsize=8)
    return frame, fig


PROBES = {"lrd": lrd, "influence": influence, "grad_growth": grad_growth, "stability": stability}
"""The probes by name, as ``python -m analysis.probe NAME`` knows them."""
