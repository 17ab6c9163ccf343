"""Charts drawn on the server as SVG: no script, no CDN, nothing to load.

Each function returns markup for a `<svg>` with a `<title>` and a text alternative
(`role="img"`, `aria-label`), so a screen reader gets the figures too. Every label
is escaped; colours are presentation attributes (the pages' CSP allows no inline
style).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

WIDTH = 640
BAR_AREA = 160
COLOURS = ("#2f5bea", "#f59e0b", "#12b76a", "#b42318", "#7a5af8")


def stacked_bars(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
                 ) -> Markup:
    """One bar per label (a day), stacked by series (settled by the bot, with a ticket)."""
    count = max(1, len(labels))
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    top = max([1, *totals])
    slot = (WIDTH - 40) / count
    bar = max(2.0, slot * 0.7)
    parts = [_open(BAR_AREA + 60, _summary(title, labels, series), title),
             Markup('<line x1="30" y1="{0}" x2="{1}" y2="{0}" stroke="#d0d5dd"/>').format(
                 BAR_AREA + 10, WIDTH - 5),
             Markup('<text x="26" y="18" font-size="11" text-anchor="end" fill="#667085">'
                    "{}</text>").format(top)]
    for i, label in enumerate(labels):
        x = 35 + i * slot + (slot - bar) / 2
        y = BAR_AREA + 10.0
        for n, (name, values) in enumerate(series):
            h = values[i] / top * BAR_AREA
            if h > 0:
                y -= h
                parts.append(Markup(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">'
                    "<title>{}: {} {}</title></rect>").format(
                        x, y, bar, h, COLOURS[n % len(COLOURS)], label, name, values[i]))
        if count <= 14 or i % max(1, count // 10) == 0:
            parts.append(Markup('<text x="{:.1f}" y="{}" font-size="10" text-anchor="middle" '
                                'fill="#667085">{}</text>').format(
                                    x + bar / 2, BAR_AREA + 26, label[5:]))
    parts.extend(_legend([name for name, _ in series], BAR_AREA + 48))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def horizontal_bars(title: str, items: Sequence[tuple[str, int]]) -> Markup:
    """One bar per item (a score, a reason, a channel), with its count."""
    rows = max(1, len(items))
    top = max([1, *(value for _, value in items)])
    said = ", ".join(f"{k} {v}" for k, v in items) or "none"
    parts = [_open(rows * 24 + 10, f"{title}: {said}", title)]
    if not items:
        parts.append(Markup('<text x="0" y="18" font-size="12" fill="#667085">'
                            "Nothing yet.</text>"))
    for i, (label, value) in enumerate(items):
        y = 5 + i * 24
        w = value / top * (WIDTH - 260)
        parts.append(Markup(
            '<text x="190" y="{0}" font-size="12" text-anchor="end" fill="#344054">{1}</text>'
            '<rect x="200" y="{2}" width="{3:.1f}" height="16" fill="{4}"/>'
            '<text x="{5:.1f}" y="{0}" font-size="12" fill="#344054">{6}</text>').format(
                y + 14, label[:32], y + 2, max(w, 1), COLOURS[0], 206 + w, value))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _open(height: int, summary: str, title: str) -> Markup:
    return Markup('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" '
                  'role="img" aria-label="{}"><title>{}</title>').format(
                      WIDTH, height, summary, title)


def _legend(names: Sequence[str], y: int) -> list[Markup]:
    parts = []
    x = 35
    for n, name in enumerate(names):
        parts.append(Markup('<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                            '<text x="{}" y="{}" font-size="11" fill="#344054">{}</text>').format(
                                x, y - 9, COLOURS[n % len(COLOURS)], x + 14, y, name))
        x += 20 + 7 * len(name)
    return parts


def _summary(title: str, labels: Sequence[str],
             series: Sequence[tuple[str, Sequence[int]]]) -> str:
    totals = ", ".join(f"{name} {sum(values)}" for name, values in series)
    span = f" from {labels[0]} to {labels[-1]}" if labels else ""
    return f"{title}{span}: {totals}"
