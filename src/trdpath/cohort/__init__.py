"""Cohort: diagnoses as code-list flags, demographics, and the inclusion/exclusion rules (trd-rules.md 2, 6, 8)."""
