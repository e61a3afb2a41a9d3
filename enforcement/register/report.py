"""What a register load did: how many rows it read, loaded and skipped, and why.

A register file of several GB always has a few bad rows, and one bad row must never stop the
load of the other millions (a vehicle that is not loaded is "not in the register": a human
reviews its passages, R33). So the loaders skip what they cannot read and account for it
here, with the file, the line and a sentence an operator can act on. Only the first
`max_problems` skipped rows are kept, so the report stays small however bad a file is;
`skipped` still counts them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SkippedRow:
    """One row a loader could not use. Never holds the row itself (it may be huge)."""

    source: str
    """The file name the row came from, e.g. `Open_Data_RDW__Gekentekende_voertuigen.csv`."""
    line: int
    """1-based line (CSV, NDJSON, SODA JSON) on which the row or object starts or ends."""
    reason: str
    """Why, in plain words, e.g. "datum_eerste_toelating '20191345' is not a date YYYYMMDD"."""

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass(slots=True)
class LoadReport:
    """Counters and the first problems of one load; filled in by the loaders as they stream.

    `rows_read` counts data rows (not headers) of every file of the load, including the
    secondary RDW datasets; `loaded` counts the objects the loader yielded; `skipped` counts
    rows that were dropped. `notes` counts things that did not drop a row but that an
    operator may want to know (e.g. fuel rows for a plate absent from the vehicle file), and
    `examples` keeps the first occurrence of each note.
    """

    rows_read: int = 0
    loaded: int = 0
    skipped: int = 0
    problems: list[SkippedRow] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    examples: dict[str, SkippedRow] = field(default_factory=dict)
    max_problems: int = 1000
    """Keep at most this many `problems`; further ones are only counted."""
    progress: Callable[[int], None] | None = field(default=None, repr=False)
    """Called with `rows_read` about every `progress_every` rows (e.g. a rich progress bar);
    loaders count a chunk (thousands of rows) at a time, so calls come at chunk boundaries."""
    progress_every: int = 50_000
    _next_progress: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._next_progress = self.progress_every

    def skip(self, source: str, line: int, reason: str) -> None:
        """Record a dropped row; keeps the details of the first `max_problems` only."""
        self.skipped += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(SkippedRow(source, line, reason))

    def note(self, what: str, source: str = "", line: int = 0, detail: str = "") -> None:
        """Count a non-fatal oddity under the short label `what`; keep its first example."""
        self.notes[what] = self.notes.get(what, 0) + 1
        if what not in self.examples:
            self.examples[what] = SkippedRow(source, line, detail or what)

    def add_notes(self, what: str, count: int) -> None:
        """Count `count` occurrences of a note at once (e.g. from an SQL aggregate)."""
        if count:
            self.notes[what] = self.notes.get(what, 0) + count

    def read(self, count: int) -> None:
        """Add `count` rows to `rows_read`; loaders call this per batch, not per row."""
        self.rows_read += count
        if self.progress is not None and self.rows_read >= self._next_progress:
            self.progress(self.rows_read)
            step = max(1, self.progress_every)
            self._next_progress = (self.rows_read // step + 1) * step

    def summary(self) -> str:
        """One line for a log or a CLI: the counters, the notes and the first problem."""
        text = f"{self.rows_read} rows read, {self.loaded} loaded, {self.skipped} skipped"
        if self.notes:
            text += "; " + ", ".join(f"{what}: {n}" for what, n in sorted(self.notes.items()))
        if self.problems:
            text += f" (first problem: {self.problems[0]})"
        return text
