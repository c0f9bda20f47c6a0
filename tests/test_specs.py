"""Every spec shipped in audits/ loads and validates (users copy these files)."""

from pathlib import Path

import pytest

from recaudit.spec import load_spec

SPECS = sorted((Path(__file__).resolve().parents[1] / "audits").glob("*.yaml"))


def test_the_documented_specs_exist():
    names = {p.name for p in SPECS}
    assert {"quickstart.yaml", "ablation.yaml"} <= names


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_spec_validates(path):
    spec = load_spec(path)
    assert spec.auditors
    if path.name == "ablation.yaml":
        assert spec.ablation["mitigations"]["none"] is None
        assert len(spec.ablation["seeds"]) >= 2
