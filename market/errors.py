"""The market library's exceptions; every one derives from MarketError."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MarketError(Exception):
    """Root of every error this library raises."""


class MissingColumns(MarketError):
    """A file or table lacks required columns; `columns` names them."""

    def __init__(self, message: str, *, columns: Sequence[str]) -> None:
        super().__init__(message)
        self.columns = tuple(columns)


@dataclass(frozen=True)
class RowProblem:
    """One rejected row: its line in the source file (1 = the header), the column, the reason."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.reason}"


class ImportRejected(MarketError):
    """An import refused as a whole (nothing was kept); `problems` lists every rejected row."""

    def __init__(self, message: str, *, problems: Sequence[RowProblem]) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class NotEnoughData(MarketError):
    """Too few sales (or repeat-sale pairs) for a model or an index; the message gives counts."""


class NotFitted(MarketError):
    """A model used before `fit`."""


class UnreadableValue(MarketError, ValueError):
    """One value (a cell of an export) that cannot be read; the message says what was expected."""
