"""Drawers for the fairness auditors' figures."""

from __future__ import annotations
