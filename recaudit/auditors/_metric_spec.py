"""``MetricSpec``: one metric an auditor declares it emits, and the threshold-key check.

An auditor lists every metric name it can emit in its ``metrics`` class attribute, each with
a one-line description, its direction and its default threshold. The declarations are what
``recaudit list`` prints, what ``default_thresholds`` is derived from, what
:func:`recaudit.testing.check_auditor` holds emitted names to, and what a threshold key
(``name`` or ``name@scope``) is checked against before an audit calls the model.

A name may be a *pattern* when the set of names is open (one per user-chosen attribute,
say): ``"gap_{attribute}"`` declares every name that fills each ``{placeholder}`` with one
or more characters other than ``@`` (``gap_gender``, ``gap_age``). A threshold key may name
a concrete name (``gap_gender``) or the pattern itself (``gap_{attribute}``: every name it
matches). Closed sets are better enumerated: a reader then sees every name.

>>> spec = MetricSpec("gap_{attribute}", "largest group gap", higher_is_better=False,
...                   threshold=0.1)
>>> spec.matches("gap_gender"), spec.matches("gap_"), spec.matches("gap_a@b")
(True, False, False)
>>> MetricSpec("rbo", "rank-biased overlap", True, threshold=0.5,
...            scope_thresholds={"history_truncation": 0.3}).default_thresholds()
{'rbo': 0.5, 'rbo@history_truncation': 0.3}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError, did_you_mean

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class MetricSpec:
    """One metric an auditor emits.

    Parameters
    ----------
    name : str
        The metric name, or a pattern with ``{placeholder}`` parts (see the module docs).
    description : str
        One line: what the number is.
    higher_is_better : bool or None
        The direction; ``None`` for a descriptive number that carries no verdict.
    threshold : float, optional
        The default threshold (largest acceptable effect; see
        :class:`~recaudit.results.Metric`). ``None``: informational by default.
    scope_thresholds : mapping of scope to float, optional
        Default thresholds for single scopes (``{"history_truncation": 0.3}`` becomes the
        ``rbo@history_truncation`` default); stored as sorted ``(scope, value)`` pairs.

    Examples
    --------
    >>> MetricSpec("arp", "average recommendation popularity", higher_is_better=False).direction
    'lower is better'
    """

    name: str
    description: str
    higher_is_better: bool | None
    threshold: float | None = None
    scope_thresholds: Mapping[str, float] | tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "@" in self.name \
                or self.name != self.name.strip():
            raise ValueError(f"MetricSpec name must be a non-empty string without '@' or "
                             f"surrounding spaces, got {self.name!r}")
        for part in _PLACEHOLDER.findall(self.name):
            if not part.isidentifier():
                raise ValueError(f"MetricSpec {self.name!r}: placeholder {{{part}}} must be "
                                 "an identifier, as in 'gap_{attribute}'")
        if _PLACEHOLDER.sub("", self.name).count("{") or _PLACEHOLDER.sub(
                "", self.name).count("}"):
            raise ValueError(f"MetricSpec {self.name!r}: unbalanced braces")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(f"MetricSpec {self.name!r}: give a one-line description")
        if self.higher_is_better not in (True, False, None):
            raise ValueError(f"MetricSpec {self.name!r}: higher_is_better must be True, False "
                             f"or None, got {self.higher_is_better!r}")
        pairs = (self.scope_thresholds.items() if isinstance(self.scope_thresholds, Mapping)
                 else self.scope_thresholds)
        scoped = tuple(sorted((str(s), _finite(v, f"{self.name}@{s}")) for s, v in pairs))
        object.__setattr__(self, "scope_thresholds", scoped)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", _finite(self.threshold, self.name))
        if self.higher_is_better is None and (self.threshold is not None or scoped):
            raise ValueError(f"MetricSpec {self.name!r}: a threshold needs a direction "
                             "(higher_is_better True or False)")

    @property
    def is_pattern(self) -> bool:
        """Whether ``name`` has ``{placeholder}`` parts."""
        return bool(_PLACEHOLDER.search(self.name))

    @property
    def direction(self) -> str:
        """``higher is better``, ``lower is better`` or ``descriptive``."""
        return {True: "higher is better", False: "lower is better",
                None: "descriptive"}[self.higher_is_better]

    def matches(self, name: str) -> bool:
        """Whether an emitted metric ``name`` is this declaration."""
        if not self.is_pattern:
            return name == self.name
        return _pattern(self.name).fullmatch(name) is not None

    def default_thresholds(self) -> dict[str, float]:
        """``{name: threshold, name@scope: threshold, ...}`` for the thresholds given."""
        out = {} if self.threshold is None else {self.name: self.threshold}
        out.update({f"{self.name}@{scope}": value for scope, value in self.scope_thresholds})
        return out


def _pattern(name: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(name)[::2]  # the literal text around the placeholders
    return re.compile("[^@]+".join(re.escape(p) for p in parts))


def _finite(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"threshold {key!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"threshold {key!r} must be finite, got {value!r}")
    return float(value)


def find_metric_spec(specs: Iterable[MetricSpec], name: str) -> MetricSpec | None:
    """The declaration of an emitted ``name``: an exact name first, else a pattern."""
    specs = tuple(specs)
    for spec in specs:
        if spec.name == name:
            return spec
    return next((s for s in specs if s.is_pattern and s.matches(name)), None)


def thresholds_from(specs: Iterable[MetricSpec]) -> dict[str, float]:
    """The ``default_thresholds`` dict the declarations give."""
    out: dict[str, float] = {}
    for spec in specs:
        out.update(spec.default_thresholds())
    return out


def check_threshold_keys(auditor: str, specs: Iterable[MetricSpec],
                         thresholds: Mapping[str, Any] | None, *, where: str = "") -> None:
    """Raise :class:`~recaudit.errors.SpecError` for a threshold that cannot be used.

    A value must be a finite number (``None`` switches a default off). A key (``name`` or
    ``name@scope``; scopes are not checked, they depend on the data) must name a declared
    metric, or match a declared pattern, or be the pattern; with no declarations (a
    third-party auditor that declares nothing) names are not checked.
    """
    specs = tuple(specs)
    lead = f"{where}: " if where else ""
    for key, value in (thresholds or {}).items():
        if not isinstance(key, str) or not key:
            raise SpecError(f"{lead}auditor {auditor!r}: threshold key {key!r} is not a metric "
                            "name (give 'name' or 'name@scope')")
        if value is not None:
            try:
                _finite(value, key)
            except ValueError as exc:
                raise SpecError(f"{lead}auditor {auditor!r}: {exc} (None switches a default "
                                "threshold off)") from None
        if not specs:
            continue
        base = key.partition("@")[0]
        if any(s.name == base or s.matches(base) for s in specs):
            continue
        declared = [s.name for s in specs]
        raise SpecError(f"{lead}auditor {auditor!r} has no metric {base!r} (threshold "
                        f"{key!r}).{did_you_mean(base, declared)} Its metrics: "
                        f"{', '.join(declared)}")
