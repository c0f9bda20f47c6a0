"""Figures are data: auditors return :class:`recaudit.Figure`, the report draws it, from a
live result and from one read back from JSON alike."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import recaudit as ra
from recaudit.report import DRAWERS, AuditReport, draw, drawer
from recaudit.results import AuditResult
from recaudit.testing.zoo.popularity import PopularityPusher


@pytest.fixture(scope="module")
def report():
    data = ra.datasets.synthetic(n_users=60, n_items=40, seed=0)
    return ra.audit(PopularityPusher(data), data, ["popularity_bias", "position_bias"],
                    cache=False, progress=False, config={"n_bootstrap": 20})


def test_figure_data_is_normalised_to_json_values():
    fig = ra.Figure("bars", {"labels": ("a", "b"), "values": np.array([1.5, np.nan]),
                             "table": pd.DataFrame({"x": [1, 2], "y": [0.5, math.nan]}),
                             "n": np.int64(3)})
    assert fig.data == {"labels": ["a", "b"], "values": [1.5, None],
                        "table": {"x": [1, 2], "y": [0.5, None]}, "n": 3}
    assert ra.Figure.from_dict(fig.to_dict()) == fig
    with pytest.raises(TypeError, match="non-empty string"):
        ra.Figure("", {})


def test_a_report_read_back_from_json_draws_the_same_figures(report):
    again = AuditReport.from_json(report.to_json())
    for name in ("popularity_bias", "position_bias"):
        live, back = report[name].figures, again[name].figures
        assert live and live == back
        assert all(isinstance(f, ra.Figure) for f in back.values())
        assert [draw(f) for f in live.values()] == [draw(f) for f in back.values()]
    html = again.to_html()
    assert html.count("<figure><svg") == sum(len(r.figures) for r in again.results)


def test_svg_text_from_a_plugin_or_an_old_report_still_shows():
    svg = draw(ra.Figure("bars", {"labels": ["a"], "values": [1.0]}))
    res = AuditResult("legacy", figures={"old": svg})
    assert AuditResult.from_dict(res.to_dict()).figures == {"old": svg}
    assert draw(svg) is svg


def test_a_figure_that_cannot_be_drawn_is_a_note_not_a_lost_report(report):
    broken = AuditReport.from_json(report.to_json())
    broken["popularity_bias"].figures["mystery"] = ra.Figure("no_such_kind", {})
    html = broken.to_html()
    assert "figure &#39;no_such_kind&#39; could not be drawn" in html
    assert "unknown figure kind" in html and "popularity_by_rank" in html


def test_a_plugin_registers_its_own_drawer(monkeypatch):
    monkeypatch.setattr(DRAWERS, "_objects", dict(DRAWERS._objects))

    @drawer("plugin_dot")
    def dot(data):
        return f'<svg><circle r="{data["r"]}"/></svg>'

    assert draw(ra.Figure("plugin_dot", {"r": 2})) == '<svg><circle r="2"/></svg>'
    with pytest.raises(TypeError, match="Figure or SVG text"):
        draw(42)
