"""Shared pieces of the plots: number formatting, names, style, text measurement, axis scales.

Nothing here imports matplotlib at module import; the helpers that need it import it inside.
"""

from __future__ import annotations

import math
from functools import lru_cache

from trialsynth._core.bounds import natural_scale
from trialsynth._core.results import RATIO_MEASURES, REVMAN_MH_RANDOM_NOTE, MetaResult

#: Colour-blind-safe palette (Okabe & Ito 2008 hues, darkened where a mark is small).
COLOURS = {
    "square": "#0b3d91",  # dark blue study squares
    "ci": "#000000",
    "diamond": "#000000",
    "subtotal": "#000000",
    "pi": "#d55e00",  # vermillion prediction interval bar
    "null": "#000000",
    "reference": "#7f7f7f",
    "point": "#0b3d91",
    "filled": "#ffffff",
}

FONT_FAMILY = "DejaVu Sans"  # ships with matplotlib: the same metrics everywhere
FONT_SIZE = 9.0
SMALL_SIZE = 8.5
TITLE_SIZE = 11.0

MEASURE_NAMES = {
    "OR": "Odds ratio",
    "RR": "Risk ratio",
    "HR": "Hazard ratio",
    "RD": "Risk difference",
    "MD": "Mean difference",
    "SMD": "Std. mean difference",
}

MODEL_NAMES = {
    "FE": "Fixed effect, inverse variance",
    "MH": "Fixed effect, Mantel–Haenszel",
    "PETO": "Fixed effect, Peto",
    "DL": "Random effects, DerSimonian–Laird",
    "REML": "Random effects, REML",
    "PM": "Random effects, Paule–Mandel",
    "ML": "Random effects, maximum likelihood",
    "HE": "Random effects, Hedges",
    "SJ": "Random effects, Sidik–Jonkman",
    "EB": "Random effects, empirical Bayes",
    "HS": "Random effects, Hunter–Schmidt",
}

FIXED_METHODS = frozenset({"FE", "MH", "PETO"})

MINUS = "\u2212"


def describe_figure(fig, description: dict) -> None:
    """Attach ``fig.trialsynth``: a dict of what was drawn (kind, rows, points), read by tests and
    the report. A Figure has no such attribute in matplotlib's types: it is added here."""
    fig.trialsynth = description


def rc_params() -> dict:
    """rcParams every plot is drawn and saved under (no TeX, no mathtext surprises)."""
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [FONT_FAMILY],
        "font.size": FONT_SIZE,
        "text.usetex": False,
        "text.parse_math": False,  # user text ("$5 vs $10", "p_1") is drawn as typed, never as maths
        "axes.unicode_minus": True,
        "svg.fonttype": "none",
        "svg.hashsalt": "trialsynth",
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "path.simplify": True,
        "savefig.facecolor": "white",
        "savefig.edgecolor": "white",
    }


# ---------------------------------------------------------------------------------------
# Numbers for people.


def isnan(x) -> bool:
    return x is None or (isinstance(x, float | int) and math.isnan(float(x)))


def num(x: float, digits: int = 2) -> str:
    """Fixed decimals with a typographic minus sign; an en dash when missing."""
    if isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else MINUS + "∞"
    s = f"{x:.{digits}f}"
    if s.startswith("-"):
        # "-0.00" is zero for a reader.
        s = s[1:] if float(s) == 0 else MINUS + s[1:]
    return s


def tick_text(x: float) -> str:
    """A tick label: shortest decimal form ('0.1', '2', '−0.5')."""
    s = f"{x:g}"
    if "e" in s:
        s = f"{x:f}".rstrip("0").rstrip(".")
    return s.replace("-", MINUS)


def p_text(p: float, style: str = "revman") -> str:
    """'P = 0.012', 'P < 0.001' (revman) or JAMA's 'P = .01', 'P < .001'."""
    if isnan(p):
        return "P = –"
    if style == "jama":
        if p < 0.001:
            return "P < .001"
        if p > 0.99:
            return "P > .99"
        digits = 3 if p < 0.01 else 2
        return "P = " + f"{p:.{digits}f}".lstrip("0")
    if p < 0.001:
        return "P < 0.001"
    if p > 0.999:
        return "P > 0.999"
    return f"P = {p:.3f}"


def tau2_text(tau2: float) -> str:
    if isnan(tau2):
        return "–"
    if tau2 == 0 or tau2 >= 0.01:
        return num(tau2, 2)
    return num(tau2, 3) if tau2 >= 0.001 else "<0.001"


def natural(result: MetaResult, x: float) -> float:
    """Back-transform from the analysis scale (exp for ratio measures)."""
    if isnan(x):
        return math.nan
    return natural_scale(float(x), result.ratio)


def is_ratio(measure: str) -> bool:
    return measure in RATIO_MEASURES


def is_random(result: MetaResult) -> bool:
    return result.method not in FIXED_METHODS


