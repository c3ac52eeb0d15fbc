"""The definitions atlas: published TRD definitions as data, evaluated side by side on the same patients."""

from trdpath.definitions.model import Definition, load_definition_file, resolve_definitions, shipped_definitions

__all__ = ["Definition", "load_definition_file", "resolve_definitions", "shipped_definitions"]
