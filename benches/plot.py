#!/usr/bin/env python3
"""Draws the rate-limit and telemetry comparisons as SVG bar charts from
criterion's results (target/criterion/<group>/<bench>/new/estimates.json).

Run after `cargo bench -p appenv-benches --bench rate_limit --bench telemetry`:

    python3 benches/plot.py [target/criterion] [benches/results]

No third-party packages; the SVG is written by hand.
"""
import json
import sys
from pathlib import Path
from xml.sax.saxutils import escape

CRITERION = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "benches/results")

CHARTS = {
    "rate-limit.svg": (
        "Rate limiting per request (in memory, peer-IP key, headers on)",
        [
            ("rate_limit/allowed", ["bare_service", "governor_check_key", "tower_governor", "appenv"]),
            ("rate_limit/limited", ["appenv_allowed", "appenv_429", "tower_governor_429"]),
        ],
    ),
    "telemetry.svg": (
        "Telemetry per event / per request",
        [
            ("telemetry/filtered_debug", ["tracing_subscriber", "appenv"]),
            ("telemetry/json_info_3_fields", ["tracing_subscriber", "appenv"]),
            ("telemetry/http_request", ["bare_service", "tower_http_trace_default",
                                        "tower_http_trace_info_span", "appenv"]),
        ],
    ),
}


def estimate(group, bench):
    """The estimate criterion prints as `time:` (the slope when it has one,
    else the mean) and its 95% bounds, in nanoseconds."""
    path = CRITERION / group.replace("/", "_") / bench / "new" / "estimates.json"
    if not path.exists():
        # criterion keeps the group path as directories on some versions
        path = CRITERION.joinpath(*group.split("/")) / bench / "new" / "estimates.json"
    data = json.loads(path.read_text())
    mean = data.get("slope") or data["mean"]
    ci = mean["confidence_interval"]
    return mean["point_estimate"], ci["lower_bound"], ci["upper_bound"]


def human(ns):
    if ns < 1:
        return f"{ns * 1000:.0f} ps"
    if ns < 1000:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1000:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def chart(title, groups):
    bar_h, gap, label_w, plot_w, pad = 22, 6, 250, 440, 14
    rows = []
    for group, benches in groups:
        items = [(b, *estimate(group, b)) for b in benches]
        rows.append((group, items))
    height = pad * 2 + 30 + sum(24 + len(items) * (bar_h + gap) + 10 for _, items in rows)
    width = label_w + plot_w + 110
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{pad}" y="{pad + 14}" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    y = pad + 34
    for group, items in rows:
        out.append(f'<text x="{pad}" y="{y + 14}" font-weight="bold">{escape(group)}'
                   f' (time per iteration, 95% CI; shorter is better)</text>')
        y += 24
        scale = plot_w / max(hi for _, _, _, hi in items)
        for bench, mean, lo, hi in items:
            ours = bench.startswith("appenv")
            colour = "#d9480f" if ours else ("#adb5bd" if "bare" in bench else "#1c7ed6")
            w = max(mean * scale, 1)
            out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 7}" text-anchor="end">'
                       f'{escape(bench)}</text>')
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
            out.append(f'<line x1="{label_w + lo * scale:.1f}" x2="{label_w + hi * scale:.1f}" '
                       f'y1="{y + bar_h / 2}" y2="{y + bar_h / 2}" stroke="black"/>')
            out.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h - 7}">{human(mean)}</text>')
            y += bar_h + gap
        y += 10
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (title, groups) in CHARTS.items():
        (OUT / name).write_text(chart(title, groups))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
