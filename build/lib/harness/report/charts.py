"""Latency histograms as inline SVG bar charts (log-spaced buckets from the verdict)."""

from __future__ import annotations

from html import escape

from harness.checkers.verdict import Histogram

W, H, PAD_L, PAD_B, PAD_T = 560, 200, 44, 34, 12


def histogram_svg(hist: Histogram, title: str) -> str:
    """Bars per latency bucket; empty buckets at both ends are trimmed so the shape is readable."""
    counts = hist.counts
    used = [i for i, n in enumerate(counts) if n]
    if not used:
        return f'<p class="muted">{escape(title)}: no samples</p>'
    lo, hi = used[0], used[-1]
    bars = counts[lo:hi + 1]
    edges = hist.edges_ms[lo:hi + 1]
    peak = max(bars)
    bw = (W - PAD_L - 8) / len(bars)
    out = [f'<svg class="hist" viewBox="0 0 {W} {H}" width="{W}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f'<text x="{PAD_L}" y="{PAD_T - 1}" class="axis">{escape(title)} (count per bucket, '
           f'peak {peak})</text>']
    plot_h = H - PAD_B - PAD_T - 4
    for i, n in enumerate(bars):
        h = plot_h * n / peak
        x = PAD_L + i * bw
        upper = hist.edges_ms[lo + i + 1] if lo + i + 1 < len(hist.edges_ms) else None
        span = f"{_ms(edges[i])}-{_ms(upper)} ms" if upper is not None else f">= {_ms(edges[i])} ms"
        out.append(f'<rect x="{x + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{max(bw - 2, 1):.1f}" '
                   f'height="{h:.1f}" class="bar"><title>{n} in {span}</title></rect>')
        if i % max(1, len(bars) // 8) == 0:
            out.append(f'<text x="{x + 1:.1f}" y="{H - PAD_B + 14}" class="axis">{_ms(edges[i])}</text>')
    out.append(f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - 8}" y2="{H - PAD_B}" class="grid"/>'
               f'<text x="{W - 8}" y="{H - 4}" class="axis" text-anchor="end">ms (log scale)</text>'
               "</svg>")
    return "".join(out)


def _ms(value: float) -> str:
    return f"{value:.3g}" if value < 1000 else f"{value / 1000:.3g}k"
