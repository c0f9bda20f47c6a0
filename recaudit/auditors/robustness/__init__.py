"""Robustness auditors."""
