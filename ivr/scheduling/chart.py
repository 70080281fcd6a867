"""A picture of the day as SVG: per group, agents required (a step line) and
scheduled (bars) per 15-minute interval.

Built with `xml.etree.ElementTree`, so every label is escaped by the library;
one small multiple per group, sharing the time axis. No script, no external
reference: the page's CSP serves it as an image.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo

from .model import INTERVAL_SECONDS

WIDTH = 960
ROW_HEIGHT = 120
LEFT = 110
RIGHT = 20
TOP = 30
BAR = "#7aa6d8"
LINE = "#c0392b"


def _el(parent: ET.Element, tag: str, **attrs: object) -> ET.Element:
    return ET.SubElement(parent, tag, {k.replace("_", "-"): str(v) for k, v in attrs.items()})


def day_chart(
    series: Mapping[str, Iterable[tuple[float, int, int]]],
    lo: float,
    hi: float,
    tz: tzinfo,
    title: str,
) -> str:
    """`series`: group -> (interval start, required, scheduled). Returns an SVG document."""
    groups = [g for g, points in series.items() if points]
    data = {g: sorted(series[g]) for g in groups}
    height = TOP + ROW_HEIGHT * max(1, len(groups)) + 30
    svg = ET.Element(
        "svg",
        {"xmlns": "http://www.w3.org/2000/svg", "width": str(WIDTH), "height": str(height),
         "viewBox": f"0 0 {WIDTH} {height}", "font-family": "sans-serif", "font-size": "11"},
    )  # fmt: skip
    _el(svg, "title").text = title
    _el(svg, "text", x=LEFT, y=18, font_size=14).text = title
    legend = _el(svg, "g")
    _el(legend, "rect", x=WIDTH - 260, y=8, width=12, height=10, fill=BAR)
    _el(legend, "text", x=WIDTH - 244, y=17).text = "scheduled"
    _el(legend, "line", x1=WIDTH - 170, y1=13, x2=WIDTH - 150, y2=13, stroke=LINE, stroke_width=2)
    _el(legend, "text", x=WIDTH - 146, y=17).text = "required"
    span = max(hi - lo, INTERVAL_SECONDS)
    plot = WIDTH - LEFT - RIGHT

    def x(at: float) -> float:
        return LEFT + (at - lo) / span * plot

    for row, group in enumerate(groups):
        top = TOP + row * ROW_HEIGHT
        base = top + ROW_HEIGHT - 20
        points = data[group]
        peak = max(1, *(max(r, s) for _, r, s in points))
        scale = (ROW_HEIGHT - 30) / peak
        _el(svg, "text", x=8, y=top + 20, font_weight="bold").text = group
        _el(svg, "text", x=8, y=top + 36).text = f"peak {peak}"
        _el(svg, "line", x1=LEFT, y1=base, x2=WIDTH - RIGHT, y2=base, stroke="#999")
        bars = _el(svg, "g", fill=BAR)
        width = max(1.0, plot * INTERVAL_SECONDS / span - 1)
        for start, _required, scheduled in points:
            if scheduled:
                _el(bars, "rect", x=f"{x(start):.1f}", y=f"{base - scheduled * scale:.1f}",
                    width=f"{width:.1f}", height=f"{scheduled * scale:.1f}")  # fmt: skip
        path: list[str] = []
        for start, required, _ in points:
            y = base - required * scale
            path.append(f"{'M' if not path else 'L'}{x(start):.1f},{y:.1f} L{x(start + INTERVAL_SECONDS):.1f},{y:.1f}")
        if path:
            _el(svg, "path", d=" ".join(path), fill="none", stroke=LINE, stroke_width=1.5)
    axis = TOP + ROW_HEIGHT * max(1, len(groups)) + 12
    hours: defaultdict[int, float] = defaultdict(float)
    at = lo
    while at <= hi:
        local = datetime.fromtimestamp(at, tz)
        if local.minute == 0 and local.hour % 3 == 0:
            hours[int(at)] = at
        at += INTERVAL_SECONDS
    for at in hours.values():
        label = datetime.fromtimestamp(at, tz).strftime("%H:%M")
        _el(svg, "text", x=f"{x(at):.1f}", y=axis, text_anchor="middle").text = label
    return ET.tostring(svg, encoding="unicode", xml_declaration=False)
