"""Terminal tables for summaries (rich renders them; plain text when not a TTY)."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

console = Console()


def print_frame(frame: pd.DataFrame, title: str, float_format: str = "{:.4f}") -> None:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for values in frame.itertuples(index=False):
        table.add_row(*(float_format.format(v) if isinstance(v, float) else str(v) for v in values))
    console.print(table)


def print_quarantine(quarantine: pd.DataFrame) -> None:
    if quarantine.empty:
        console.print("quarantine: empty")
        return
    print_frame(quarantine, f"quarantine: {len(quarantine)} bad rows or files (the run went on)")
