"""Cohort: diagnoses as code-list flags, demographics, and the inclusion/exclusion rules (study-definition.md 2, 6, 8)."""
