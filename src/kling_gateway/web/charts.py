"""Draw small SVG charts on the server: bars of one value per day, or lines of several series per day, each with a
`<title>` and a description for screen readers, and the numbers in a table beside it in the page."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 220
LEFT = 56  # room for the value axis' labels
BOTTOM = 40  # room for the day labels
TOP = 12
RIGHT = 12
PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#b83280", "#6b46c1", "#718096")  # colour-blind-safe enough, six series


@dataclass(frozen=True)
class Series:
    """A named line of values, one per label."""

    name: str
    values: Sequence[float]


def _plain(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.2f}"


def _ceiling(values: Iterable[float]) -> float:
    """A round top for the value axis, above the highest value, whose four grid steps are round too: 1, 2 or 5
    times a power of ten, and whole numbers when every value is one (counts of tasks)."""
    listed = list(values)
    highest = max(listed, default=0)
    if highest <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(highest / 4))
    if all(float(value).is_integer() for value in listed):
        power = max(power, 1.0)
    return next(4 * step for step in (power, 2 * power, 5 * power, 10 * power) if 4 * step > highest)


def _frame(title: str, description: str, labels: Sequence[str], top: float, show: Callable[[float], str]) -> list[str]:
    """The svg element's opening, its title and description, the value axis' grid and the day labels."""
    ident = "chart-" + "".join(ch for ch in title.lower() if ch.isalnum())[:24]
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{ident}-t {ident}-d" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(description)}</desc>',
    ]
    plot_h = HEIGHT - TOP - BOTTOM
    for step in range(5):
        y = TOP + plot_h - plot_h * step / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dde3"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#4a5568">'
            f"{escape(show(top * step / 4))}</text>"
        )
    every = max(1, len(labels) // 8)  # at most about eight day labels fit
    for index, label in enumerate(labels):
        if index % every == 0:
            x = _x(index, len(labels))
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11" fill="#4a5568">'
                f"{escape(label)}</text>"
            )
    return parts


def _x(index: int, count: int) -> float:
    slot = (WIDTH - LEFT - RIGHT) / max(count, 1)
    return LEFT + slot * (index + 0.5)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * (value / top)


def bars(
    title: str, labels: Sequence[str], values: Sequence[float], *, show: Callable[[float], str] = _plain
) -> Markup:
    """Bars of one value per label (a day), under a title."""
    top = _ceiling(values)
    total = sum(values)
    description = f"{len(values)} days, {show(total)} in all, at most {show(max(values, default=0))} on one day"
    parts = _frame(title, description, labels, top, show)
    slot = (WIDTH - LEFT - RIGHT) / max(len(values), 1)
    width = max(slot * 0.7, 1)
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = _y(value, top)
        x = _x(index, len(values)) - width / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(label)}: {escape(show(value))}</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it was escaped above


def lines(
    title: str, labels: Sequence[str], series: Sequence[Series], *, show: Callable[[float], str] = _plain
) -> Markup:
    """A line per series over the labels (days), with a legend, under a title."""
    top = _ceiling(value for line in series for value in line.values)
    names = ", ".join(line.name for line in series) or "nothing"
    parts = _frame(title, f"{len(labels)} days; one line each for {names}", labels, top, show)
    for number, line in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        points = " ".join(
            f"{_x(index, len(labels)):.1f},{_y(value, top):.1f}" for index, value in enumerate(line.values)
        )
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for index, value in enumerate(line.values):
            parts.append(
                f'<circle cx="{_x(index, len(labels)):.1f}" cy="{_y(value, top):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(line.name)}, {escape(labels[index])}: {escape(show(value))}</title></circle>"
            )
        legend_x = LEFT + 8 + number * 100
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{legend_x + 14}" y="{HEIGHT - 5}" font-size="11" fill="#1a202c">{escape(line.name[:14])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it was escaped above


def top_series(by_group: Mapping[str, Sequence[float]], *, most: int = 5, rest: str = "others") -> list[Series]:
    """The `most` largest groups as their own series, and the rest summed into one."""
    ranked = sorted(by_group.items(), key=lambda item: (-sum(item[1]), item[0]))
    chosen = [Series(name, values) for name, values in ranked[:most]]
    others = ranked[most:]
    if others:
        summed = [sum(values) for values in zip(*(values for _, values in others), strict=True)]
        chosen.append(Series(rest, summed))
    return chosen