def ci_header(result: MetaResult) -> str:
    """RevMan's 'IV, Random, 95% CI' (M-H / Peto / IV; Fixed / Random)."""
    family = {"MH": "M-H", "PETO": "Peto"}.get(result.method, "IV")
    if REVMAN_MH_RANDOM_NOTE in result.notes:
        family = "M-H"
    model = "Fixed" if result.method in FIXED_METHODS else "Random"
    return f"{family}, {model}, {level_text(result)} CI"


def level_text(result: MetaResult) -> str:
    return f"{result.level:g}%"


def model_text(result: MetaResult) -> str:
    multilevel = result.extra.get("multilevel")
    if multilevel is not None:
        # A review outcome with nested effect sizes (trialsynth.workflow.multilevel_outcome).
        text = f"Multilevel random effects ({multilevel.get('formula', 'nested')}), {result.method}"
        return text + ("; CR2 cluster-robust CI, t test" if "robust" in result.extra else "")
    text = MODEL_NAMES.get(result.method, result.method)
    if result.hk:
        text += "; Hartung–Knapp CI"
    return text


def _tau2_chi2(style: str) -> tuple[str, str]:
    """RevMan writes 'Tau²' and 'Chi²'; the JAMA layout the Greek letters."""
    return ("Tau²", "Chi²") if style == "revman" else ("τ²", "χ²")


def note_text(note: str, style: str = "revman") -> str:
    """A result's note for a figure footer, its τ² and χ² spelled as the lines above it are."""
    tau2, chi2 = _tau2_chi2(style)
    return "Note: " + note.replace("τ²", tau2).replace("χ²", chi2)


def heterogeneity_text(result: MetaResult, style: str = "revman") -> str:
    """RevMan's 'Heterogeneity: Tau² = 0.31; Chi² = 152.23, df = 12 (P < 0.001); I² = 92%'
    (JAMA layout: τ², χ²). I² is the result's own (see :func:`i2_definition_text`)."""
    if result.q_df < 1 or isnan(result.q):
        return "Heterogeneity: not applicable"
    tau2, chi2 = _tau2_chi2(style)
    parts = []
    if is_random(result) and not isnan(result.tau2):
        parts.append(f"{tau2} = {tau2_text(result.tau2)}")
    parts.append(f"{chi2} = {num(result.q, 2)}, df = {result.q_df} ({p_text(result.q_p_value, style)})")
    if not isnan(result.i2):
        parts.append(f"I² = {result.i2:.0f}%")
    return "Heterogeneity: " + "; ".join(parts)


def i2_definition_text(result: MetaResult, style: str = "revman") -> str:
    """The definition of the I² the heterogeneity lines show (``MetaResult.i2_from``)."""
    tau2, chi2 = _tau2_chi2(style)
    if "multilevel" in result.extra:
        return "I² = Σσ²/(Σσ² + s²) over the levels of the multilevel model (Cheung 2014)"
    if result.i2_from == "Q":
        return f"I² = ({chi2} − df)/{chi2}, truncated at 0 (Higgins & Thompson 2002)"
    return f"I² = {tau2}/({tau2} + s²), s² the typical within-study variance (Higgins & Thompson 2002)"


def overall_test_text(result: MetaResult, style: str = "revman") -> str:
    """'Test for overall effect: Z = 3.95 (P < 0.001)' or with t and its df under Hartung–Knapp."""
    if not result.pooled:
        return "Test for overall effect: not applicable (one study)"
    if isnan(result.statistic):
        return "Test for overall effect: not estimable"
    stat = abs(result.statistic)
    if result.test == "t":
        return (
            f"Test for overall effect: t = {num(stat)}, df = {result.df:g} ({p_text(result.p_value, style)})"
        )
    return f"Test for overall effect: Z = {num(stat)} ({p_text(result.p_value, style)})"


def subgroup_test_text(test: dict, style: str = "revman") -> str:
    """'Test for subgroup differences: Chi² = 1.23, df = 2 (P = 0.541), I² = 0%' (JAMA: χ²)."""
    q, df, p = float(test["q"]), int(test["df"]), float(test["p"])
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    chi2 = _tau2_chi2(style)[1]
    return f"Test for subgroup differences: {chi2} = {num(q)}, df = {df} ({p_text(p, style)}), I² = {i2:.0f}%"


def effect_ci_text(est: float, lo: float, hi: float, style: str = "revman") -> str:
    """'0.48 [0.28, 0.82]' (revman) or '0.48 (0.28–0.82)' (jama; 'to' when a bound is negative)."""
    if style == "jama":
        sep = "–" if lo >= 0 and hi >= 0 else " to "
        return f"{num(est)} ({num(lo)}{sep}{num(hi)})"
    return f"{num(est)} [{num(lo)}, {num(hi)}]"


def interval_text(lo: float, hi: float, style: str = "revman") -> str:
    if style == "jama":
        sep = "–" if lo >= 0 and hi >= 0 else " to "
        return f"({num(lo)}{sep}{num(hi)})"
    return f"[{num(lo)}, {num(hi)}]"


# ---------------------------------------------------------------------------------------
# Text measurement (inches), with the Agg renderer the PNG is drawn with.


