"""Helpers for tests and benchmarks only (not shipped in the package)."""
