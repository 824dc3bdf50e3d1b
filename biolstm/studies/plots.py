"""Standard plots of a sweep table: each metric against a parameter, one line per hue value.

Grid sweeps: mean +- standard deviation over seeds (and over any further varied
parameter, which the title then names). Random sweeps: one marker per point, coloured
by the hue parameter. Axis labels come from the column names, whose last part is the
unit (``tau_ahp_ms`` -> "tau_ahp (ms)").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biolstm.fileio import atomic_writer

__all__ = ["label", "plot_sweep", "plot_metric"]

_UNITS = {"ms": "ms", "s": "s", "us": "µs", "hz": "Hz", "pA": "pA", "nA": "nA", "mV": "mV",
          "V": "V", "J": "J", "mJ": "mJ", "uJ": "µJ", "nJ": "nJ", "pJ": "pJ", "W": "W",
          "mW": "mW", "Js": "J·s", "uJs": "µJ·s", "nJs": "nJ·s"}


def label(column: str) -> str:
    """Axis label of a column: ``rate_adaptive_hz`` -> ``rate_adaptive (Hz)``."""
    head, _, unit = column.rpartition("_")
    if head and unit in _UNITS:
        return f"{head} ({_UNITS[unit]})"
    return column


def _numeric(column) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def _varied(table, params: list[str]) -> list[str]:
    return [p for p in params if table[p].nunique(dropna=False) > 1]


def plot_metric(ax, table, x: str, metric: str, hue: str | None, random: bool) -> None:
    """Draw ``metric`` against ``x`` on ``ax`` (mean +- sd per x and hue value)."""
    import matplotlib.pyplot as plt

    data = table[[x, metric] + ([hue] if hue else [])].dropna(subset=[metric])
    numeric_x = _numeric(data[x])
    if random:
        if hue and _numeric(data[hue]):
            sc = ax.scatter(data[x], data[metric], c=data[hue], cmap="viridis", s=18)
            plt.colorbar(sc, ax=ax, label=label(hue))
        elif hue:
            for value, group in data.groupby(hue):
                ax.scatter(group[x], group[metric], s=18, label=f"{hue}={value}")
            ax.legend(fontsize="small")
        else:
            ax.scatter(data[x], data[metric], s=18)
    else:
        groups = data.groupby(hue) if hue else [(None, data)]
        cmap = plt.get_cmap("viridis")
        groups = list(groups)
        for n, (value, group) in enumerate(groups):
            stats = group.groupby(x)[metric].agg(["mean", "std", "count"]).reset_index()
            color = cmap(n / max(len(groups) - 1, 1)) if hue else "tab:blue"
            xs = stats[x] if numeric_x else np.arange(len(stats))
            ax.errorbar(xs, stats["mean"], yerr=stats["std"].fillna(0.0), marker="o", ms=4,
                        capsize=2, color=color, label=f"{label(hue)} = {value:g}" if hue and
                        isinstance(value, (int, float, np.number)) else (f"{hue} = {value}" if hue else None))
            if not numeric_x:
                ax.set_xticks(xs, stats[x].astype(str))
        if hue:
            ax.legend(fontsize="small")
    if numeric_x and (data[x] > 0).all() and data[x].max() / max(data[x].min(), 1e-300) >= 20:
        ax.set_xscale("log")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(metric))
    ax.grid(alpha=0.3)


def plot_sweep(table, cfg, params: list[str], metrics: list[str], out_dir: str | Path) -> list[Path]:
    """Write ``<metric>.png`` for each plotted metric and ``summary.png`` with all of them.

    ``cfg.plot`` may set ``x``, ``hue`` (parameter names) and ``metrics`` (columns);
    the defaults are the first and second varied parameter and every numeric metric
    column (at most 12).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    varied = _varied(table, params)
    plot_cfg: dict[str, Any] = dict(cfg.plot or {})
    numeric_first = sorted(varied, key=lambda p: not _numeric(table[p]))
    x = plot_cfg.get("x") or (numeric_first[0] if varied else None)
    if x is None:
        return []
    others = [p for p in numeric_first if p != x]
    hue = plot_cfg.get("hue", others[0] if others else None)
    if hue == x:
        hue = None
    for name in (x, hue):
        if name is not None and name not in table.columns:
            raise ValueError(f"plot: column {name!r} is not in the sweep table; parameters are {params}")
    wanted = plot_cfg.get("metrics") or [
        m for m in metrics if _numeric(table[m]) and table[m].notna().any()][:12]
    wanted = [m for m in wanted if m in table.columns and table[m].notna().any()]
    rest = [p for p in varied if p not in (x, hue)]
    note = f" (mean over {', '.join(rest)} and seeds)" if rest else " (mean ± sd over seeds)"
    random = cfg.sampling == "random"
    if random:
        note = ""
    files = []
    for metric in wanted:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        plot_metric(ax, table, x, metric, hue, random)
        ax.set_title(f"{cfg.name}: {metric}{note}", fontsize="small")
        fig.tight_layout()
        path = out_dir / f"{metric}.png"
        with atomic_writer(path, overwrite=True) as fh:
            fig.savefig(fh, format="png", dpi=100)
        plt.close(fig)
        files.append(path)
    if wanted:
        cols = min(3, len(wanted))
        rows = int(np.ceil(len(wanted) / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
        for ax, metric in zip(axes.flat, wanted):
            plot_metric(ax, table, x, metric, hue, random)
        for ax in list(axes.flat)[len(wanted):]:
            ax.set_visible(False)
        fig.suptitle(f"{cfg.name}{note}", fontsize="medium")
        fig.tight_layout()
        path = out_dir / "summary.png"
        with atomic_writer(path, overwrite=True) as fh:
            fig.savefig(fh, format="png", dpi=90)
        plt.close(fig)
        files.append(path)
    return files
