"""Performance of estimators in a simulation study: bias, MSE, coverage and CI width per scenario."""

from __future__ import annotations

from collections.abc import Sequence

from trialsynth.plots._common import describe_figure, rc_params

#: Okabe & Ito (2008) colour-blind-safe hues, one per estimator (cycled).
_HUES = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
_PANELS = (
    ("bias", "bias_mcse", "Bias (estimate − true effect)"),
    ("mse", "mse_mcse", "Mean squared error"),
    ("coverage", "coverage_mcse", "Coverage of the CI"),
    ("ci_width", "ci_width_mcse", "Mean CI width"),
)


def simulation_plot(rows: Sequence[dict], *, level: float = 95.0, title: str | None = None):
    """Four panels (bias, MSE, coverage, CI width) with scenarios down the side and one marker per
    estimator, ±2 Monte Carlo standard errors as bars; reference lines at 0 bias and at the nominal
    coverage. ``rows`` are :class:`trialsynth.stats.simulate.SimulationResult` rows. Returns a Figure
    whose ``fig.trialsynth`` lists the scenarios and estimators drawn.
    """
    import math

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    if not scenarios:
        raise ValueError("a simulation plot needs at least one result row")
    by_key = {(r["scenario"], r["estimator"]): r for r in rows}
    nominal = level / 100.0 if level > 1 else level
    n_s, n_e = len(scenarios), len(estimators)
    label_width = min(4.5, 0.8 + 0.065 * max(len(s) for s in scenarios))
    panel_width = 2.6
    height = 1.2 + 0.32 * n_s * max(1.0, n_e / 3)
    width = label_width + 4 * panel_width + 0.3
    with matplotlib.rc_context(rc_params()):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        step = 0.7 / max(n_e, 1)
        for p, (key, mcse_key, name) in enumerate(_PANELS):
            left = (label_width + p * panel_width) / width
            ax = fig.add_axes((left, 0.75 / height, (panel_width - 0.35) / width, (height - 1.2) / height))
            for j, est in enumerate(estimators):
                ys, xs, errs = [], [], []
                for i, sc in enumerate(scenarios):
                    row = by_key.get((sc, est))
                    if row is None or row[key] is None or math.isnan(row[key]):
                        continue
                    ys.append(n_s - 1 - i + 0.35 - (j + 0.5) * step)
                    xs.append(row[key])
                    mc = row[mcse_key]
                    errs.append(0.0 if mc is None or math.isnan(mc) else 2 * mc)
                ax.errorbar(
                    xs,
                    ys,
                    xerr=errs,
                    fmt=_MARKERS[j % len(_MARKERS)],
                    color=_HUES[j % len(_HUES)],
                    markersize=4,
                    elinewidth=0.8,
                    capsize=0,
                    label=est,
                )
            if key == "bias":
                ax.axvline(0.0, color="#333333", linestyle="--", linewidth=0.9, zorder=1)
            if key == "coverage":
                ax.axvline(nominal, color="#333333", linestyle="--", linewidth=0.9, zorder=1)
            ax.set_ylim(-0.5, n_s - 0.5)
            ax.set_yticks(range(n_s))
            ax.set_yticklabels(list(reversed(scenarios)) if p == 0 else [])
            ax.set_title(name, fontsize=9)
            ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
            ax.set_axisbelow(True)
            for spine in ("top", "right"):
                ax.spines[spine].set_visible(False)
            if p == 0:
                handles, labels = ax.get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=min(n_e, 6),
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
        )
        if title:
            fig.suptitle(title, fontsize=11, y=1 - 0.12 / height)
    describe_figure(
        fig, {"kind": "simulation", "scenarios": scenarios, "estimators": estimators, "level": level}
    )
    return fig
