"""Plots for the Dagster UI: the rating intervals and the head-to-head win-rate heatmap.

Each function takes the rows a mart or ratings table already holds and returns a matplotlib
figure; `dagster_wc.metadata.png_image` embeds it in an asset's metadata panel.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure


def rating_intervals_figure(ratings: pl.DataFrame) -> Figure:
    """Each expert's rating with its bootstrap CI (columns expert, rating, ci_lower, ci_upper)."""
    rows = ratings.sort("rating")
    figure, axis = plt.subplots(figsize=(5, 0.5 + 0.4 * len(rows)))
    y = np.arange(len(rows))
    rating = rows["rating"].to_numpy()
    lower = rating - rows["ci_lower"].to_numpy()
    upper = rows["ci_upper"].to_numpy() - rating
    # An undefeated (winless) expert's interval is open above (below): draw that side as an arrow.
    open_upper, open_lower = np.isinf(upper), np.isinf(lower)
    axis.errorbar(
        rating,
        y,
        xerr=[np.where(open_lower, 0, lower), np.where(open_upper, 0, upper)],
        fmt="o",
        capsize=4,
    )
    axis.plot(rating[open_upper], y[open_upper], ">", color="C3", markersize=10)
    axis.plot(rating[open_lower], y[open_lower], "<", color="C3", markersize=10)
    axis.set_yticks(y, rows["expert"].to_list())
    axis.set_xlabel("Bradley-Terry rating (Elo scale), 95% bootstrap CI")
    return figure


def win_rate_grid(pair_win_matrix: pl.DataFrame, experts: list[str]) -> np.ndarray:
    """Row model's win rate against column opponent; NaN on the diagonal and for unplayed pairs.

    `pair_win_matrix` has the mart's columns model, opponent, win_rate (both directions).
    """
    position = {expert: index for index, expert in enumerate(experts)}
    grid = np.full((len(experts), len(experts)), np.nan)
    for model, opponent, win_rate in pair_win_matrix.select(
        "model", "opponent", "win_rate"
    ).iter_rows():
        if model in position and opponent in position and win_rate is not None:
            grid[position[model], position[opponent]] = win_rate
    return grid


def win_rate_heatmap_figure(pair_win_matrix: pl.DataFrame, experts: list[str]) -> Figure:
    """Heatmap of `win_rate_grid`, experts in the given order (best first), values printed."""
    grid = win_rate_grid(pair_win_matrix, experts)
    size = 1.2 + 0.7 * len(experts)
    figure, axis = plt.subplots(figsize=(size + 1.2, size))
    image = axis.imshow(np.ma.masked_invalid(grid), cmap="RdBu", vmin=0.0, vmax=1.0)
    axis.set_xticks(range(len(experts)), experts, rotation=45, ha="right")
    axis.set_yticks(range(len(experts)), experts)
    axis.set_xlabel("opponent")
    axis.set_ylabel("model")
    for row, col in np.argwhere(~np.isnan(grid)):
        axis.text(col, row, f"{grid[row, col]:.2f}", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axis, label="win rate (ties left out)")
    return figure
