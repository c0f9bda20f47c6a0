"""Drawers for the explanation auditors' figures."""

from __future__ import annotations
