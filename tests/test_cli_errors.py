"""Every bad input is a one-line error (exit 2); an unexpected exception is a bug (exit 3)
with its traceback in a log file (issue 29)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from recaudit import cli
from recaudit.cli import main
from recaudit.errors import SpecError

from .conftest import one_error_line


def test_latin1_spec_exits_2_naming_the_file(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_bytes("dataset: {kind: synthetic}\n# caf\u00e9\n".encode("latin-1"))
    assert main(["audit", str(path), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("recaudit: error:") and str(path) in line and "not UTF-8" in line


def test_utf16_result_exits_2(tmp_path, capsys):
    path = tmp_path / "result.json"
    path.write_text('{"schema_version": 1}', encoding="utf-16")
    assert main(["report", str(path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "not UTF-8" in line


@pytest.mark.parametrize("flags, needle", [
    (["--port", "99999"], "--port: must be in [0, 65535], got 99999"),
    (["--port", "-1"], "--port"),
    (["--port", "eighty"], "'eighty' is not an integer"),
    (["--fail-rate", "7"], "--fail-rate: must be in [0, 1], got 7"),
    (["--garbage-rate", "-0.1"], "--garbage-rate"),
    (["--delay", "-5"], "--delay: must be >= 0, got -5"),
    (["--delay", "nan"], "--delay"),
])
def test_serve_flags_out_of_range_exit_2(capsys, flags, needle):
    assert main(["serve", "--baseline", "most_popular", *flags]) == 2
    assert needle in one_error_line(capsys)


def test_serve_port_in_use_exits_2_before_building(capsys, monkeypatch):
    def no_build(*a, **k):  # the check comes before the (possibly slow) model build
        raise AssertionError("built a model for a port in use")

    monkeypatch.setattr("recaudit.datasets.synthetic", no_build)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--baseline", "most_popular", "--port", str(port)]) == 2
    line = one_error_line(capsys)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "port in use" in line


@pytest.mark.parametrize("exc, needle", [
    (socket.gaierror(-2, "Name or service not known"), "Name or service not known"),
    (PermissionError(13, "Permission denied", "/no/such/out.html"),
     "/no/such/out.html: Permission denied"),
    (FileExistsError(17, "File exists", "x.json"), "x.json: File exists"),
    (IsADirectoryError(21, "Is a directory", "reports"), "reports: Is a directory"),
    (OSError(98, "Address already in use"), "Address already in use"),
    (RecursionError("maximum recursion depth exceeded"), "too deeply nested"),
    (MemoryError(), "too large"),
    (SpecError("bad\nsecond line"), "bad"),
])
def test_expected_errors_exit_2(capsys, monkeypatch, exc, needle):
    def raise_it(args):
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "list", raise_it)
    assert main(["list"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("recaudit: error:") and needle in line, line


def test_long_message_is_cut(capsys, monkeypatch):
    def raise_it(args):
        raise SpecError("x" * 5000)

    monkeypatch.setitem(cli.COMMANDS, "list", raise_it)
    assert main(["list"]) == 2
    line = one_error_line(capsys)
    assert len(line) <= cli.MAX_MESSAGE and line.endswith("…")


def test_unexpected_error_exits_3_with_a_log(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path / "cache"))

    def broken_helper():
        return 1 / 0

    def cmd(args):
        return broken_helper()

    monkeypatch.setitem(cli.COMMANDS, "list", cmd)
    assert main(["list"]) == 3
    line = one_error_line(capsys)
    assert "bug in recaudit" in line and "ZeroDivisionError: division by zero" in line
    log = Path(re.search(r"traceback is in (\S+\.log)", line).group(1))
    assert log.parent == tmp_path / "cache" / "logs"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "broken_helper" in text
    assert "ZeroDivisionError" in text


def test_unexpected_error_message_is_cut_and_log_falls_back(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(blocker))  # logs/ cannot be made under it

    def cmd(args):
        raise RuntimeError("y" * 5000)

    monkeypatch.setitem(cli.COMMANDS, "list", cmd)
    assert main(["list"]) == 3
    line = one_error_line(capsys)
    assert "y" * 300 not in line and "…" in line
    log = Path(re.search(r"traceback is in (\S+\.log)", line).group(1))
    assert "RuntimeError" in log.read_text()
    log.unlink()


def test_help_names_exit_code_3(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "3 a bug in recaudit" in out
