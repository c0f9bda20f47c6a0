"""Exceptions raised by recaudit. Messages say what was wrong, where, and what to do."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RecauditError(Exception):
    """Base class of every recaudit error."""


class DatasetError(RecauditError, ValueError):
    """A dataset table is malformed: names the table, the column and the offending rows."""

    def __init__(self, message: str, *, table: str | None = None, column: str | None = None,
                 rows: list | None = None) -> None:
        self.table = table
        self.column = column
        self.rows = list(rows) if rows is not None else []
        where = []
        if table:
            where.append(f"table '{table}'")
        if column:
            where.append(f"column '{column}'")
        if self.rows:
            shown = ", ".join(map(str, self.rows[:10]))
            more = f" (+{len(self.rows) - 10} more)" if len(self.rows) > 10 else ""
            where.append(f"rows [{shown}]{more}")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class CapabilityError(RecauditError, NotImplementedError):
    """A model was asked for a capability it does not declare."""


class UnanswerableRequestError(CapabilityError):
    """A model cannot answer a kind of request at all, though it declares ``rank``: a log of
    lists shown to users asked to re-rank candidates, or about an altered history or
    prompt. :func:`recaudit.audit` reports the auditor that sent it as skipped, with the
    message as the reason."""


class RequestError(RecauditError, ValueError):
    """A request is invalid for the model or dataset it was sent to."""


class SpecError(RecauditError, ValueError):
    """An audit spec (YAML or dict) is invalid: names the key and what is expected."""


class UnknownNameError(RecauditError, KeyError):
    """An unknown registry name (auditor, mitigation); carries did-you-mean suggestions."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message plainly
        return str(self.args[0]) if self.args else ""


class UnknownAuditorError(UnknownNameError, SpecError):
    """An ``auditors=`` entry names no auditor and no auditor family; both an
    :class:`UnknownNameError` and a :class:`SpecError` (exit 2 on the command line)."""


class EndpointError(RecauditError):
    """A chat endpoint could not be reached or answered something that is not a chat
    completion (after the retries)."""


class MissingDependencyError(RecauditError, ImportError):
    """An optional dependency (Ray, ...) is not installed; names the extra that installs it."""


class TrackingError(RecauditError, RuntimeError):
    """An experiment tracker (MLflow) could not be used: an unusable tracking URI before the
    audit, or logging that failed after it. ``report`` holds the finished
    :class:`~recaudit.AuditReport` when the audit itself completed (its JSON and HTML
    already written stay on disk)."""

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class ModelLoadError(RecauditError, ValueError):
    """A model file could not be loaded (not a GGUF file, a truncated or corrupt one, an
    architecture transformers cannot read); names the file and what to do."""


class OutputError(RecauditError, OSError):
    """An output file (a report, JUnit XML, a Markdown summary) could not be written; names
    the file and the reason. An ``OSError`` too, so ``except OSError`` still catches it."""


class AuditorCheckError(AssertionError):
    """An auditor broke the auditor contract (``recaudit.testing.check_auditor``); the
    message names the check. An ``AssertionError``, so pytest reports it as a failure."""


def did_you_mean(name: object, options: Iterable[object], *, n: int = 3) -> str:
    """`` Did you mean 'a', 'b'?`` for the options close to ``name``; ``""`` when none is.

    The one suggestion rule of the package (``difflib``, cutoff 0.5), used by every
    registry and every spec key check.

    >>> did_you_mean("popularty_bias", ["popularity_bias", "position_bias"])
    " Did you mean 'popularity_bias', 'position_bias'?"
    >>> did_you_mean("zzz", ["popularity_bias"])
    ''
    """
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters with ``…``: error messages name a value
    without printing all of it (a spec's 1 MB string, a report's long list).

    >>> short_repr("x" * 200, limit=12)
    "'xxxxxxxxxx…"
    >>> short_repr([1, 2])
    '[1, 2]'
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
