"""KCenterGreedy: same picks as a naive reference, prefix property, continuation, errors."""

import numpy as np
import polars as pl
import pytest

from gpu_ops.curation.kcenter import kcenter_greedy, resolve_budget, select_file
from gpu_ops.errors import InputError


def unit_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def naive_kcenter(x: np.ndarray, k: int, first: int) -> tuple[list[int], list[float]]:
    """Textbook farthest-point traversal over the full distance matrix (float64)."""
    x = x.astype(np.float64)
    dist = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    picks = [first]
    radius = [dist[:, picks].min(axis=1).max()]
    while len(picks) < k:
        nearest = dist[:, picks].min(axis=1)
        picks.append(int(np.argmax(nearest)))
        radius.append(dist[:, picks].min(axis=1).max())
    return picks, radius


@pytest.fixture(scope="module")
def points() -> np.ndarray:
    return unit_rows(300, 16)


def test_matches_naive_reference(points):
    mean = points.mean(axis=0)
    medoid = int(np.argmin(np.linalg.norm(points - mean, axis=1)))
    expected, expected_radius = naive_kcenter(points, 40, medoid)
    result = kcenter_greedy(points, 40)
    assert result.order.tolist() == expected
    np.testing.assert_allclose(result.radius, expected_radius, atol=1e-5)


def test_chunked_and_first_center_options(points):
    whole = kcenter_greedy(points, 25, first_center=7)
    chunked = kcenter_greedy(points, 25, first_center=7, chunk_size=37)
    assert whole.order[0] == 7
    assert chunked.order.tolist() == whole.order.tolist()
    assert naive_kcenter(points, 25, 7)[0] == whole.order.tolist()
    random_a = kcenter_greedy(points, 5, first_center="random", seed=4)
    assert (
        random_a.order.tolist()
        == kcenter_greedy(points, 5, first_center="random", seed=4).order.tolist()
    )


def test_prefix_property_and_radius_non_increasing(points):
    small = kcenter_greedy(points, 20)
    large = kcenter_greedy(points, 60)
    assert large.order[:20].tolist() == small.order.tolist()
    assert len(set(large.order.tolist())) == 60
    assert np.all(np.diff(large.radius) <= 1e-6)


def test_continuation_equals_uncontinued_run(points):
    full = kcenter_greedy(points, 50)
    head = kcenter_greedy(points, 15)
    continued = kcenter_greedy(points, 50, already_selected=head.order)
    assert continued.order.tolist() == full.order.tolist()
    np.testing.assert_allclose(continued.radius, full.radius, atol=1e-6)


def test_selecting_everything_covers_every_point_once():
    x = unit_rows(12, 4, seed=1)
    x = np.concatenate([x, x[:3]])  # exact duplicates
    result = kcenter_greedy(x, len(x))
    assert sorted(result.order.tolist()) == list(range(len(x)))
    assert result.radius[-1] == pytest.approx(0.0, abs=1e-3)


def test_torch_path_matches_numpy(points):
    pytest.importorskip("torch")
    numpy_run = kcenter_greedy(points, 30, chunk_size=64)
    torch_run = kcenter_greedy(points, 30, chunk_size=64, device="cpu-torch")
    assert torch_run.order.tolist() == numpy_run.order.tolist()
    np.testing.assert_allclose(torch_run.radius, numpy_run.radius, atol=1e-5)


def test_resolve_budget():
    assert resolve_budget(10, 100) == 10
    assert resolve_budget(0.25, 10) == 3
    assert resolve_budget(0.001, 10) == 1
    assert resolve_budget(5.0, 10) == 5
    for bad in (0, -1, 11, 2.5, "3", True):
        with pytest.raises(InputError):
            resolve_budget(bad, 10)


def test_bad_inputs(points):
    with pytest.raises(InputError, match="exceeds"):
        kcenter_greedy(points, 301)
    with pytest.raises(InputError, match="positive"):
        kcenter_greedy(points, 0)
    with pytest.raises(InputError, match="2-D"):
        kcenter_greedy(points[0], 1)
    nan_rows = points.copy()
    nan_rows[5, 0] = np.nan
    with pytest.raises(InputError, match=r"NaN.*\[5\]"):
        kcenter_greedy(nan_rows, 3)
    with pytest.raises(InputError, match="already selected"):
        kcenter_greedy(points, 2, already_selected=[1, 2, 3])
    with pytest.raises(InputError, match="row index"):
        kcenter_greedy(points, 2, first_center=999)


def test_select_file_from_npy_and_parquet(tmp_path, points):
    npy = tmp_path / "emb.npy"
    np.save(npy, points)
    out = select_file(npy, 0.1, tmp_path / "sel.parquet")
    table = pl.read_parquet(out)
    assert table.columns == ["row_index", "selection_rank", "coverage_radius"]
    assert table.height == 30
    assert table["row_index"].to_list() == kcenter_greedy(points, 30).order.tolist()
    parquet = tmp_path / "emb.parquet"
    pl.DataFrame({"id": range(len(points)), "embedding": points.tolist()}).write_parquet(parquet)
    again = pl.read_parquet(select_file(parquet, 30, tmp_path / "sel2.parquet"))
    assert again["row_index"].to_list() == table["row_index"].to_list()
    with pytest.raises(InputError, match="which column holds the embeddings"):
        select_file(tmp_path / "sel.parquet", 3, tmp_path / "x.parquet")
    with pytest.raises(InputError, match="unsupported output"):
        select_file(npy, 3, tmp_path / "x.txt")


def test_normalize_rows_handles_huge_finite_rows():
    from gpu_ops.curation.kcenter import normalize_rows

    matrix = np.array([[3e30, 4e30], [3.0, 4.0]], dtype=np.float32)  # 1e61 overflows float32
    unit = normalize_rows(matrix)
    assert np.allclose(unit, [[0.6, 0.8], [0.6, 0.8]])
    assert unit.dtype == np.float32
