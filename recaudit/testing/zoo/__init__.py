"""The planted-defect model zoo used by tests: each defect next to its matching clean model.

Family modules (``popularity``, ``position``, ``fairness``, ``privacy``, ``robustness``,
``explanation``) build on :class:`ScoringModel`.
"""

from ._base import ScoringModel

__all__ = ["ScoringModel"]
