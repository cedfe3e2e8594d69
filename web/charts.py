"""Server-rendered SVG charts (no JavaScript, no CDN): bars per day and a line over time."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
LEFT, BOTTOM, TOP = 40, 24, 10
COLOURS = ("#2b6cb0", "#dd6b20", "#38a169")


def nice_max(value: float) -> float:
    """A round axis top at or above ``value`` that splits into four whole steps."""
    if value <= 4:
        return 4.0
    step = 10 ** max(0, len(str(int(value))) - 1)
    for mult in (1, 2, 2.5, 4, 5, 8, 10):
        top = mult * step
        if top >= value and (top / 4).is_integer():
            return float(top)
    return float(-(-int(value) // 4) * 4)


def _frame(title: str, ymax: float, unit: str = "") -> list[str]:
    plot_h = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = ymax * (4 - i) / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{value:.0f}{escape(unit)}</text>"
        )
    return parts


def bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], unit: str = ""
) -> Markup:
    """Grouped bars: one group per label, one bar per series."""
    ymax = nice_max(max([1.0, *(v for _, values in series for v in values)]))
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    parts = _frame(title, ymax, unit)
    n = max(1, len(labels))
    group = plot_w / n
    bar = group * 0.8 / max(1, len(series))
    for i, label in enumerate(labels):
        x0 = LEFT + i * group + group * 0.1
        for j, (name, values) in enumerate(series):
            v = values[i] if i < len(values) else 0
            h = plot_h * v / ymax
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar * 0.9:.1f}"'
                f' height="{h:.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f"<title>{escape(label)} {escape(name)}: {v:g}</title></rect>"
            )
        if n <= 16 or i % 2 == 0:
            parts.append(
                f'<text x="{x0 + group * 0.4:.1f}" y="{HEIGHT - 8}" text-anchor="middle" class="axis">'
                f"{escape(label)}</text>"
            )
    parts.append(_legend([name for name, _ in series]))
    parts.append("</svg>")
    return Markup("".join(parts))


def line(
    title: str,
    points: Sequence[tuple[float, float]],
    *,
    ymax: float | None = None,
    unit: str = "",
    first_label: str = "",
    last_label: str = "",
    x_range: tuple[float, float] | None = None,
    gap: float | None = None,
) -> Markup:
    """A line through (x, y) points, x scaled to the width; labels under both ends.

    ``x_range`` fixes the x axis (a 30-day chart with two days of data fills only its right
    end instead of stretching them across); points further apart than ``gap`` are not joined
    (a modem that was off shows as a hole, not as a straight line across it).
    """
    top = ymax if ymax is not None else max([1.0, *(y for _, y in points)])
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    parts = _frame(title, top, unit)
    if points:
        xs = [x for x, _ in points]
        x0, x1 = x_range if x_range is not None else (min(xs), max(xs))
        span = (x1 - x0) or 1.0
        runs: list[list[str]] = []
        previous: float | None = None
        for x, y in points:
            if previous is None or (gap is not None and x - previous > gap):
                runs.append([])
            previous = x
            runs[-1].append(
                f"{LEFT + plot_w * (x - x0) / span:.1f},{TOP + plot_h - plot_h * min(y, top) / top:.1f}"
            )
        for run in runs:
            parts.append(
                f'<polyline points="{" ".join(run)}" fill="none" stroke="{COLOURS[0]}"'
                ' stroke-width="2"/>'
            )
        # dots, so that a single point shows too (and a point alone between two holes)
        dotted = runs if len(points) <= 60 else [run for run in runs if len(run) == 1]
        for xy in (xy for run in dotted for xy in run):
            cx, cy = xy.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{COLOURS[0]}"/>')
    else:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="axis">no data yet</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="axis">{escape(first_label)}</text>')
    parts.append(
        f'<text x="{WIDTH}" y="{HEIGHT - 8}" text-anchor="end" class="axis">{escape(last_label)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend(names: Sequence[str]) -> str:
    out = []
    for j, name in enumerate(names):
        x = LEFT + 8 + j * 90
        out.append(
            f'<rect x="{x}" y="{TOP}" width="10" height="10" fill="{COLOURS[j % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="{TOP + 9}" class="axis">{escape(name)}</text>'
        )
    return "".join(out)
