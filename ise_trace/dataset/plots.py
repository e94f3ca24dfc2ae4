"""The card's figures, as PNG files under `assets/` (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

from .statistics import COMPLEXITIES, CorpusStats

MAX_TOOLS_SHOWN = 20  # keeps bar labels readable on a corpus with many distinct tools

PLOT_FILES = {
    "user_turns": "user_turns.png",
    "tool_calls": "tool_calls.png",
    "tool_cooccurrence": "tool_cooccurrence.png",
    "domains_complexity": "domains_complexity.png",
}


def write_plots(stats: CorpusStats, assets: Path) -> dict[str, str]:
    """Draw every figure into `assets`; returns {figure: path relative to the dataset folder}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assets.mkdir(parents=True, exist_ok=True)
    drawers = {
        "user_turns": _user_turns,
        "tool_calls": _tool_calls,
        "tool_cooccurrence": _cooccurrence,
        "domains_complexity": _domains_complexity,
    }
    written = {}
    for key, draw in drawers.items():
        fig = draw(plt, stats)
        try:
            fig.savefig(assets / PLOT_FILES[key], dpi=100)
        finally:
            plt.close(fig)
        written[key] = f"{assets.name}/{PLOT_FILES[key]}"
    return written


def _user_turns(plt, stats: CorpusStats):
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    hist = stats.user_turn_histogram
    ax.bar(list(hist), list(hist.values()), color="#4C72B0")
    ax.axvline(stats.user_turns.mean, color="#C44E52", linestyle="--", label=f"mean {stats.user_turns.mean:.2f}")
    ax.set_xlabel("user turns per trajectory")
    ax.set_ylabel("trajectories")
    ax.set_title("User turns")
    ax.legend()
    return fig


def _tool_calls(plt, stats: CorpusStats):
    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    items = list(stats.tool_call_counts.items())[:MAX_TOOLS_SHOWN]
    names = [n for n, _ in items][::-1]
    counts = [c for _, c in items][::-1]
    ax.barh(names, counts, color="#55A868")
    ax.set_xlabel("calls")
    ax.set_title(f"Tool calls by tool (mean {stats.tool_calls.mean:.2f} per trajectory)")
    return fig


def _cooccurrence(plt, stats: CorpusStats):
    tools = list(stats.tool_call_counts)[:MAX_TOOLS_SHOWN]
    matrix = [[stats.tool_cooccurrence[a][b] for b in tools] for a in tools]
    fig, ax = plt.subplots(figsize=(5.5, 4.8), layout="constrained")
    im = ax.imshow(matrix or [[0]], cmap="viridis")
    ax.set_xticks(range(len(tools)), tools, rotation=60, ha="right")
    ax.set_yticks(range(len(tools)), tools)
    ax.set_title("Tool co-occurrence (trajectories using both)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _domains_complexity(plt, stats: CorpusStats):
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [2.2, 1]}, layout="constrained"
    )
    domains = list(stats.domain_counts.items())[::-1]
    left.barh([d for d, _ in domains], [c for _, c in domains], color="#8172B2")
    left.set_xlabel("trajectories")
    left.set_title("Domains")
    shares = [stats.complexity_mix.get(c, 0.0) for c in COMPLEXITIES]
    right.bar(list(COMPLEXITIES), [100 * s for s in shares], color=["#64B5CD", "#CCB974", "#C44E52"])
    right.set_ylabel("% of trajectories")
    right.set_title("Complexity")
    return fig
