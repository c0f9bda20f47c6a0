"""ra.compare: the tidy table, skipped cells, pairwise tests, best marks, outputs, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import recaudit as ra
from recaudit.cli import main
from recaudit.compare import TABLE_COLUMNS
from recaudit.metrics.pairwise import paired_bootstrap as _paired_bootstrap
from recaudit.metrics.pairwise import seed_test as _seed_test
from recaudit.metrics.statistics import holm
from recaudit.spec import load_spec

from .conftest import SEEDS

FAST = {"n_bootstrap": 100, "n_permutations": 100}


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=80, n_items=50, seed=0)


@pytest.fixture(scope="module")
def result(world):
    models = {"pop": ra.models.MostPopular(world), "knn": ra.models.ItemKNN(world),
              "random": ra.models.RandomRecommender(world, seed=0)}
    return ra.compare(models, world, ["popularity_bias", "explanation_faithfulness"],
                      seeds=[0, 1], config=FAST, cache=False, progress=False)


def test_tidy_table_has_every_model_seed_and_metric(result):
    t = result.table
    assert list(t.columns) == TABLE_COLUMNS
    assert set(t["model"]) == {"pop", "knn", "random"} and set(t["seed"]) == {0, 1}
    counts = t.groupby(["auditor", "metric", "scope"]).size()
    assert (counts == 3 * 2).all()  # one row per model x seed for every metric
    util = t[(t.auditor == "utility") & (t.metric == "ndcg_at_10")]
    assert (util["ci_low"] <= util["value"]).all() and (util["value"] <= util["ci_high"]).all()


def test_skipped_is_skipped_not_zero(result):
    t = result.table
    expl = t[t.auditor == "explanation_faithfulness"]
    assert len(expl) == 6 and (expl["verdict"] == "skipped").all()
    assert expl["value"].isna().all()
    assert expl["reason"].str.contains("explain").all()
    assert result.pairwise().query("auditor == 'explanation_faithfulness'").empty


def test_utility_matches_ablation_utility(world, result):
    from recaudit.ablation import utility

    u = utility(ra.models.ItemKNN(world), world, k=10, n_users=200, seed=1)
    row = result.table.query("model == 'knn' and seed == 1 and metric == 'hr_at_10'").iloc[0]
    assert row["value"] == pytest.approx(u["hr_at_10"][0])


def test_best_follows_each_metric_direction(result):
    agg = result.aggregate().set_index(["model", "auditor", "metric", "scope"])["mean"]
    best = result.best()
    ndcg = {m: agg[(m, "utility", "ndcg_at_10", "all")] for m in result.labels}
    assert best[("utility", "ndcg_at_10", "all")] == {max(ndcg, key=ndcg.get)}
    arp = {m: agg[(m, "popularity_bias", "arp", "all")] for m in result.labels}
    assert result.directions()[("popularity_bias", "arp", "all")] is False
    assert best[("popularity_bias", "arp", "all")] == {min(arp, key=arp.get)} == {"random"}
    summary = result.summary_table(metrics=[("popularity_bias", "arp", "all"),
                                            ("explanation_faithfulness", "-", "all")])
    assert summary.loc["random", "popularity_bias.arp"].endswith("*")
    assert not summary.loc["pop", "popularity_bias.arp"].endswith("*")
    assert (summary["explanation_faithfulness.-"] == "skipped").all()


def test_paired_bootstrap_agrees_with_scipy():
    rng = np.random.default_rng(0)
    d = rng.normal(0.1, 1.0, 400)
    lo, hi, p = _paired_bootstrap(d, n_resamples=4000, seed=0)
    ref = stats.bootstrap((d,), np.mean, method="percentile", n_resamples=4000,
                          rng=np.random.default_rng(1)).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.02) and hi == pytest.approx(ref.high, abs=0.02)
    assert p == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, abs=0.02)
    null = rng.normal(0.0, 1.0, 400)
    assert _paired_bootstrap(null - null.mean(), n_resamples=500, seed=0)[2] > 0.9


def test_seed_test_is_welch_when_seeds_vary_more_than_users():
    a = pd.DataFrame({"value": [1.0, 1.2, 1.1, 1.3], "ci_low": [0.99, 1.19, 1.09, 1.29],
                      "ci_high": [1.01, 1.21, 1.11, 1.31]})
    b = pd.DataFrame({"value": [0.5, 0.9, 0.6, 0.7], "ci_low": [0.49, 0.89, 0.59, 0.69],
                      "ci_high": [0.51, 0.91, 0.61, 0.71]})
    test, lo, hi, p = _seed_test(a, b)
    ref = stats.ttest_ind(a["value"], b["value"], equal_var=False)
    assert test == "welch_t_over_seeds" and p == pytest.approx(ref.pvalue)
    # seeds that do not vary: the users' CIs carry the uncertainty (z-test)
    same = pd.DataFrame({"value": [1.0, 1.0], "ci_low": [0.8, 0.8], "ci_high": [1.2, 1.2]})
    other = same.assign(value=1.1, ci_low=0.9, ci_high=1.3)
    test, lo, hi, p = _seed_test(same, other)
    se = np.hypot(*(np.sqrt(2 * (0.4 / 3.919928) ** 2) / 2 for _ in range(2)))
    assert test == "z_from_bootstrap_ci"
    assert p == pytest.approx(2 * stats.norm.sf(0.1 / se), rel=1e-6)


def test_holm_within_each_metric(result):
    pw = result.pairwise()
    for _key, g in pw.groupby(["auditor", "metric", "scope"]):
        ok = g["p_value"].notna()
        np.testing.assert_allclose(g.loc[ok, "p_holm"], holm(g.loc[ok, "p_value"]))
        assert (g["significant"] == (g["p_holm"] < 0.05)).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_planted_utility_difference_is_found_and_identical_models_are_not(seed):
    """Popularity beats random on held-out items (a real gap): significant, popularity better.
    The same model under two labels: no difference."""
    data = ra.datasets.synthetic(n_users=150, n_items=80, seed=seed)
    pop = ra.models.MostPopular(data)
    res = ra.compare({"pop": pop, "pop_again": pop,
                      "random": ra.models.RandomRecommender(data, seed=seed)}, data, [],
                     seeds=[seed, seed + 10], config=FAST, cache=False, progress=False)
    pw = res.pairwise()
    gap = pw.query("metric == 'hr_at_10' and model_a == 'pop' and model_b == 'random'").iloc[0]
    assert gap["test"] == "paired_bootstrap_over_users"
    assert gap["significant"] and gap["better"] == "pop"
    twins = pw.query("model_a == 'pop' and model_b == 'pop_again'")
    assert len(twins) == 2 and not twins["significant"].any()
    assert (twins["difference"] == 0).all() and (twins["p_value"] == 1.0).all()


def test_identical_models_differ_nowhere_on_audit_metrics(result, world):
    knn = ra.models.ItemKNN(world)
    res = ra.compare({"a": knn, "b": knn}, world, ["popularity_bias"], seeds=[0, 1],
                     config=FAST, cache=False, progress=False)
    pw = res.pairwise()
    assert len(pw) > 10 and not pw["significant"].any()


def test_json_roundtrip_and_html(result, tmp_path):
    back = ra.ComparisonResult.from_json(result.to_json(tmp_path / "c.json"))
    pd.testing.assert_frame_equal(back.table, result.table, check_dtype=False)
    assert back.pairwise()["significant"].tolist() == result.pairwise()["significant"].tolist()
    html = result.to_html(tmp_path / "c.html")
    assert (tmp_path / "c.html").read_text() == html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)  # nothing from the network
    assert "Utility and trust" in html and "★" in html and "skipped" in html
    assert html.count("<svg") >= 2
    (tmp_path / "t.csv").write_text("")
    result.to_csv(tmp_path / "t.csv")
    assert len(pd.read_csv(tmp_path / "t.csv")) == len(result.table)


def test_compare_errors(world):
    with pytest.raises(ValueError, match="at least one model"):
        ra.compare({}, world, ["popularity_bias"])
    with pytest.raises(ValueError, match="distinct"):
        ra.compare({1: ra.models.MostPopular(world), "1": ra.models.MostPopular(world)},
                   world, ["popularity_bias"])


def test_refit_trains_per_seed(world):
    model = ra.models.SASRec(world, config=ra.models.SASRecConfig(epochs=1, dim=8, n_heads=1))
    res = ra.compare({"sasrec": model}, world, [], seeds=[0, 1], refit=True, config=FAST,
                     cache=False, progress=False)
    fps = {r.metadata["model"]["fingerprint"] for r in res.reports.values()}
    assert len(fps) == 2


SPEC = {"dataset": {"kind": "synthetic", "n_users": 60, "n_items": 40},
        "models": {"pop": {"kind": "most_popular"}, "knn": {"kind": "item_knn",
                                                             "n_neighbors": 10}},
        "auditors": [{"name": "popularity_bias", "params": {"n_users": 30}}],
        "compare": {"seeds": [0, 1]}, "run": {"n_bootstrap": 100, "n_permutations": 100,
                                              "cache": False, "progress": False}}


def test_spec_validation():
    spec = load_spec(SPEC)
    assert spec.compare["pretrain_share"] is None and spec.models["knn"]["n_neighbors"] == 10
    with pytest.raises(ra.SpecError, match=r"models\.knn: unknown key .*n_neighbours"):
        load_spec({**SPEC, "models": {"knn": {"kind": "item_knn", "n_neighbours": 3}}})
    with pytest.raises(ra.SpecError, match="Did you mean 'sasrec'"):
        load_spec({**SPEC, "models": {"s": {"kind": "sasrek"}}})
    with pytest.raises(ra.SpecError, match="compare: needs a 'models'"):
        load_spec({"compare": {"seeds": [0]}})
    with pytest.raises(ra.SpecError, match="compare.seeds"):
        load_spec({**SPEC, "compare": {"seeds": []}})
    pt = load_spec({**SPEC, "models": {"pt": {"kind": "prompt_tuning"}}})
    assert pt.compare["pretrain_share"] == 0.5
    with pytest.raises(ra.SpecError, match=r"models\.pt\.lm: unknown key .*epoch"):
        load_spec({**SPEC, "models": {"pt": {"kind": "prompt_tuning", "lm": {"epoch": 2}}}})
    ft = load_spec({**SPEC, "models": {"ft": {"kind": "pretrain_fine_tune", "epochs": 2,
                                               "lm": {"epochs": 3}}}})
    assert ft.compare["pretrain_share"] == 0.5  # its LM is pre-trained on other users too
    with pytest.raises(ra.SpecError, match=r"models\.ft: unknown key .*epoch"):
        load_spec({**SPEC, "models": {"ft": {"kind": "pretrain_fine_tune", "epoch": 2}}})
    with pytest.raises(ra.SpecError, match="pretrain_share"):
        load_spec({**SPEC, "compare": {"pretrain_share": 1.0}})


def test_cli_compare_writes_outputs_and_exit_codes(tmp_path, capsys):
    import yaml

    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    html = tmp_path / "out.html"
    code = main(["compare", str(path), "--out", str(html), "--no-progress"])
    out = capsys.readouterr().out
    assert code in (0, 1) and html.exists()
    data = json.loads(html.with_suffix(".json").read_text())
    failed = any(r["verdict"] in ("fail", "error") for r in data["table"])
    assert code == (1 if failed else 0)
    assert "significant pairwise difference" in out and "utility.ndcg_at_10" in out
    assert len(pd.read_csv(html.with_suffix(".csv"))) == len(data["table"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SPEC, "compare": {"seedz": [0]}}))
    assert main(["compare", str(bad)]) == 2
    assert "seedz" in capsys.readouterr().err
