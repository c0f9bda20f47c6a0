"""Exceptions raised by recaudit. Messages say what was wrong, where, and what to do."""

from __future__ import annotations


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


class RequestError(RecauditError, ValueError):
    """A request is invalid for the model or dataset it was sent to."""


class SpecError(RecauditError, ValueError):
    """An audit spec (YAML or dict) is invalid: names the key and what is expected."""


class UnknownNameError(RecauditError, KeyError):
    """An unknown registry name (auditor, mitigation); carries did-you-mean suggestions."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message plainly
        return str(self.args[0]) if self.args else ""
