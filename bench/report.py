"""`docs/benchmarks.md`: one section per benchmark, each rewritten by its own script."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Figures are ratios against a baseline measured in the same run, because these\n"
    "machines are noisy; absolute seconds are shown for scale only. Each section is\n"
    "written by the script it names.\n"
)


def timing_table(timings: dict[str, list[float]], baseline: str, first_column: str) -> str:
    """A Markdown table of medians and minima, each median as a ratio to `baseline`'s."""
    base = statistics.median(timings[baseline])
    rows = [
        f"| {first_column} | rounds | median (s) | min (s) | ratio to {baseline} |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, samples in timings.items():
        median = statistics.median(samples)
        rows.append(
            f"| {name} | {len(samples)} | {median:.3f} | {min(samples):.3f} "
            f"| {median / base:.2f}x |"
        )
    return "\n".join(rows)


def write_section(name: str, markdown: str) -> None:
    """Replace (or append) the section `name` of the report."""
    text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else HEADER
    if "<!-- " not in text:
        text = HEADER  # an old report without sections: start afresh
    block = f"<!-- {name}:start -->\n{markdown.strip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    REPORT.write_text(text, encoding="utf-8")
