"""``mcal predict``'s output: the CSV written a chunk at a time, and what goes to the terminal."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import click
import pandas as pd

from mcal.console import console, print_frame

PRINTED_ROWS = 50  # with --out, a larger table is summed up rather than printed


def open_csv(out: Path) -> TextIO:
    try:
        return out.open("w", newline="")  # newline as pandas opens a path: the same bytes
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from exc


def write_streamed(parts: Iterable[pd.DataFrame], columns: list[str],
                   out: Path | None) -> pd.DataFrame:
    """Append each part to the CSV ``out`` as it comes (flushed), and return them all as one.

    The file is the same as ``table.to_csv(out, index=False)`` of the returned table, but a
    row is on disk as soon as its chunk is predicted, and an interrupted run keeps what it did.
    """
    collected: list[pd.DataFrame] = []
    with ExitStack() as stack:
        handle = stack.enter_context(open_csv(out)) if out is not None else None
        for part in parts:
            if handle is not None:
                part.to_csv(handle, header=not collected, index=False)
                handle.flush()
            collected.append(part)
        table = (pd.concat(collected, ignore_index=True) if collected
                 else pd.DataFrame(columns=columns))
        if handle is not None and not collected:
            table.to_csv(handle, index=False)  # the header alone
    return table


def summary(table: pd.DataFrame) -> str:
    errors = int((table["error"] != "").sum())
    warned = int((table["warning"] != "").sum())
    return (f"{len(table)} files: {len(table) - errors} predicted, {errors} with an error, "
            f"{warned} with a warning")


def report_predictions(table: pd.DataFrame, title: str, out: Path | None) -> None:
    """Every row when there is no CSV or the table is short; else the counts and the CSV's name."""
    if out is None or len(table) <= PRINTED_ROWS:
        print_frame(table, title)
    else:
        console.print(f"{title}: {summary(table)} (every row in the CSV)")
    if out is not None:
        console.print(f"wrote {out}")
