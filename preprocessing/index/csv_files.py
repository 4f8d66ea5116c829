"""Reading the CSVs a data folder holds, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


class EmptyCsv(ValueError):
    """A CSV file without a header or rows (a 0-byte or blank file)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: empty file (no header, no rows)")
        self.path = path


def read_csv_named(path: Path, **options: Any) -> pd.DataFrame:
    """pd.read_csv, but an empty file raises EmptyCsv and one pandas cannot parse a ValueError,
    both naming the file (pandas' own messages do not)."""
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError as exc:
        raise EmptyCsv(Path(path)) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a readable CSV ({reason})") from exc
