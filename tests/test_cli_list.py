"""``recaudit list``: auditors by family with the metrics each emits, then mitigations,
perturbations, model kinds, dataset kinds and executors."""

from __future__ import annotations

import pytest

import recaudit as ra
from recaudit.auditors import BUILTIN_AUDITORS, _registry, get_auditor_class
from recaudit.cli import main
from recaudit.listing import FAMILY_ORDER


@pytest.fixture(autouse=True)
def _isolated_registry(monkeypatch):
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))


def _listing(capsys) -> list[str]:
    assert main(["list"]) == 0
    return capsys.readouterr().out.splitlines()


def _section(lines: list[str], title: str) -> list[list[str]]:
    start = lines.index(f"{title}:")
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_auditors_come_by_family_each_with_its_metrics(capsys):
    lines = _listing(capsys)
    assert lines[0].split() == ["auditor", "family", "requires"]
    auditor_rows = [line.split() for line in lines[1:lines.index("")]
                    if not line.startswith(" ")]
    assert set(BUILTIN_AUDITORS) <= {r[0] for r in auditor_rows}
    auditor_rows = [r for r in auditor_rows if r[0] in BUILTIN_AUDITORS]  # not plug-ins
    families = [r[1] for r in auditor_rows]
    assert families == sorted(families, key=FAMILY_ORDER.index)
    assert ["popularity_bias", "bias", "rank"] in [r[:3] for r in auditor_rows]
    # the metric lines of one auditor follow its row, one per declaration, in order
    at = next(n for n, line in enumerate(lines) if line.startswith("popularity_bias "))
    block = [line.split() for line in lines[at + 1:at + 1 + len(
        get_auditor_class("popularity_bias").metrics)]]
    assert [r[0] for r in block] == [s.name for s in get_auditor_class(
        "popularity_bias").metrics]
    text = "\n".join(lines)
    assert " ".join(["popularity_lift", "lower", "is", "better", "threshold", "1.5"]) in \
        " ".join(text.split())
    assert " ".join(["aplt_ratio", "higher", "is", "better", "threshold", "0.25"]) in \
        " ".join(text.split())
    assert "threshold 0.5; history_truncation: 0.3" in text  # rbo and its scoped default
    for name in ("snsr_prag", "tpr_at_0.1pct_fpr", "faithfulness_margin", "canary_exposure"):
        assert any(line.split()[:1] == [name] for line in lines), name


@pytest.mark.parametrize("title, name", [
    ("mitigations", "reweighting"), ("perturbations", "history_shuffle"),
    ("model kinds", "tiny_lm"), ("dataset kinds", "synthetic"), ("executors", "local"),
])
def test_every_registry_has_a_section(capsys, title, name):
    rows = _section(_listing(capsys), title)
    assert rows[0][0] in ("name", "kind")
    assert name in [r[0] for r in rows[1:]]
    assert all(len(r) >= 2 for r in rows[1:])  # every entry says something about itself


def test_custom_auditors_are_listed_with_or_without_declarations(capsys):
    @ra.register_auditor("list_by_attribute")
    class ByAttribute(ra.Auditor):
        family = "custom"
        metrics = (ra.MetricSpec("gap_{attribute}", "gap per attribute", False,
                                 threshold=0.1),)

    @ra.register_auditor("list_silent")
    class Silent(ra.Auditor):
        family = "custom"

    lines = _listing(capsys)
    at = next(n for n, line in enumerate(lines) if line.startswith("list_by_attribute "))
    assert lines[at + 1].split()[:6] == ["gap_{attribute}", "lower", "is", "better",
                                         "threshold", "0.1"]
    at = next(n for n, line in enumerate(lines) if line.startswith("list_silent "))
    assert lines[at + 1].strip() == "(declares no metrics)"
