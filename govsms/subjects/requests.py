"""Placeholder: filled in by the data-subject request work (issue 13)."""
