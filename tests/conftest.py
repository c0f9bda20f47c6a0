"""Shared fixtures: small synthetic worlds, a quiet audit context, the seeds we sweep."""

from __future__ import annotations

import os
import tempfile

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every test session starts from an empty cache (answers and trained models): no result
# from an earlier run, or from a user's own audits, can leak into a test.
os.environ["RECAUDIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="recaudit-test-cache-")

import recaudit as ra  # noqa: E402
from recaudit.auditors import AuditContext  # noqa: E402

#: Seeds every planted-defect test sweeps (at least 5, as the project requires).
SEEDS = [0, 1, 2, 3, 4]


@pytest.fixture(scope="session")
def small_world():
    """A small world with every effect planted (default ``Effects``)."""
    return ra.datasets.synthetic(n_users=150, n_items=80, seed=0)


@pytest.fixture(scope="session")
def clean_world():
    """The same size with no planted effect: the clean control."""
    return ra.datasets.synthetic(n_users=150, n_items=80, seed=0,
                                 effects=ra.datasets.Effects.none())


@pytest.fixture
def ctx():
    """A fast, quiet, seeded audit context."""
    return AuditContext(seed=0, n_bootstrap=200, n_permutations=200, show_progress=False)


@pytest.fixture(scope="session")
def tiny_lm_world():
    """The world the shared tiny LM is trained on (small, for speed)."""
    return ra.datasets.synthetic(n_users=200, n_items=60, seed=0)


@pytest.fixture(scope="session")
def tiny_lm(tiny_lm_world, tmp_path_factory):
    """A tiny GPT-2 recommender trained once per test session (slow: mark users slow)."""
    cache = tmp_path_factory.mktemp("tiny_lm_cache")
    # the default recipe with 8 epochs instead of 12: quicker, same format and capabilities
    # (as fast as the former 128-wide, 4-epoch fixture; 4 epochs stay at popularity level)
    config = ra.models.TinyLMConfig(epochs=8)
    return ra.models.train_tiny_lm(tiny_lm_world, seed=0, config=config, cache_dir=cache,
                                   progress=False)


def one_error_line(capsys) -> str:
    """The CLI's stderr after a refused input: one line, no traceback (the README's promise)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err
