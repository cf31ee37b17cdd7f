"""Jupyter display (_repr_html_) of results: escaped tables and the forest plot inlined."""

from __future__ import annotations

import base64
import math
import re

from tests.plots.test_plots import BCG
from trialsynth.stats.analyses import subgroups
from trialsynth.stats.meta import meta_analysis


def _svg_of(html: str) -> str:
    (uri,) = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)"', html)
    return base64.b64decode(uri).decode("utf-8")


def test_meta_result_html_has_the_estimate_as_formatted_and_the_forest_plot():
    r = meta_analysis([-0.9, -1.6, -0.3], [0.33, 0.2, 0.4], labels=["A", "B", "C"], measure="RR", method="DL")
    html = r._repr_html_()
    est, lo, hi = (math.exp(v) for v in (r.estimate, r.ci_lower, r.ci_upper))
    assert f"<td>{est:.2f} ({lo:.2f} to {hi:.2f})</td>" in html  # the back-transformed pooled RR
    svg = _svg_of(html)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # the forest plot in the image is this result's (text is kept as text in the SVG)
    assert f"{est:.2f} [{lo:.2f}, {hi:.2f}]" in svg
    for s in r.studies:
        assert f"<td>{s.study}</td>" in html and f"{s.weight:.1f}%" in html


def test_user_text_is_escaped():
    evil = "<script>alert(1)</script>"
    r = meta_analysis([0.1, 0.3], [0.04, 0.05], labels=[evil, "B & C"], measure="MD", method="FE")
    html = r._repr_html_()
    assert evil not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "B &amp; C" in html
    assert "&lt;script&gt;" in _svg_of(html)  # matplotlib escapes it inside the SVG too


def test_subgroup_result_html(tmp_path):
    from trialsynth.io.poolcsv import read_pool_csv

    path = tmp_path / "bcg.csv"
    path.write_text(BCG)
    sg = subgroups(read_pool_csv(path, measure="RR"), "alloc", method="REML")
    html = sg._repr_html_()
    for name, g in sg.groups:
        est, lo, hi = (math.exp(v) for v in (g.estimate, g.ci_lower, g.ci_upper))
        assert (
            f"<td>{name}</td><td class='num'>{g.k}</td><td class='num'>{est:.2f} ({lo:.2f} to {hi:.2f})</td>"
            in html
        )
    assert f"Q = {sg.q_between:.2f}, df = 2" in html
    assert len(re.findall("<img ", html)) == 1
