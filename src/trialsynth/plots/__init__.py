"""Figures: forest (RevMan- or JAMA-style, with subgroups), funnel, cumulative and leave-one-out,
Baujat and Galbraith (radial) plots, RoB 2 traffic-light and summary plots, and a reproducible
SVG/PNG/PDF writer.

Every plot returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state)
and carrying ``fig.trialsynth``, a dict describing what was drawn. matplotlib is imported
only when a plot is drawn, so importing this package is cheap.
"""

from trialsynth.plots.diagnostics import baujat_plot, radial_plot
from trialsynth.plots.forest import forest_plot
from trialsynth.plots.funnel import funnel_plot
from trialsynth.plots.network import league_heatmap, network_forest_plot, network_graph
from trialsynth.plots.rob import rob_summary_plot, traffic_light_plot
from trialsynth.plots.save import save_figure
from trialsynth.plots.sequence import cumulative_plot, leave_one_out_plot
from trialsynth.plots.simulation import simulation_plot

__all__ = [
    "baujat_plot",
    "cumulative_plot",
    "forest_plot",
    "funnel_plot",
    "league_heatmap",
    "leave_one_out_plot",
    "network_forest_plot",
    "network_graph",
    "radial_plot",
    "rob_summary_plot",
    "save_figure",
    "simulation_plot",
    "traffic_light_plot",
]
