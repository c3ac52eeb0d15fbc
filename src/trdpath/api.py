"""The public Python API. The CLI (cli.py) is a thin layer over these functions.

Planned signatures (being implemented on main):

    classify_tables(tables: Mapping[str, pandas.DataFrame], config: StudyConfig | None = None,
                    index_date: date | None = None, backend: str = "duckdb") -> Classification
        Classify in-memory tables (the data contract's raw columns, values as strings or typed);
        used by spec tests on every backend.

    classify(data: str | Path, out: Path, config: StudyConfig | None = None,
             index_date: date | None = None) -> Classification
        Read an extract folder, classify, write patients.csv/.parquet, attrition.csv,
        data_quality.csv and config.toml atomically into `out`.

    Classification: dataclass with .patients (pandas DataFrame, schema.PATIENT_COLUMNS),
        .attrition (rule, remaining, excluded), .data_quality (table, column, issue, value, count),
        .index_date (date), .config (StudyConfig)
"""
