"""Explanation auditors."""
