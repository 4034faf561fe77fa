"""A PNG of the workload time per query family, one bar per configuration.

    python -m benchmarks.chart benchmarks/results/full.json benchmarks/results/family_times.png

Drawn from the benchmark's JSON alone, so the picture can always be re-made from the results.
The time axis is logarithmic: indexes change some families by orders of magnitude.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed

import matplotlib.pyplot as plt


def render(results: dict[str, Any], path: Path) -> Path:
    """Write the chart for ``results`` (the JSON of ``benchmarks.run``) to ``path``."""
    families = results["families"]
    rows = [r for r in results["configurations"] if r.get("status") == "ok"]
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=120)
    width = 0.8 / max(1, len(rows))
    colours = plt.get_cmap("tab10").colors
    for i, row in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(families))]
        values = [max(row["family_ms"][f], 1e-3) for f in families]
        bars = ax.bar(
            xs,
            values,
            width,
            label=f"{row['name']} — total {row['total_ms']:,.0f} ms, {row['index_count']} indexes",
            color=colours[i % len(colours)],
        )
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                _short(value),
                (bar.get_x() + bar.get_width() / 2, value),
                ha="center",
                va="bottom",
                fontsize=6.5,
                rotation=90,
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.set_yscale("log")
    highest = max((max(r["family_ms"].values()) for r in rows), default=1.0)
    ax.set_ylim(top=max(highest, 1e-3) * 4)  # room for the labels above the tallest bar
    ax.set_xticks(range(len(families)), list(families.values()))
    ax.set_ylabel("ms per family (median EXPLAIN ANALYZE, log scale)")
    data = results["data"]
    rows_text = ", ".join(
        f"{n:,} {t.removeprefix('monitoring_')}"
        for t, n in data["rows"].items()
        if t in ("monitoring_webhookdelivery", "monitoring_integrationlog")
    )
    ax.set_title(
        f"examples/alerting at scale {data['scale']} ({rows_text}): "
        "time per query family by index set",
        fontsize=10,
    )
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _short(ms: float) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.3g}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m benchmarks.chart RESULTS.json OUTPUT.png", file=sys.stderr)
        return 2
    render(json.loads(Path(args[0]).read_text()), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
