"""Server-rendered SVG charts (pygal) for the flow statistics.

The app's pages run no script (CSP `default-src 'none'`), so charts are plain SVG documents,
shown with `<img>` (an image never runs script, and pygal's inline config script is removed
anyway). Each chart's numbers are also in a table beside it, and the page's heading names it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import pygal
from pygal.style import Style

# pygal appends a legacy import hook for its map plugins (unused here) to sys.meta_path; from
# then on every import that reaches it makes Python warn (ImportWarning: find_spec() not
# found). Take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#222",
    foreground_strong="#111",
    foreground_subtle="#666",
    font_family="DejaVu Sans, Arial, sans-serif",
    colors=("#1b4f72", "#d68910", "#239b56", "#a93226", "#7d3c98", "#5d6d7e", "#17a589", "#b9770e"),
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=11,
)
_SCRIPT = re.compile(rb"<script\b.*?</script>", re.DOTALL)


def _render(chart: pygal.graph.graph.Graph) -> bytes:
    svg: bytes = chart.render()
    return _SCRIPT.sub(b"", svg)


def _config(labels: Sequence[str]) -> dict[str, object]:
    return {
        "style": _STYLE,
        "width": 720,
        "height": 340,
        "js": [],
        "x_labels": list(labels),
        "x_label_rotation": 45 if len(labels) > 8 else 0,
        "show_minor_x_labels": len(labels) <= 31,
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "print_values": False,
        "no_data_text": "-",
    }


def stacked_bars(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> bytes:
    """One bar per label, stacked by series (entries by class per period, say)."""
    chart = pygal.StackedBar(**_config(labels))
    for name, values in series:
        chart.add(name, list(values))
    return _render(chart)


def share_line(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> bytes:
    """Percentages per label (the zero-emission share over time)."""
    chart = pygal.Line(range=(0, 100), **_config(labels))
    for name, values in series:
        chart.add(name, list(values))
    return _render(chart)


def grouped_bars(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> bytes:
    """Bars side by side per label (cases and their outcomes per zone, say)."""
    chart = pygal.Bar(**_config(labels))
    for name, values in series:
        chart.add(name, list(values))
    return _render(chart)
