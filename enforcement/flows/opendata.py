"""The open flow data: every table as long-format rows with small cells suppressed. Pure.

One row per figure: `scope, id, table, row, column, count, rounded` where `count` is a number
or `<k` and `rounded` says the figure holds small cells (method: `suppression`). In JSON
(`OpenRow.as_json`) `count` is a number or null, with `suppressed` true for `<k`. Columns are
documented in deploy/README.md ("Open flow data") and in the OpenAPI document.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from enforcement.flows.suppression import figure
from enforcement.flows.tables import TABLES, DayCell, Granularity, HourCell, published

COLUMNS = ("scope", "id", "from", "to", "granularity", "table", "row", "column", "count", "rounded")


@dataclass(frozen=True, slots=True)
class OpenRow:
    scope: str
    id: str
    from_: str
    to: str
    granularity: str
    table: str
    row: str
    column: str
    count: str
    rounded: bool

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        return {key: data[key] for key in COLUMNS}

    def as_json(self) -> dict[str, object]:
        """The row for JSON: `count` a number, or null when suppressed (`suppressed` true:
        fewer than k vehicles), so a client never parses `<k` out of a string."""
        data = self.as_dict()
        suppressed = self.count.startswith("<")
        data["count"] = None if suppressed else int(self.count)
        data["suppressed"] = suppressed
        return data


def open_rows(
    scope: str,
    scope_id: str,
    start: str,
    end: str,
    days: tuple[DayCell, ...],
    hours: tuple[HourCell, ...],
    granularity: Granularity,
    k: int,
) -> list[OpenRow]:
    """Every table's figures in page order, each published from its base cells."""
    tables = published(days, hours, granularity, scope == "area", lambda e, s: figure(e, s, k), k)
    rows: list[OpenRow] = []
    for name in TABLES:
        for row, columns in sorted(tables[name].items()):
            for column, shown in sorted(columns.items()):
                rows.append(
                    OpenRow(
                        scope,
                        scope_id,
                        start,
                        end,
                        granularity,
                        name,
                        row,
                        column,
                        shown.text(k),
                        shown.rounded,
                    )
                )
    return rows


def to_csv(rows: list[OpenRow]) -> str:
    """RFC 4180 CSV with a header row (opens in any spreadsheet)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        data = row.as_dict()
        data["rounded"] = "true" if row.rounded else "false"
        writer.writerow(data)
    return out.getvalue()
