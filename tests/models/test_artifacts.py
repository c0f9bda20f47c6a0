import pytest

from recaudit.models._artifacts import publish_folder


def test_published_folder_appears_whole_and_staging_is_gone(tmp_path):
    target = tmp_path / "cache" / "model"
    with publish_folder(target, "weights") as staging:
        assert not target.exists()
        (staging / "weights").write_text("w")
    assert (target / "weights").read_text() == "w"
    assert [p.name for p in target.parent.iterdir()] == ["model"]


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), publish_folder(target, "weights") as staging:
        (staging / "weights").write_text("half")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_another_process_published_first_keeps_theirs(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("theirs")
    (target / "extra").write_text("x")  # a non-empty folder: os.replace onto it fails
    with publish_folder(target, "weights") as staging:
        (staging / "weights").write_text("mine")
    assert (target / "weights").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
