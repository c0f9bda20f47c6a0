"""The package's layering, drawn from the code by benchmarks/import_graph.py: no import
circles, no module importing a layer above its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _graph_tool():
    spec = importlib.util.spec_from_file_location("import_graph",
                                                  ROOT / "benchmarks" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_circles():
    tool = _graph_tool()
    assert tool.strongly_connected(tool.build_graph()) == []


def test_no_upward_imports():
    tool = _graph_tool()
    assert tool.upward_edges(tool.build_graph()) == []


def test_every_module_has_a_layer():
    tool = _graph_tool()
    assert [m for m in tool.build_graph() if tool.layer(m) is None] == []


def test_no_import_of_another_packages_private_module():
    """A package's private modules (``_name``) are its own: other packages use its face."""
    tool = _graph_tool()
    assert tool.private_imports(tool.build_graph()) == []


def test_no_upward_import_is_allowed_by_exception():
    assert _graph_tool().ALLOWED == {}


def test_the_tool_finds_a_planted_private_import():
    tool = _graph_tool()
    graph = {"recaudit.study": {"recaudit.auditors._common", "recaudit.auditors",
                                "recaudit._paths"},
             "recaudit.auditors.bias.popularity": {"recaudit.auditors._common"},
             "recaudit.auditors._common": set(), "recaudit.auditors": set(),
             "recaudit._paths": set()}
    assert tool.private_imports(graph) == [("recaudit.study", "recaudit.auditors._common")]


def test_the_tool_finds_a_planted_circle_and_upward_edge():
    tool = _graph_tool()
    graph = {"recaudit.metrics.a": {"recaudit.audit"}, "recaudit.audit": {"recaudit.metrics.a"}}
    assert tool.strongly_connected(graph) == [["recaudit.audit", "recaudit.metrics.a"]]
    assert tool.upward_edges(graph) == [("recaudit.metrics.a", "recaudit.audit")]


def test_import_recaudit_stays_lazy_and_acyclic():
    """``import recaudit`` loads no heavy back-end, and no module it loads is in a circle."""
    code = ("import sys, recaudit; print(sorted(m for m in sys.modules "
            "if m.startswith('recaudit') or m in ('torch', 'transformers', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    loaded = set(eval(out))  # noqa: S307 - the list the child printed
    assert "recaudit" in loaded and not loaded & {"torch", "transformers", "matplotlib"}
    tool = _graph_tool()
    graph = tool.build_graph()
    sub = {m: graph[m] & loaded for m in loaded if m in graph}
    assert tool.strongly_connected(sub) == []


def test_no_auditor_draws():
    """Auditors return figure data; only the report draws: no auditor module imports
    matplotlib or anything from recaudit.report (checked from the source, so a lazy import
    inside a function counts too)."""
    import ast

    drawing = []
    for path in sorted((ROOT / "recaudit" / "auditors").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "matplotlib" or "report" in name.split("."):
                    drawing.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert drawing == []


def test_an_audit_measures_without_matplotlib():
    """With matplotlib unavailable an audit still runs and returns figure data (drawing is
    the report's job, not the measurement's)."""
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import recaudit as ra\n"
        "from recaudit.testing.zoo.popularity import PopularityPusher\n"
        "data = ra.datasets.synthetic(n_users=60, n_items=40, seed=0)\n"
        "rep = ra.audit(PopularityPusher(data), data, ['popularity_bias', 'position_bias'],\n"
        "               cache=False, progress=False, config={'n_bootstrap': 20})\n"
        "print(sorted((r.auditor, r.status, type(f).__name__)\n"
        "             for r in rep.results for f in r.figures.values()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = eval(out.stdout)  # noqa: S307 - the list the child printed
    assert {a for a, _, _ in figures} == {"popularity_bias", "position_bias"}
    assert all(status == "ok" and kind == "Figure" for _, status, kind in figures)


def test_every_public_exception_lives_in_errors_py():
    """``recaudit/errors.py`` holds every public exception; a private control-flow one
    (``_Usage``) may stay next to the code that catches it."""
    import ast

    outside = []
    for path in (ROOT / "recaudit").rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ClassDef) and not node.name.startswith("_")
                    and any(getattr(b, "id", getattr(b, "attr", "")).endswith(("Error",
                            "Exception")) for b in node.bases)):
                outside.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert outside == []
