"""The UI plots: the win-rate grid's layout and the PNGs embedded in asset metadata."""

import base64
import io

import numpy as np
import polars as pl
from PIL import Image

from dagster_wc.metadata import png_image
from dagster_wc.plots import rating_intervals_figure, win_rate_grid, win_rate_heatmap_figure

HEAD_TO_HEAD = pl.DataFrame(
    {
        "model": ["strong", "weak", "strong", "mid", "mid", "weak"],
        "opponent": ["weak", "strong", "mid", "strong", "weak", "mid"],
        "win_rate": [0.9, 0.1, 0.7, 0.3, None, None],
    }
)


def decoded_png(value) -> Image.Image:
    markdown = value.value
    encoded = markdown.split("base64,", 1)[1].rstrip(")")
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


def test_win_rate_grid_rows_are_models_columns_opponents():
    grid = win_rate_grid(HEAD_TO_HEAD, ["strong", "mid", "weak", "absent"])
    assert grid[0, 2] == 0.9 and grid[2, 0] == 0.1  # strong beat weak 90%
    assert grid[0, 1] == 0.7 and grid[1, 0] == 0.3
    assert np.isnan(np.diag(grid)).all()
    assert np.isnan(grid[1, 2]) and np.isnan(grid[2, 1])  # every vote tied: no win rate
    assert np.isnan(grid[3]).all() and np.isnan(grid[:, 3]).all()


def test_heatmap_and_intervals_embed_as_png():
    heatmap = decoded_png(
        png_image(win_rate_heatmap_figure(HEAD_TO_HEAD, ["strong", "mid", "weak"]))
    )
    assert heatmap.format == "PNG" and heatmap.width > 200 and heatmap.height > 200
    ratings = pl.DataFrame(
        {
            "expert": ["strong", "mid", "weak"],
            "rating": [1100.0, 1000.0, 900.0],
            "ci_lower": [1080.0, 980.0, 870.0],
            "ci_upper": [1120.0, 1030.0, 920.0],
        }
    )
    intervals = decoded_png(png_image(rating_intervals_figure(ratings)))
    assert intervals.format == "PNG" and intervals.width > 200


def test_intervals_with_open_bounds_still_render():
    """An undefeated (winless) expert's interval is infinite above (below): drawn as an arrow."""
    ratings = pl.DataFrame(
        {
            "expert": ["champ", "mid", "last"],
            "rating": [1400.0, 1000.0, 600.0],
            "ci_lower": [1300.0, 980.0, float("-inf")],
            "ci_upper": [float("inf"), 1030.0, 700.0],
        }
    )
    intervals = decoded_png(png_image(rating_intervals_figure(ratings)))
    assert intervals.format == "PNG" and intervals.width > 200
