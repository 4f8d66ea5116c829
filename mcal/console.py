"""Terminal tables for summaries (rich renders them; plain text when not a TTY)."""

from __future__ import annotations

import shutil

import pandas as pd
from rich.console import Console
from rich.table import Table

# Logs (make, CI) are not terminals: rich would fold tables at 80 columns there, and break
# long lines (a trial's line, a path) in two; soft wrap leaves lines whole for the reader's
# terminal to wrap.
console = Console(width=max(120, shutil.get_terminal_size().columns), soft_wrap=True)
UNBOUNDED = 10_000  # columns: room to measure a table's natural width


def print_frame(frame: pd.DataFrame, title: str, float_format: str = "{:.4f}") -> None:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left", overflow="fold")
    for values in frame.itertuples(index=False):
        table.add_row(*(float_format.format(v) if isinstance(v, float) else str(v) for v in values))
    # at its natural width: a wide table (a leaderboard, long paths) stays one line a row
    natural = console.measure(table, options=console.options.update_width(UNBOUNDED)).maximum
    width = console.width
    console.width = max(width, natural)  # print() itself never exceeds the console's width
    try:
        console.print(table)
    finally:
        console.width = width


def print_quarantine(quarantine: pd.DataFrame, stage: str = "index") -> None:
    """Bad rows by id and reason; the saved CSV also holds each path."""
    if quarantine.empty:
        console.print(f"{stage} quarantine: empty")
        return
    title = f"{stage} quarantine: {len(quarantine)} bad rows or files (the run went on)"
    print_frame(quarantine[["roi_id", "reason"]], title)
