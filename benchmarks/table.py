"""A printed table: a title, Markdown-style rows (they paste into the README as they
are), and each target beside it with whether the run met it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Table", "Target", "fmt"]


def fmt(value: float | int | str | None, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; ``-`` for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


@dataclass
class Target:
    """A target and whether it was met (None: not measured in this run)."""

    text: str
    met: bool | None
    measured: str = ""

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        measured = f" (measured: {self.measured})" if self.measured else ""
        return f"- target: {self.text}: **{verdict}**{measured}"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why the table was not measured on this machine (printed as its one line), if so.
    skipped: str = ""

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def render(self) -> str:
        if self.skipped:
            return f"### {self.title}: skipped ({self.skipped})\n"
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: list[str]) -> str:
            padded = (
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            )
            return "| " + " | ".join(padded) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        out = [f"### {self.title}", "", line(self.columns), rule]
        out += [line(row) for row in self.rows]
        out += [""] + [t.line() for t in self.targets]
        out += [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"
