"""Fairness auditors."""
