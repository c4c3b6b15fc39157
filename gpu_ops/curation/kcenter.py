"""KCenterGreedy (farthest-point) selection of a diverse subset of embeddings.

Exact greedy k-center on L2-normalized vectors: each step picks the point farthest from its
nearest selected center. We keep one vector `min_sq` (squared distance of every point to its
nearest center) and update it with one matrix-vector product per pick, using
||x - c||^2 = 2 - 2 x.c for unit vectors. Memory is O(n d + n), never n x n; rows are
processed in chunks so a memory-mapped matrix streams through once per step.

The pick order is a prefix order: a run with a bigger budget returns the smaller run's picks
first, and `already_selected` continues an existing order (how newly mined instructions join
a selection later). Ties go to the lowest row index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from gpu_ops.errors import InputError
from gpu_ops.io_files import read_embeddings, write_table

FirstCenter = Literal["medoid", "random"] | int
_SELECTED = -1.0  # min_sq marker for picked rows: never picked again, ignored by the radius


@dataclass(frozen=True)
class KCenterResult:
    """order[i]: row picked at step i; radius[i]: max distance of any row to its nearest center after step i."""

    order: np.ndarray
    radius: np.ndarray


def resolve_budget(k: int | float, n: int) -> int:
    """An absolute budget: an int in [1, n], or a fraction in (0, 1) of n (rounded up)."""
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)):
        raise InputError(f"budget must be a number, got {k!r}")
    if not math.isfinite(k):
        raise InputError(f"budget must be finite, got {k!r}")
    if n <= 0:
        raise InputError("cannot select from an empty set")
    if 0 < k < 1:
        return max(1, math.ceil(k * n))
    if float(k) != int(k):
        raise InputError(f"budget {k} must be a whole number or a fraction in (0, 1)")
    k = int(k)
    if k <= 0:
        raise InputError(f"budget must be positive, got {k}")
    if k > n:
        raise InputError(f"budget {k} exceeds the {n} available points")
    return k


def normalize_rows(embeddings: np.ndarray) -> np.ndarray:
    """Validated float32 unit rows; NaN/inf or all-zero rows are input errors."""
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(f"embeddings must be a non-empty 2-D matrix, got shape {matrix.shape}")
    matrix = matrix.astype(np.float32, copy=False)
    # Row norms without an n x d temporary (np.linalg.norm squares a copy of the matrix).
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    suspect = np.flatnonzero(~np.isfinite(norms))
    bad = suspect[~np.isfinite(matrix[suspect]).all(axis=1)]
    if bad.size:
        raise InputError(
            f"{bad.size} embedding rows contain NaN or inf (first rows: {bad[:5].tolist()})"
        )
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InputError(
            f"{zero.size} embedding rows are all zeros (first rows: {zero[:5].tolist()})"
        )
    if suspect.size == 0 and np.allclose(norms, 1.0, atol=1e-4):
        return matrix
    with np.errstate(over="ignore", invalid="ignore"):
        unit = matrix / norms[:, None]
    if suspect.size:  # finite rows whose squared norm overflows float32: normalize in float64
        wide = matrix[suspect].astype(np.float64)
        unit[suspect] = wide / np.linalg.norm(wide, axis=1, keepdims=True)
    return unit


def _first_center(matrix: np.ndarray, first_center: FirstCenter, seed: int) -> int:
    n = matrix.shape[0]
    if first_center == "medoid":
        # Closest to the mean: for unit rows ||x - m||^2 = 1 - 2 x.m + ||m||^2.
        return int(np.argmax(matrix @ matrix.mean(axis=0)))
    if first_center == "random":
        if seed < 0:
            raise InputError(f"seed must be >= 0, got {seed}")
        return int(np.random.default_rng(seed).integers(n))
    if isinstance(first_center, (int, np.integer)) and not isinstance(first_center, bool):
        if not 0 <= first_center < n:
            raise InputError(f"first_center {first_center} is not a row index in [0, {n})")
        return int(first_center)
    raise InputError(
        f"first_center must be 'medoid', 'random' or a row index, got {first_center!r}"
    )


def _prefix(already_selected: Sequence[int], n: int, k: int) -> list[int]:
    prefix = [int(i) for i in already_selected]
    if len(prefix) > k:
        raise InputError(f"{len(prefix)} rows already selected, more than the budget {k}")
    if len(set(prefix)) != len(prefix):
        raise InputError("already_selected has repeated rows")
    if any(not 0 <= i < n for i in prefix):
        raise InputError(f"already_selected holds rows outside [0, {n})")
    return prefix


def kcenter_greedy(
    embeddings: np.ndarray,
    k: int | float,
    *,
    first_center: FirstCenter = "medoid",
    seed: int = 0,
    already_selected: Sequence[int] = (),
    chunk_size: int | None = None,
    device: str = "cpu",
) -> KCenterResult:
    """Greedy k-center pick order of `k` rows (an int, or a fraction of n).

    first_center: "medoid" (row closest to the mean, deterministic), "random" (seeded) or a row
    index; ignored when `already_selected` is given, whose rows become the first picks in order.
    device: "cpu" runs numpy; "auto" uses CUDA when present; any other torch device ("cuda",
    "cuda:1", "cpu-torch" for torch on CPU) runs the torch path.
    """
    matrix = normalize_rows(embeddings)
    n = matrix.shape[0]
    k = resolve_budget(k, n)
    prefix = _prefix(already_selected, n, k)
    if not prefix:
        prefix = [_first_center(matrix, first_center, seed)]
    if chunk_size is not None and chunk_size < 1:
        raise InputError(f"chunk_size must be positive, got {chunk_size}")
    chunk = chunk_size or n
    torch_device = _torch_device(device)
    if torch_device is None:
        order, radius_sq = _greedy_numpy(matrix, k, prefix, chunk)
    else:
        order, radius_sq = _greedy_torch(matrix, k, prefix, chunk, torch_device)
    return KCenterResult(order=order, radius=np.sqrt(np.maximum(radius_sq, 0.0)))


def _torch_device(device: str) -> str | None:
    if device == "cpu":
        return None
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else None
    return "cpu" if device == "cpu-torch" else device


def _greedy_numpy(
    matrix: np.ndarray, k: int, prefix: list[int], chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    n = matrix.shape[0]
    min_sq = np.full(n, np.inf, dtype=np.float32)
    order = np.empty(k, dtype=np.int64)
    radius_sq = np.empty(k, dtype=np.float64)
    scratch = np.empty(min(chunk, n), dtype=np.float32)
    for step in range(k):
        pick = prefix[step] if step < len(prefix) else int(np.argmax(min_sq))
        center = matrix[pick]
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            dist = scratch[: stop - start]
            np.dot(matrix[start:stop], center, out=dist)
            dist *= -2.0
            dist += 2.0
            np.minimum(min_sq[start:stop], dist, out=min_sq[start:stop])
        min_sq[pick] = _SELECTED  # stays the minimum, so picked rows never come back
        order[step] = pick
        radius_sq[step] = max(float(min_sq.max()), 0.0)
    return order, radius_sq


def _greedy_torch(
    matrix: np.ndarray, k: int, prefix: list[int], chunk: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.inference_mode():
        data = torch.from_numpy(matrix).to(device)
        n = data.shape[0]
        min_sq = torch.full((n,), float("inf"), dtype=torch.float32, device=device)
        order = torch.empty(k, dtype=torch.int64, device=device)
        radius_sq = torch.empty(k, dtype=torch.float32, device=device)
        for step in range(k):
            pick = (
                torch.tensor(prefix[step], device=device)
                if step < len(prefix)
                else torch.argmax(min_sq)
            )
            center = data[pick]
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                dist = torch.mv(data[start:stop], center).mul_(-2.0).add_(2.0)
                torch.minimum(min_sq[start:stop], dist, out=min_sq[start:stop])
            order[step] = pick
            min_sq[pick] = _SELECTED
            radius_sq[step] = min_sq.max().clamp_min(0.0)
        return order.cpu().numpy(), radius_sq.double().cpu().numpy()


def select_file(
    emb_path: str | Path,
    k: int | float,
    out_path: str | Path,
    *,
    column: str | None = None,
    first_center: FirstCenter = "medoid",
    seed: int = 0,
    device: str = "cpu",
) -> Path:
    """Select from an .npy/.parquet embedding file; write row_index, selection_rank, coverage_radius."""
    result = kcenter_greedy(
        read_embeddings(emb_path, column=column),
        k,
        first_center=first_center,
        seed=seed,
        device=device,
    )
    frame = pl.DataFrame(
        {
            "row_index": result.order,
            "selection_rank": np.arange(len(result.order), dtype=np.int64),
            "coverage_radius": result.radius,
        }
    )
    return write_table(frame, out_path)
