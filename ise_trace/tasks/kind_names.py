"""The names of the workspace kinds, importable without Faker (the taxonomy validates hints by them)."""

KIND_NAMES = (
    "table_aggregate",
    "report_summary",
    "records_label",
    "extract_fields",
    "python_fix",
    "git_history",
    "files_organise",
    "config_convert",
    "log_counts",
    "html_extract",
    "sqlite_report",
)
