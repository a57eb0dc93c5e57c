"""Small inline SVG plots drawn from numbers: a histogram, a heat map, a scatter, bars.

No plotting library: the client stays pyarrow + numpy, and the report stays one file
that opens offline. Every plot is a self-contained ``<svg>`` element with a ``<title>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

BAR = "#4c72b0"
MUTED = "#9aa5b1"


def number(value: float) -> str:
    """A value for a label: 4 significant digits, no exponent for everyday magnitudes."""
    if not np.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}"
    return f"{value:.3e}"


def histogram(
    counts: np.ndarray,
    edges: np.ndarray,
    *,
    title: str,
    css_class: str = "hist",
    marks: Sequence[tuple[float, str]] = (),
    width: int = 320,
    height: int = 120,
) -> str:
    """Bars of ``counts`` over ``edges`` (len(counts) + 1), with the range on the axis.

    Args:
        counts: Rows per bin.
        edges: Bin edges, increasing.
        title: Tooltip and accessible name.
        css_class: Class of the ``<svg>`` (tests count plots by it).
        marks: (value, label) vertical lines, e.g. the median.
        width: Width in pixels.
        height: Height in pixels.
    """
    pad_l, pad_r, pad_t, pad_b = 6, 6, 14, 18
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    top = max(int(counts.max()) if counts.size else 0, 1)
    lo, hi = float(edges[0]), float(edges[-1])
    span = hi - lo if hi > lo else 1.0
    parts = [_open(width, height, title, css_class)]
    bar_w = plot_w / max(len(counts), 1)
    for i, count in enumerate(counts):
        if not count:
            continue
        h = max(plot_h * count / top, 1.0)
        parts.append(
            f'<rect x="{pad_l + i * bar_w:.2f}" y="{pad_t + plot_h - h:.2f}" '
            f'width="{max(bar_w - 1, 0.5):.2f}" height="{h:.2f}" fill="{BAR}">'
            f"<title>{escape(number(edges[i]))} to {escape(number(edges[i + 1]))}: "
            f"{int(count)}</title></rect>"
        )
    for value, label in marks:
        if np.isfinite(value) and lo <= value <= hi:
            x = pad_l + plot_w * (value - lo) / span
            parts.append(
                f'<line x1="{x:.2f}" x2="{x:.2f}" y1="{pad_t}" y2="{pad_t + plot_h}" '
                f'stroke="#c44e52" stroke-width="1.5"><title>{escape(label)}</title></line>'
            )
    base = pad_t + plot_h
    parts.append(
        f'<line x1="{pad_l}" x2="{pad_l + plot_w}" y1="{base}" y2="{base}" stroke="{MUTED}"/>'
        f'<text x="{pad_l}" y="{height - 4}" font-size="10" fill="#333">{escape(number(lo))}'
        f'</text><text x="{pad_l + plot_w}" y="{height - 4}" font-size="10" fill="#333" '
        f'text-anchor="end">{escape(number(hi))}</text>'
        f'<text x="{pad_l + plot_w}" y="10" font-size="9" fill="#666" '
        f'text-anchor="end">tallest bar {top} rows</text></svg>'
    )
    return "".join(parts)


def heat_map(matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], *, title: str) -> str:
    """A diverging heat map of values in [-1, 1] (blue negative, red positive), each cell
    printed; NaN cells are grey."""
    cell_w, cell_h = 64, 18
    left = 8 + 7 * max((len(r) for r in rows), default=4)
    top = 8 + 6 * max((len(c) for c in columns), default=4)
    # rotated column names reach past the last column: room on the right for them
    width, height = left + cell_w * len(columns) + top, top + cell_h * len(rows) + 8
    parts = [_open(width, height, title, "heatmap")]
    for j, name in enumerate(columns):
        x = left + j * cell_w + cell_w / 2
        parts.append(
            f'<text transform="translate({x:.1f},{top - 4}) rotate(-40)" font-size="11" '
            f'fill="#222">{escape(name)}</text>'
        )
    for i, name in enumerate(rows):
        y = top + i * cell_h
        parts.append(
            f'<text x="{left - 4}" y="{y + cell_h - 5}" font-size="11" text-anchor="end" '
            f'fill="#222">{escape(name)}</text>'
        )
        for j, value in enumerate(matrix[i]):
            x = left + j * cell_w
            fill = _diverging(float(value))
            ink = "#fff" if np.isfinite(value) and abs(value) > 0.55 else "#111"
            shown = f"{value:+.2f}" if np.isfinite(value) else "n/a"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{fill}"><title>{escape(name)} x {escape(columns[j])}: {shown}</title>'
                f'</rect><text x="{x + cell_w / 2:.1f}" y="{y + cell_h - 5}" font-size="10" '
                f'text-anchor="middle" fill="{ink}">{shown}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def scatter(
    points: np.ndarray,
    colour: np.ndarray | None,
    *,
    title: str,
    x_label: str,
    y_label: str,
    colour_label: str = "",
    size: int = 420,
) -> str:
    """Points (n x 2), each axis over its own range, coloured by ``colour`` when given
    (viridis-like ramp, grey for NaN), with a colour bar."""
    pad, bar = 28, 60 if colour is not None else 0
    width, height = size + bar, size
    plot = size - 2 * pad
    parts = [_open(width, height, title, "scatter")]
    if len(points):
        lo, hi = points.min(axis=0), points.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        xy = pad + plot * (points - lo) / span
        xy[:, 1] = size - xy[:, 1]  # y grows upward
        c_lo = c_hi = 0.0
        if colour is not None and np.isfinite(colour).any():
            c_lo, c_hi = float(np.nanmin(colour)), float(np.nanmax(colour))
        for k, (x, y) in enumerate(xy):
            fill = MUTED
            if colour is not None and np.isfinite(colour[k]):
                fill = _ramp((colour[k] - c_lo) / (c_hi - c_lo) if c_hi > c_lo else 0.5)
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{fill}" fill-opacity="0.8"/>'
            )
        if colour is not None:
            for s in range(10):
                parts.append(
                    f'<rect x="{size + 10}" y="{pad + plot * (9 - s) / 10:.1f}" width="14" '
                    f'height="{plot / 10 + 0.5:.1f}" fill="{_ramp(s / 9)}"/>'
                )
            parts.append(
                f'<text x="{size + 28}" y="{pad + 8}" font-size="10">{escape(number(c_hi))}</text>'
                f'<text x="{size + 28}" y="{pad + plot}" font-size="10">{escape(number(c_lo))}'
                f'</text><text x="{size + 10}" y="{pad - 8}" font-size="10">'
                f"{escape(colour_label)}</text>"
            )
    parts.append(
        f'<rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="none" stroke="{MUTED}"/>'
        f'<text x="{pad + plot / 2}" y="{size - 8}" font-size="11" text-anchor="middle">'
        f'{escape(x_label)}</text><text transform="translate(14,{pad + plot / 2}) rotate(-90)" '
        f'font-size="11" text-anchor="middle">{escape(y_label)}</text></svg>'
    )
    return "".join(parts)


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    spread: Sequence[tuple[float, float]] | None = None,
    marks: Sequence[str] = (),
    reference: tuple[float, str] | None = None,
    css_class: str = "bars",
    width: int = 560,
    digits: str = ".3f",
    origin: float = 0.0,
) -> str:
    """Horizontal bars from ``origin`` (leftward for values below it), one row per label,
    the value printed after each row and the axis' ends below.

    Args:
        labels: Row names.
        values: Bar lengths.
        title: Tooltip and accessible name.
        spread: (low, high) per row, drawn as a whisker (e.g. the folds' range).
        marks: Text after each value (e.g. ``5/5``).
        reference: (value, label): a dashed vertical line (e.g. a baseline).
        css_class: Class of the ``<svg>``.
        width: Width in pixels.
        digits: How the values are printed (a ``format`` spec).
        origin: Where bars start (0; an RMSE plot starts near its smallest value, so the
            differences show: the axis' ends are printed).
    """
    row_h, top = 18, 8 if reference is None else 20  # room above for the reference's name
    left = int(8 + 7.5 * max((len(label) for label in labels), default=4))
    notes = [marks[i] if i < len(marks) else "" for i in range(len(values))]
    widest = max((len(format(v, digits)) + len(m) + 1 for v, m in zip(values, notes, strict=True)),
                 default=0)  # fmt: skip
    right = 16 + 6 * max(widest, len(format(max(values, default=0.0), digits)))
    width = max(width, left + right + 160)
    height = top + row_h * len(labels) + 22
    points = [origin, *(v for v in values if np.isfinite(v))]
    for low, high in spread or ():
        points += [x for x in (low, high) if np.isfinite(x)]
    if reference is not None:
        points.append(reference[0])
    lo, hi = min(points), max(points)
    span = hi - lo if hi > lo else 1.0
    plot = width - left - right

    def x(value: float) -> float:
        return left + plot * (value - lo) / span

    parts = [_open(width, height, title, css_class)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        parts.append(
            f'<text x="{left - 4}" y="{y + row_h - 5}" font-size="11" text-anchor="end" '
            f'fill="#222">{escape(label)}</text>'
        )
        if not np.isfinite(value):
            continue
        a, b = sorted((x(origin), x(value)))
        fill = BAR if value >= origin else "#c44e52"
        note = f" {marks[i]}" if i < len(marks) and marks[i] else ""
        parts.append(
            f'<rect x="{a:.1f}" y="{y + 3}" width="{max(b - a, 0.5):.1f}" height="{row_h - 6}" '
            f'fill="{fill}"><title>{escape(label)}: {format(value, digits)}{escape(note)}'
            "</title></rect>"
        )
        if spread is not None and i < len(spread) and all(np.isfinite(spread[i])):
            s0, s1 = x(spread[i][0]), x(spread[i][1])
            mid = y + row_h / 2
            parts.append(
                f'<line x1="{s0:.1f}" x2="{s1:.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
                f'stroke="#333" stroke-width="1"/>'
            )
        parts.append(
            f'<text x="{left + plot + 6}" y="{y + row_h - 5}" font-size="10" fill="#333">'
            f"{format(value, digits)}{escape(note)}</text>"
        )
    zero = x(origin)
    base = top + row_h * len(labels)
    parts.append(
        f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{base}" stroke="{MUTED}"/>'
        f'<line x1="{left}" x2="{left + plot}" y1="{base}" y2="{base}" stroke="{MUTED}"/>'
        f'<text x="{left}" y="{base + 14}" font-size="10" fill="#333">{format(lo, digits)}'
        f'</text><text x="{left + plot}" y="{base + 14}" font-size="10" fill="#333" '
        f'text-anchor="end">{format(hi, digits)}</text>'
    )
    if reference is not None:
        rx = x(reference[0])
        parts.append(
            f'<line x1="{rx:.1f}" x2="{rx:.1f}" y1="{top}" y2="{base}" stroke="#c44e52" '
            f'stroke-dasharray="4 3"><title>{escape(reference[1])}</title></line>'
            f'<text x="{rx:.1f}" y="{top - 6}" font-size="10" fill="#c44e52" '
            f'text-anchor="middle">{escape(reference[1])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str, css_class: str) -> str:
    return (
        f'<svg class="{css_class}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{escape(title)}</title>"
    )


def _diverging(value: float) -> str:
    if not np.isfinite(value):
        return "#dddddd"
    v = max(-1.0, min(1.0, value))
    # white at 0, to #b2182b at +1 and #2166ac at -1
    end = (178, 24, 43) if v > 0 else (33, 102, 172)
    mix = abs(v)
    rgb = tuple(round(255 + (c - 255) * mix) for c in end)
    return "#{:02x}{:02x}{:02x}".format(*rgb)


_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def _ramp(t: float) -> str:
    t = max(0.0, min(1.0, float(t))) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    rgb = tuple(round(a + (b - a) * f) for a, b in zip(_VIRIDIS[i], _VIRIDIS[i + 1], strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)
