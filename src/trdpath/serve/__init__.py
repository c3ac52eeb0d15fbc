"""`trdpath serve`: a local web application over a result folder (docs/serve.md).

Read only: it reads the result's published tables and, for filtered views, its per-patient Parquet
file (recomputed in DuckDB and released under the same disclosure control as the report).
"""
