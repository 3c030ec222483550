"""Reading a data CSV as text, every cell a string, with errors that name the file and the row: bytes that
are not UTF-8, a malformed line, a row cut short (fewer fields than the header: a file truncated mid-row).
Row numbers are 1-based data rows, row 1 being the first line after the header."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from common.errors import DataError


def read_csv_text(path: Path) -> pd.DataFrame:
    """Every cell as text (empty cells ""); DataError naming the file (and row) when it cannot be read."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n")  # 0 = the header line
        where = f"row {line}" if line else "header"
        raise DataError(f"{path}: {where}: byte {raw[err.start]:#04x} is not UTF-8 text (save the file as "
                        "UTF-8)") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: not a readable CSV ({str(err).splitlines()[0][:120]})") from None
    _check_field_counts(text, frame.shape[1], path)
    return frame


def _check_field_counts(text: str, n_columns: int, path: Path) -> None:
    """pandas fills the fields a short row lacks with empty text; a row cut short must not pass as empties."""
    records = csv.reader(io.StringIO(text))
    next(records, None)  # the header
    for row, fields in enumerate((r for r in records if r), start=1):
        if len(fields) < n_columns:
            raise DataError(f"{path}: row {row} has {len(fields)} of {n_columns} fields (the file may be cut off "
                            "mid-row)")


def numeric_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> pd.DataFrame:
    """The columns as float64; an empty cell is NaN, any other text is a DataError naming file, row, column."""
    out = {}
    for column in columns:
        text = frame[column].astype(str).str.strip()
        numbers = pd.to_numeric(text.replace("", "nan"), errors="coerce")
        bad = (numbers.isna() & text.ne("") & text.str.lower().ne("nan")).to_numpy()
        if bad.any():
            row = int(bad.argmax())
            raise DataError(f"{path}: row {row + 1}, column {column}: {text.iloc[row]!r} is not a number")
        out[column] = numbers.to_numpy(dtype="float64")
    return pd.DataFrame(out, index=frame.index)
