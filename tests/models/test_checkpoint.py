"""Training checkpoints: a run killed after an epoch resumes from its checkpoint and ends with
the weights of an uninterrupted run, bit for bit (same process, same thread count)."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import pytest

import recaudit as ra
from recaudit.models import (
    LoRAConfig,
    PromptTemplate,
    TinyLMConfig,
    _artifacts,
    train_lora,
    train_tiny_lm,
)
from recaudit.models.lm import _tiny_lm as tiny_mod
from recaudit.models.paradigms import _shared as shared

#: The smallest recipe of the tiny LM tests with short prompts, for 3 epochs (dropout on:
#: the torch random state must be restored too).
SHORT = PromptTemplate(max_history=4)
MICRO = TinyLMConfig(n_layer=1, n_head=2, n_embd=32, vocab_size=400, epochs=3, batch_size=32,
                     template=SHORT)
#: A one-epoch base for the arm, and the smallest LoRA adapter (with dropout) for 3 epochs.
BASE = dataclasses.replace(MICRO, epochs=1)
LORA = LoRAConfig(r=2, dropout=0.1, target_modules=("c_attn",), epochs=3)


class _Killed(Exception):
    """Stands in for a kill right after a checkpoint was written."""


def _weights_hash(path) -> str:
    """sha256 over a safetensors file's tensors, in sorted key order."""
    from safetensors.torch import load_file

    tensors = load_file(path)
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].contiguous().numpy().tobytes())
    return h.hexdigest()


def _spy(monkeypatch, module, kill_after: int | None = None) -> list[int]:
    """Record the epoch of every checkpoint ``module`` saves; raise after the
    ``kill_after``-th one is on disk."""
    real, saved = _artifacts.save_checkpoint, []

    def save(path, state):
        real(path, state)
        saved.append(int(state["epoch"]))
        if kill_after is not None and len(saved) == kill_after:
            raise _Killed

    monkeypatch.setattr(module, "save_checkpoint", save)
    return saved


@pytest.fixture(scope="module")
def world():
    return ra.datasets.synthetic(n_users=24, n_items=30, seed=5)


@pytest.mark.slow
def test_tiny_lm_resumes_after_a_kill_with_identical_weights(world, tmp_path, monkeypatch):
    with monkeypatch.context() as mp:
        whole = _spy(mp, tiny_mod)
        straight = train_tiny_lm(world, seed=0, config=MICRO, cache_dir=tmp_path / "a",
                                 progress=False)
    assert whole == [0, 1, 2]
    assert not _artifacts.partial_folder(straight.path).exists()  # deleted on publishing

    cache = tmp_path / "b"
    with monkeypatch.context() as mp:
        _spy(mp, tiny_mod, kill_after=1)
        with pytest.raises(_Killed):
            train_tiny_lm(world, seed=0, config=MICRO, cache_dir=cache, progress=False)
    folder = cache / "tiny_lm" / straight.path.name
    assert not folder.exists()
    assert (_artifacts.partial_folder(folder) / _artifacts.CHECKPOINT_FILE).exists()

    with monkeypatch.context() as mp:
        rest = _spy(mp, tiny_mod)
        resumed = train_tiny_lm(world, seed=0, config=MICRO, cache_dir=cache, progress=False)
    assert rest == [1, 2]  # only the remaining epochs ran
    assert resumed.path == folder and not _artifacts.partial_folder(folder).exists()
    assert (_weights_hash(resumed.path / "model.safetensors")
            == _weights_hash(straight.path / "model.safetensors"))


@pytest.mark.slow
def test_a_checkpoint_of_another_run_is_not_resumed(world, tmp_path, monkeypatch):
    with monkeypatch.context() as mp:
        _spy(mp, tiny_mod, kill_after=1)
        with pytest.raises(_Killed):
            train_tiny_lm(world, seed=0, config=MICRO, cache_dir=tmp_path, progress=False)
    (partial,) = (tmp_path / "tiny_lm").glob("*.partial")
    ckpt = partial / _artifacts.CHECKPOINT_FILE
    assert _artifacts.load_checkpoint(ckpt, partial.name.removesuffix(".partial"))
    assert _artifacts.load_checkpoint(ckpt, "another-key") is None
    # seed 0's checkpoint put where seed 1's run keeps its own: ignored, trained from epoch 0
    other = tmp_path / "tiny_lm" / tiny_mod._folder_key(world, MICRO, 1, None)
    shutil.copytree(partial, _artifacts.partial_folder(other))
    with monkeypatch.context() as mp:
        saved = _spy(mp, tiny_mod, kill_after=1)
        with pytest.raises(_Killed):
            train_tiny_lm(world, seed=1, config=MICRO, cache_dir=tmp_path, progress=False)
    assert saved == [0]
    assert _artifacts.load_checkpoint(_artifacts.partial_folder(other)
                                      / _artifacts.CHECKPOINT_FILE, other.name)


@pytest.mark.slow
def test_lora_arm_resumes_after_a_kill_with_identical_weights(tmp_path, monkeypatch):
    full = ra.datasets.synthetic(n_users=40, n_items=30, seed=5)
    others, audited = ra.models.split_users(full, 0.5)

    def train():
        return train_lora(audited, others, 0, config=LORA, lm_config=BASE,
                          cache_dir=tmp_path, progress=False)

    with monkeypatch.context() as mp:
        whole = _spy(mp, shared)
        straight = train()
    assert whole == [0, 1, 2]
    adapter = straight.adapter_path / "adapter_model.safetensors"
    expected = _weights_hash(adapter)
    folder = straight.adapter_path.parent
    assert not _artifacts.partial_folder(folder).exists()
    shutil.rmtree(folder)  # train again on the cached base: killed after epoch 0, resumed

    with monkeypatch.context() as mp:
        _spy(mp, shared, kill_after=1)
        with pytest.raises(_Killed):
            train()
    assert not folder.exists()
    with monkeypatch.context() as mp:
        rest = _spy(mp, shared)
        resumed = train()
    assert rest == [1, 2]
    assert resumed.adapter_path == straight.adapter_path
    assert not _artifacts.partial_folder(folder).exists()
    assert _weights_hash(adapter) == expected
