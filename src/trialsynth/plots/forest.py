"""Forest plots: RevMan-style (study, arm data, weight, effect [CI], graph) or compact JAMA-style."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trialsynth._core.results import MetaResult, StudyRow
from trialsynth.plots._common import (
    MEASURE_NAMES,
    axis_limits,
    ci_header,
    effect_ci_text,
    heterogeneity_text,
    i2_definition_text,
    interval_text,
    is_random,
    isnan,
    level_text,
    model_text,
    natural,
    note_text,
    overall_test_text,
    subgroup_test_text,
)
from trialsynth.plots._table import Col, Row, Spec, draw, square_size

LAYOUTS = ("revman", "jama")


def _groups(result, subgroups, subgroup_test):
    """Normalise the subgroup arguments: (overall, [(name, result)] or None, test dict or None)."""
    if subgroups is None:
        if result is None:
            raise ValueError("forest_plot needs a result")
        return result, None, None
    if hasattr(subgroups, "groups") and hasattr(subgroups, "overall"):
        groups = [(str(n), r) for n, r in subgroups.groups]
        if result is None:
            result = subgroups.overall
        if subgroup_test is None:
            subgroup_test = {
                "q": subgroups.q_between,
                "df": subgroups.q_between_df,
                "p": subgroups.q_between_p_value,
            }
    else:
        groups = [(str(n), r) for n, r in subgroups]
    if result is None:
        raise ValueError("a subgroup forest plot needs the overall result as well")
    if not groups:
        raise ValueError("subgroups is empty")
    for name, r in groups:
        if r.measure != result.measure:
            raise ValueError(
                f"subgroup '{name}' has measure {r.measure}, the overall result {result.measure}"
            )
    return result, groups, subgroup_test


def _arm_columns(arm_data, studies: list[StudyRow], arm_headers):
    """Per displayed study a dict of arm texts, and the arm keys in order."""
    if arm_data is None:
        return None, []
    if isinstance(arm_data, Mapping):
        per = [arm_data.get(s.study) or {} for s in studies]
    else:
        per = [a or {} for a in arm_data]
        if len(per) != len(studies):
            raise ValueError(f"arm_data has {len(per)} entries for {len(studies)} studies")
    keys: list[str] = []
    for a in per:
        for key in a:
            if key not in keys:
                keys.append(key)
    if isinstance(arm_headers, Mapping):
        heads = [str(arm_headers.get(k, k)) for k in keys]
    elif arm_headers is not None:
        heads = [str(h) for h in arm_headers]
        if len(heads) != len(keys):
            raise ValueError(f"arm_headers has {len(heads)} names for {len(keys)} arm columns")
    else:
        heads = [k[:1].upper() + k[1:] for k in keys]
    return per, list(zip(keys, heads, strict=True))


def _diamond(result: MetaResult, role: str) -> dict[str, Any] | None:
    if not result.pooled or isnan(result.estimate):
        return None
    return {
        "type": "diamond",
        "role": role,
        "lo": natural(result, result.ci_lower),
        "est": natural(result, result.estimate),
        "hi": natural(result, result.ci_upper),
    }


def forest_plot(
    result: MetaResult | None = None,
    *,
    arm_data: Sequence[Mapping[str, str] | None] | Mapping[str, Mapping[str, str] | None] | None = None,
    labels: tuple[str, str] | None = ("Favours treatment", "Favours control"),
    title: str | None = None,
    layout: str = "revman",
    subgroups=None,
    subgroup_test: Mapping[str, float] | None = None,
    show_pi: bool = True,
    xlim: tuple[float, float] | None = None,
    arm_headers: Sequence[str] | Mapping[str, str] | None = None,
    max_label_width: float | None = 4.0,
    risk_of_bias: Mapping[str, Mapping[str, str]] | None = None,
):
    """A forest plot of ``result`` as a :class:`matplotlib.figure.Figure`.

    ``layout="revman"``: study | arm data columns | weight | effect [CI] | graph, with the
    heterogeneity, overall-effect and model lines underneath. ``layout="jama"``: study | graph |
    effect (CI) | weight, no arm data. Ratios are drawn on a log axis, back-transformed.

    ``arm_data``: per study (in display order) a dict of arm texts such as
    ``{"treatment": "72/103", "control": "57/104"}`` (the keys head the columns, or
    ``arm_headers``, where a line break starts a second header line, e.g. ``"Treatment\\nn/N"``), or a
    mapping study label → such a dict.
    ``labels``: the "Favours …" texts under the axis, left (effect below the null) then right.
    ``subgroups``: a :class:`trialsynth.stats.analyses.SubgroupResult`, or a list of
    ``(name, MetaResult)`` with ``result`` the overall fit and ``subgroup_test``
    ``{"q": …, "df": …, "p": …}``. ``show_pi``: the prediction interval of a random-effects
    model with three or more studies. ``xlim``: axis limits on the natural scale; intervals beyond
    them are clipped with an arrow head. ``max_label_width``: study labels wider than this
    (inches) are cut with an ellipsis (``None``: never).

    ``risk_of_bias``: study label → RoB 2 judgements ``{"D1": …, …, "D5": …, "overall": …}``
    (each low, some concerns or high; see :func:`trialsynth.plots.rob.rob_by_label`): adds a
    column of coloured circles per domain and overall on the right (RevMan style), blank for
    studies not assessed, with the domain names and the key in the footer.

    The figure carries ``fig.trialsynth``, a dict describing what was drawn (rows, diamonds,
    axis scale and limits); the artists carry labels ``ts:square``, ``ts:ci``, ``ts:diamond``,
    ``ts:subtotal``, ``ts:pi``, ``ts:arrow``, ``ts:null`` for inspection.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    overall, groups, test = _groups(result, subgroups, subgroup_test)
    style = layout
    ratio = overall.ratio
    level = level_text(overall)
    name = MEASURE_NAMES.get(overall.measure, overall.measure)

    blocks = (
        [(g, r, list(r.studies)) for g, r in groups] if groups else [(None, overall, list(overall.studies))]
    )
    shown = [s for _, _, ss in blocks for s in ss]
    # Weights: with subgroups, the overall model's (RevMan), when every study maps to one of its rows.
    weight_of: dict[int, float] = {}
    if groups:
        by_label: dict[str, list[StudyRow]] = {}
        for s in overall.studies:
            by_label.setdefault(s.study, []).append(s)
        if all(len(by_label.get(s.study, [])) == 1 for s in shown):
            weight_of = {id(s): by_label[s.study][0].weight for s in shown}
    overall_weights = bool(weight_of)
    if not overall_weights:
        weight_of = {id(s): s.weight for s in shown}
    max_w = max([w for w in weight_of.values() if not isnan(w)] or [1.0])

    arms, arm_cols = _arm_columns(arm_data if layout == "revman" else None, shown, arm_headers)

    # ---- columns
    if layout == "revman":
        cols = [
            Col("label", ("Study or subgroup" if groups else "Study",), "left", max_width=max_label_width)
        ]
        cols += [Col(f"arm:{k}", tuple(h.split("\n")), "center") for k, h in arm_cols]
        cols += [
            Col("weight", ("Weight",), "right"),
            Col("effect", (name, ci_header(overall)), "right"),
            Col("graph", (name, ci_header(overall)), graph=True),
        ]
    else:
        cols = [
            Col("label", ("Study",), "left", max_width=max_label_width),
            Col("graph", (f"{name} ({level} CI)",), graph=True),
            Col("effect", (f"{overall.measure} ({level} CI)",), "right"),
            Col("weight", ("Weight, %",), "right"),
        ]

    if risk_of_bias is not None:
        from trialsynth.plots.rob import COLUMNS as ROB_COLUMNS
        from trialsynth.plots.rob import HEADERS as ROB_HEADERS

        cols += [
            Col(f"rob:{c}", (ROB_HEADERS[c] if c != "overall" else "O",), "center", rob=True)
            for c in ROB_COLUMNS
        ]

    def weight_text(w: float) -> str:
        if isnan(w):
            return ""
        return f"{w:.1f}%" if layout == "revman" else f"{w:.1f}"

    rows: list[Row] = []
    core: list[float] = []
    extent: list[float] = []
    diamonds: list[dict[str, Any]] = []
    i_shown = 0
    for gname, gres, studies in blocks:
        if gname is not None:
            rows.append(Row("subgroup", {"label": gname}, bold=True, label=gname))
        for s in studies:
            cells = {"label": s.study}
            if arms is not None:
                for k, _ in arm_cols:
                    cells[f"arm:{k}"] = str(arms[i_shown].get(k, ""))
            i_shown += 1
            if risk_of_bias is not None and s.study in risk_of_bias:
                judged = risk_of_bias[s.study]
                for c in ROB_COLUMNS:
                    if judged.get(c) not in ("low", "some concerns", "high"):
                        raise ValueError(
                            f"risk_of_bias['{s.study}']['{c}'] is {judged.get(c)!r}, not a RoB 2 judgement"
                        )
                    cells[f"rob:{c}"] = judged[c]
            if not s.included or isnan(s.yi):
                cells["effect"] = "Not estimable"
                rows.append(Row("missing", cells, label=s.study))
                continue
            est, lo, hi = natural(gres, s.yi), natural(gres, s.ci_lower), natural(gres, s.ci_upper)
            w = weight_of[id(s)]
            cells["weight"] = weight_text(w)
            cells["effect"] = effect_ci_text(est, lo, hi, style)
            core.append(est)
            extent += [lo, hi]
            mark = {
                "type": "square",
                "est": est,
                "lo": lo,
                "hi": hi,
                "weight": w,
                "size": square_size(w, max_w),
            }
            rows.append(Row("study", cells, mark=mark, label=s.study))
        if gname is not None:
            label = f"Subtotal ({level} CI)"
            d = _diamond(gres, "subtotal")
            cells = {"label": label}
            if overall_weights:
                cells["weight"] = weight_text(sum(weight_of[id(s)] for s in studies if s.included))
            elif gres.k >= 1:
                cells["weight"] = weight_text(100.0)
            if d:
                cells["effect"] = effect_ci_text(d["est"], d["lo"], d["hi"], style)
                core += [d["lo"], d["est"], d["hi"]]
                diamonds.append({"role": "subtotal", "label": gname, **_triple(d)})
            else:
                cells["effect"] = "Not pooled (one study)" if gres.k == 1 else "Not estimable"
            rows.append(Row("subtotal", cells, bold=True, mark=d, label=label))
            if gres.pooled:
                rows.append(Row("span", span=heterogeneity_text(gres, style), height=0.8))
                rows.append(Row("span", span=overall_test_text(gres, style), height=0.8))
            rows.append(Row("blank", height=0.5))
    if not groups:
        rows.append(Row("blank", height=0.35))

    total_label = f"Total ({level} CI)" if layout == "revman" else "Overall"
    d = _diamond(overall, "total")
    cells = {"label": total_label, "weight": weight_text(100.0)}
    if d:
        cells["effect"] = effect_ci_text(d["est"], d["lo"], d["hi"], style)
        core += [d["lo"], d["est"], d["hi"]]
        diamonds.append({"role": "total", "label": total_label, **_triple(d)})
    else:
        cells["effect"] = "Not pooled (one study)" if overall.k == 1 else "Not estimable"
    rows.append(Row("total", cells, bold=True, mark=d, label=total_label))
    pi = None
    # A prediction interval from two studies says nothing beyond the CI: shown from three on.
    if show_pi and overall.pooled and overall.k >= 3 and is_random(overall) and not isnan(overall.pi_lower):
        pi = (natural(overall, overall.pi_lower), natural(overall, overall.pi_upper))
        rows.append(
            Row(
                "pi",
                {"label": "Prediction interval", "effect": interval_text(*pi, style)},
                mark={"type": "pi", "lo": pi[0], "hi": pi[1]},
                label="Prediction interval",
            )
        )
        core += list(pi)

    footer = [model_text(overall), heterogeneity_text(overall, style), overall_test_text(overall, style)]
    if groups and test is not None:
        footer.append(subgroup_test_text(test, style))
    shown_i2 = [r for r in [overall, *(g for _, g in groups or [])] if r.q_df >= 1 and not isnan(r.i2)]
    for definition in dict.fromkeys(i2_definition_text(r, style) for r in shown_i2):
        footer.append(definition)
    for note in overall.notes:
        footer.append(note_text(note, style))
    if risk_of_bias is not None:
        from trialsynth.plots.rob import rob_legend_lines

        footer += rob_legend_lines(overall="O")

    limits, ticks = axis_limits(ratio, core, extent, xlim)
    spec = Spec(
        kind="forest",
        columns=cols,
        rows=rows,
        ratio=ratio,
        xlim=limits,
        ticks=ticks,
        footer=footer,
        title=title,
        favours=(labels[0], labels[1]) if labels else None,
        reference=d["est"] if d else None,
        meta={
            "layout": layout,
            "measure": overall.measure,
            "diamond": (d["lo"], d["est"], d["hi"]) if d else None,
            "diamonds": diamonds,
            "prediction_interval": pi,
            "subgroups": [g for g, _ in groups] if groups else [],
            "weights_from": "overall" if overall_weights or not groups else "subgroup",
        },
    )
    return draw(spec)


def _triple(d: dict[str, Any]) -> dict[str, float]:
    return {"lower": d["lo"], "centre": d["est"], "upper": d["hi"]}
