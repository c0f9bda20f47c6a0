"""Drawers for the robustness auditors' figures."""

from __future__ import annotations
