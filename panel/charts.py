"""Charts drawn on the server as inline SVG: no script, no library, nothing fetched.

Each bar is a <g> with `data-day` and `data-total`, each piece of it a <rect> with a <title>
(the browser's tooltip), so the figures can be read without the picture."""

import datetime as dt
import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

# Shared with panel/static/panel/admin.css (.cx-<status>).
COLOURS = {
    "delivered": "#2e7d32",
    "sent": "#81c784",
    "failed": "#c62828",
    "canceled": "#9e9e9e",
    "sending": "#1565c0",
    "queued": "#90caf9",
    "opt-outs": "#6a1b9a",
}

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 760, 48, 8, 28, 24


def _ceiling(value: int) -> int:
    """A round top for the y axis: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def stacked_bars(
    days: list[dt.date], values: dict[dt.date, dict[str, int]], series: list[str], *, height: int = 220, title: str
) -> SafeString:
    """One bar per day, its `series` stacked bottom up, with a legend and a y axis."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    top = _ceiling(max((sum(values[day].get(s, 0) for s in series) for day in days), default=0))
    slot = plot_w / len(days)
    bar = slot * 0.7
    bars = []
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar) / 2
        y = TOP + plot_h
        pieces = []
        for name in series:
            n = values[day].get(name, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            pieces.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" data-series="{}" data-value="{}">'
                    "<title>{} {}: {}</title></rect>",
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar:.1f}",
                    f"{h:.1f}",
                    COLOURS[name],
                    name,
                    n,
                    day.isoformat(),
                    name,
                    n,
                )
            )
        total = sum(values[day].get(s, 0) for s in series)
        bars.append(
            format_html(
                '<g class="cx-day" data-day="{}" data-total="{}">{}</g>',
                day.isoformat(),
                total,
                SafeString("".join(pieces)),
            )
        )
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" '
        'font-size="11" fill="#666">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{TOP + plot_h * (1 - f):.1f}", f"{TOP + plot_h * (1 - f):.1f}", LEFT - 6,
             f"{TOP + plot_h * (1 - f) + 4:.1f}", f"{top * f:,g}")
            for f in (0, 0.5, 1)
        ),
    )  # fmt: skip
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#666">{}</text>',
        (
            (f"{LEFT + i * slot + slot / 2:.1f}", height - 6, f"{day:%b} {day.day}")
            for i, day in enumerate(days)
            if (len(days) - 1 - i) % 7 == 0
        ),
    )
    legend = format_html_join(
        "",
        '<rect x="{}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" font-size="11" fill="#333">{}</text>',
        ((LEFT + k * 90, COLOURS[name], LEFT + k * 90 + 14, name) for k, name in enumerate(series)),
    )
    return format_html(
        '<svg class="cx-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="100%" '
        'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}{}{}{}</svg>',
        title, WIDTH, height, title, legend, grid, SafeString("".join(bars)), labels,
    )  # fmt: skip
