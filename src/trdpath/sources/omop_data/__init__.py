"""Data files of the OMOP source (a small concept subset; see SOURCES.md)."""
