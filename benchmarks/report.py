"""Results as Markdown (a targets summary and the full table) and a PNG plot."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .core import TIMES, Row

__all__ = [
    "format_size",
    "format_time",
    "markdown",
    "plot_lookups",
    "replace_between_markers",
    "replace_marked",
]

BEGIN = "<!-- benchmark results: begin (written by python -m benchmarks) -->"
END = "<!-- benchmark results: end -->"
#: Plot colours: a backend and its raw baseline share one (the baseline dashed).
COLOURS = {
    "memory": "tab:gray",
    "sqlite": "tab:blue",
    "raw sqlite3": "tab:blue",
    "file": "tab:green",
    "raw JSON files": "tab:green",
    "postgres": "tab:purple",
    "raw psycopg (prepared)": "tab:purple",
    "fastapi-users (SQLAlchemy)": "tab:red",
}
PLOTTED = ("get_session_and_user", "get_user_by_email", "get_user_by_account")


def format_time(ns: float) -> str:
    """A duration with a unit that keeps three significant digits."""
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def format_size(size: int | None) -> str:
    """1000 -> 1k, 1000000 -> 1M, 333334 -> 333k; ``None`` (size-independent) -> an em dash."""
    if size is None:
        return "—"
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if size >= scale:
            return f"{size / scale:.3g}{unit}"
    return str(size)


def _result(row: Row) -> str:
    met = row.met
    return "" if met is None else ("met" if met else "**missed**")


def _ratio(row: Row) -> str:
    ratio = row.ratio
    return "" if ratio is None else f"{ratio:.2f}{TIMES}"


def _table(rows: Iterable[Row]) -> list[str]:
    lines = [
        "| Operation | Backend | Users | Median | p99 | Baseline | Ratio | Target | Result |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for row in rows:
        baseline = ""
        if row.baseline is not None and row.baseline_stats is not None:
            baseline = f"{row.baseline} ({format_time(row.baseline_stats.median_ns)})"
        lines.append(
            f"| {row.operation} | {row.impl} | {format_size(row.size)} "
            f"| {format_time(row.stats.median_ns)} | {format_time(row.stats.p99_ns)} "
            f"| {baseline} | {_ratio(row)} | {row.target.text if row.target else ''} "
            f"| {_result(row)} |"
        )
    return lines


def markdown(
    machine: dict[str, str],
    rows: Sequence[Row],
    notes: Sequence[str],
    plot: str | None,
    heading_level: int = 2,
) -> str:
    """The results section: machine, targets met or missed, the plot, every row."""
    h = "#" * heading_level
    lines = [f"{h} Machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in machine.items()]
    targeted = [row for row in rows if row.target is not None]
    met = sum(1 for row in targeted if row.met)
    lines += ["", f"{h} Targets ({met} of {len(targeted)} met)", ""]
    lines += _table(targeted) if targeted else ["No targeted operation was measured."]
    if plot:
        lines += [
            "",
            f"{h} Lookup cost against store size",
            "",
            f"![Median lookup time against the number of users, per backend]({plot})",
        ]
    lines += ["", f"{h} All measurements", ""]
    lines += _table(rows)
    if notes:
        lines += ["", f"{h} Run notes", ""]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def replace_between_markers(page: str, section: str) -> str:
    """``page`` with the text between the results markers replaced by ``section``."""
    return replace_marked(page, section, BEGIN, END)


def replace_marked(page: str, section: str, begin: str, end: str) -> str:
    """``page`` with the text between the markers ``begin`` and ``end`` replaced by ``section``."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(page):
        raise ValueError(f"the page lacks the markers {begin!r} ... {end!r}")
    return pattern.sub(lambda _: f"{begin}\n\n{section}\n{end}", page, count=1)


def plot_lookups(rows: Sequence[Row], path: Path) -> bool:
    """Plot median lookup time against store size, one panel per lookup.

    Returns ``False`` (and writes nothing) when no lookup was measured at two
    sizes or more.
    """
    series: dict[str, dict[str, list[tuple[int, float]]]] = {op: {} for op in PLOTTED}
    for row in rows:
        if row.operation in series and row.size is not None:
            series[row.operation].setdefault(row.impl, []).append(
                (row.size, row.stats.median_ns / 1e3)
            )
    if not any(len(points) >= 2 for lines in series.values() for points in lines.values()):
        return False

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    sizes = sorted({p[0] for lines in series.values() for points in lines.values() for p in points})
    # Sizes only the file store reaches: its users come with an account and a session each.
    file_only = {
        size
        for size in sizes
        if all(
            impl in {"file", "raw JSON files"}
            for lines in series.values()
            for impl, points in lines.items()
            if any(p[0] == size for p in points)
        )
    }

    def _tick(size: int) -> str:
        label = format_size(size)
        return f"{label}\n({format_size(3 * size)} records)" if size in file_only else label

    figure, axes = plt.subplots(1, len(PLOTTED), figsize=(15, 4.8), sharey=True)
    for axis, operation in zip(axes, PLOTTED, strict=True):
        for impl, points in sorted(series[operation].items()):
            points.sort()
            axis.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                linestyle="--" if impl.startswith(("raw", "fastapi")) else "-",
                marker="o",
                color=COLOURS.get(impl),
                label=impl,
            )
        axis.set_title(operation)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(FixedLocator(sizes))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _tick(round(x))))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("users in the store")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    axes[0].set_ylabel("median time per call (µs, log scale)")
    figure.suptitle("auth-store lookups against store size (dashed: raw baselines and rivals)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
