"""Bias auditors."""
