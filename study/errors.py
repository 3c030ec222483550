"""Moved to common.errors (the leaf every package imports); kept so code written against study.errors still
imports. New code imports common.errors."""
from common.errors import FILE_ERRORS, ConfigError, DataError, cli_entry, file_errors

__all__ = ["FILE_ERRORS", "ConfigError", "DataError", "cli_entry", "file_errors"]
