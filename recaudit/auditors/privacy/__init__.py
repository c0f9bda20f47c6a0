"""Privacy auditors."""