@lru_cache(maxsize=1)
def _renderer():
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(8, 8, 300)


@lru_cache(maxsize=4096)
def text_width(text: str, size: float = FONT_SIZE, bold: bool = False) -> float:
    """Width of ``text`` in inches in the plots' font (no mathtext)."""
    if not text:
        return 0.0
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(family=[FONT_FAMILY], size=size, weight="bold" if bold else "normal")
    width, _, _ = _renderer().get_text_width_height_descent(text, prop, ismath=False)
    return width / 300.0


def truncate(text: str, max_width: float, size: float = FONT_SIZE, bold: bool = False) -> str:
    """``text`` cut with an ellipsis so that it is at most ``max_width`` inches wide."""
    if text_width(text, size, bold) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid].rstrip() + "…", size, bold) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


# ---------------------------------------------------------------------------------------
# Axis limits and ticks on the natural scale.

_LOG_LIMITS = (
    (1.5, (0.67, 0.8, 1, 1.25, 1.5)),
    (2.0, (0.5, 0.7, 1, 1.5, 2)),
    (5.0, (0.2, 0.5, 1, 2, 5)),
    (10.0, (0.1, 0.2, 0.5, 1, 2, 5, 10)),
    (20.0, (0.05, 0.2, 1, 5, 20)),
    (50.0, (0.02, 0.1, 1, 10, 50)),
    (100.0, (0.01, 0.1, 1, 10, 100)),
    (1000.0, (0.001, 0.01, 0.1, 1, 10, 100, 1000)),
)


def _nice_ceil(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at least ``x``."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    exp = math.floor(math.log10(x))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        v = m * 10.0**exp
        if v >= x * (1 - 1e-12):
            return v
    return 10.0 ** (exp + 1)  # pragma: no cover


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis between ``lo`` and ``hi`` (1-2-5 steps, thinned when wide)."""
    decades = math.log10(hi) - math.log10(lo)
    mults = (1, 2, 5) if decades <= 2.5 else (1,)
    ticks = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in mults:
            t = m * 10.0**e
            if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9):
                ticks.append(float(f"{t:.12g}"))
    if 1.0 not in ticks and lo < 1 < hi:
        ticks.append(1.0)
    return sorted(ticks)


def axis_limits(
    ratio: bool,
    core: list[float],
    extent: list[float],
    xlim: tuple[float, float] | None = None,
) -> tuple[tuple[float, float], list[float]]:
    """Symmetric limits around the null on the natural scale, and their ticks.

    ``core`` (point estimates, pooled intervals) must fit; ``extent`` (study CIs) should fit
    unless that would squash everything, in which case CIs are clipped and drawn with arrows.
    A user ``xlim`` wins.
    """
    if xlim is not None:
        lo, hi = float(xlim[0]), float(xlim[1])
        if ratio:
            if not (0 < lo < hi):
                raise ValueError("xlim for a ratio measure must be 0 < lower < upper")
            return (lo, hi), log_ticks(lo, hi)
        if not lo < hi:
            raise ValueError("xlim must be lower < upper")
        import numpy as np
        from matplotlib.ticker import MaxNLocator

        ticks = [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)]
        ticks = [t for t in ticks if lo - 1e-9 * (hi - lo) <= t <= hi + 1e-9 * (hi - lo)]
        return (lo, hi), [0.0 if abs(t) < 1e-12 else float(np.round(t, 12)) for t in ticks]
    core = [v for v in core if not isnan(v) and math.isfinite(v)]
    extent = [v for v in extent if not isnan(v) and math.isfinite(v)]
    if ratio:
        core = [v for v in core if v > 0]
        extent = [v for v in extent if v > 0]
        need_core = max([abs(math.log(v)) for v in core] or [0.0])
        need_all = max([abs(math.log(v)) for v in extent] + [need_core])
        limit = None
        for lim, ticks in _LOG_LIMITS:
            if math.log(lim) >= need_all * (1 - 1e-12) and lim <= 100:
                limit = (lim, ticks)
                break
        if limit is None:
            for lim, ticks in _LOG_LIMITS:
                if math.log(lim) >= need_core * (1 - 1e-12):
                    limit = (lim, ticks)
                    break
        if limit is None:
            limit = _LOG_LIMITS[-1]
        lim, ticks = limit
        return (1.0 / lim, lim), list(ticks)
    need_core = max([abs(v) for v in core] or [0.0])
    need_all = max([abs(v) for v in extent] + [need_core])
    need = need_all
    if need_core > 0 and _linear_limit(need_all) > 4 * _linear_limit(need_core):
        need = need_core * 1.5  # a few very wide CIs: clip them rather than squash the rest
    lim = _linear_limit(need)
    return (-lim, lim), [-lim, -lim / 2, 0.0, lim / 2, lim]


def _linear_limit(need: float) -> float:
    """Smallest 2s with s in 1, 2, 2.5, 5 × 10^k covering ``need``: ticks ±2s, ±s, 0 are round."""
    if not (need > 0 and math.isfinite(need)):
        return 1.0
    return 2 * _nice_ceil(need / 2)
