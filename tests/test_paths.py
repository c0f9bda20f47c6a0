"""One cache-folder rule for every artefact: ``$RECAUDIT_CACHE_DIR`` with ``~`` expanded.

The engine's request cache followed ``recaudit._paths.cache_dir`` (which expands ``~``) while
the language models had their own copy of the rule that did not, so ``RECAUDIT_CACHE_DIR=~/x``
sent answers to ``$HOME/x`` and every trained model to a folder literally named ``~/x``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import recaudit as ra
from recaudit._paths import cache_dir, cache_root
from recaudit.engine import default_cache_path

PACKAGE = Path(ra.__file__).parent


def test_tilde_in_the_cache_variable_is_the_home_folder_for_models_and_answers(
        tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", "~/x")
    monkeypatch.chdir(work)
    assert cache_dir() == home / "x" and cache_root(None) == home / "x"
    assert cache_root("~/y") == home / "y"
    assert Path(default_cache_path()).parent == home / "x"
    data = ra.datasets.synthetic(n_users=12, n_items=20, seed=0)
    model = ra.models.train_tiny_lm(data, seed=0, progress=False,
                                    config=ra.models.TinyLMConfig(epochs=1, n_layer=1))
    assert model.path is not None and home / "x" in model.path.parents
    assert not (work / "~").exists()


def test_no_module_but_paths_reads_the_cache_variable():
    readers = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "_paths.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "RECAUDIT_CACHE_DIR":
                readers.append(str(path.relative_to(PACKAGE)))
    assert readers == [], f"read RECAUDIT_CACHE_DIR through recaudit._paths: {readers}"
