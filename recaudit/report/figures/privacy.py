"""Drawers for the privacy auditors' figures."""

from __future__ import annotations
