"""Exact and MinHash-LSH near-duplicate detection for instructions.

The paper's setting: word-level tokens, 128 permutations, Jaccard threshold 0.5.

This module is the only implementation of these rules: the pipeline's dedup stage writes
`find_duplicate_groups`'s result as the lake table `instruction_survivors` (`survivors_table`),
and dbt's dedup marts only read it. Definitions:

* normalized text: NFKC, lower case, runs of whitespace collapsed to one space, stripped.
* exact duplicates: equal `exact_hash` (blake2b of the normalized text).
* tokens: runs of word characters (regex ``\\w+``) of the normalized text; a shingle is
  `shingle_size` consecutive tokens joined by one space (a text with fewer tokens than
  `shingle_size` is one shingle). A text without tokens has the sentinel signature
  (all slots 2**32-1) and no band hashes: it only ever groups as an exact duplicate.
* signature: rensa RMinHash over the set of shingles (`num_perm` uint32 slots, fixed seed);
  stable for a given rensa `RMinHash.ALGORITHM_VERSION` (see `signature_scheme`).
* band hash: a 64-bit hash of (band index, the band's `rows_per_band` signature slots).
* candidate pair: two texts sharing at least one band hash (same band index).
* confirmed pair: a candidate whose estimated Jaccard (fraction of equal signature slots)
  is >= threshold.
* group: a connected component of the graph whose edges are confirmed pairs plus exact
  duplicates (each row linked to the first row of its text in survivor order). Its survivor is
  the member that comes first in survivor order: the smallest id.
* generations (`priority`, the pipeline passes the miner's joined_generation; all 0 by default):
  the pool grows by generations and an earlier generation's outcome never changes. A row with an
  edge to any row of an earlier generation is dropped; the remaining rows of one generation
  form groups among themselves (edges inside the generation only), each keeping its smallest
  id. A row dropped for an earlier neighbour maps to the first survivor, in (priority, id)
  order, of its connected component in the whole graph. With one generation this is exactly
  the component rule above. The result does not depend on row order.
"""

from __future__ import annotations

import array
import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl
import rensa

from gpu_ops.errors import InputError
from gpu_ops.io_files import read_text_table, write_table

DEFAULT_SEED = 42
DEFAULT_THRESHOLD = 0.5
DEFAULT_NUM_PERM = 128
EMPTY_SLOT = np.uint32(2**32 - 1)
_TOKEN_PATTERN = r"\w+"
_PAIR_CHUNK = 200_000
_SIGNATURE_CHUNK = 50_000
_UINT32_CODE = next(code for code in "IL" if array.array(code).itemsize == 4)


def _transform_where(series: pl.Series, mask: pl.Series, transform) -> pl.Series:
    """`transform` applied to the rows where `mask` holds, the other rows unchanged."""
    if not mask.any():
        return series
    if mask.all():
        return transform(series)
    return series.scatter(mask.arg_true(), transform(series.filter(mask)))


def normalized_texts(texts: Sequence[str]) -> pl.Series:
    """Vectorized `normalize_text`: NFKC, lower case, whitespace runs -> one space, stripped.

    Each step runs only on the rows it can change (NFKC leaves ASCII as it is; a row with
    single spaces between words and none at its ends has nothing to collapse), with the
    same result as running it on every row.
    """
    series = pl.Series("text", list(texts), dtype=pl.String).fill_null("")
    series = _transform_where(
        series, series.str.contains(r"[^\x00-\x7f]"), lambda s: s.str.normalize("NFKC")
    )
    series = series.str.to_lowercase()
    return _transform_where(
        series,
        series.str.contains(r"\s\s|[^\S ]|^ | $"),
        lambda s: s.str.replace_all(r"\s+", " ").str.strip_chars(" "),
    )


def normalize_text(text: str) -> str:
    """NFKC, lower case, whitespace runs collapsed to one space, stripped (one definition: polars)."""
    return normalized_texts([text]).item()


def exact_hashes(texts: Sequence[str]) -> list[str]:
    """Hex blake2b-128 of each normalized text: equal for texts that differ only in case/spacing."""
    return [
        hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
        for text in normalized_texts(texts).to_list()
    ]


def exact_hash(text: str) -> str:
    """`exact_hashes` for one text."""
    return exact_hashes([text])[0]


def shingle_lists(texts: Sequence[str], *, shingle_size: int = 1) -> pl.Series:
    """The shingles of each text as a list column (tokenization done by polars, no Python loop)."""
    return _shingles(normalized_texts(texts), shingle_size)


def _tokens(normalized: pl.Series) -> pl.Series:
    """The ``\\w+`` runs of normalized texts. A row of lower-case ASCII words and single spaces
    (the common case) is split on its spaces, which gives the same tokens faster."""
    irregular = normalized.str.contains(r"[^a-z0-9_ ]") | (normalized.str.len_bytes() == 0)
    if not irregular.any():
        return normalized.str.split(" ")
    frame = pl.DataFrame({"row": np.arange(normalized.len()), "text": normalized})
    simple = frame.filter(~irregular).select("row", tokens=pl.col("text").str.split(" "))
    other = frame.filter(irregular).select(
        "row", tokens=pl.col("text").str.extract_all(_TOKEN_PATTERN)
    )
    return pl.concat([simple, other]).sort("row").get_column("tokens")


def _shingles(normalized: pl.Series, shingle_size: int) -> pl.Series:
    if shingle_size < 1:
        raise InputError(f"shingle_size must be >= 1, got {shingle_size}")
    tokens = _tokens(normalized)
    if shingle_size == 1:
        return tokens.alias("shingles")
    frame = pl.DataFrame({"doc": np.arange(len(tokens)), "tok": tokens}).explode("tok")
    frame = frame.with_columns(
        pos=pl.int_range(pl.len(), dtype=pl.Int64).over("doc"),
        n=pl.col("tok").count().over("doc").cast(pl.Int64),
    )
    parts = [pl.col("tok").shift(-j).over("doc") for j in range(shingle_size)]
    shingles = (
        frame.with_columns(shingle=pl.concat_str(parts, separator=" ", ignore_nulls=True))
        .with_columns(
            shingle=pl.when(pl.col("pos") <= (pl.col("n") - shingle_size).clip(lower_bound=0))
            .then(pl.col("shingle"))
            .otherwise(None)
        )
        .filter(pl.col("shingle").is_not_null() & pl.col("tok").is_not_null())
        .group_by("doc")
        .agg(pl.col("shingle").sort_by("pos"))
    )
    every_doc = pl.DataFrame({"doc": np.arange(len(tokens))})
    joined = every_doc.join(shingles, on="doc", how="left", maintain_order="left")
    return joined.get_column("shingle").fill_null([]).alias("shingles")


def _token_hashes(shingles: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 shingle hashes plus row offsets; each distinct shingle is hashed once by rensa."""
    lengths = shingles.list.len().fill_null(0).to_numpy().astype(np.uint64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    flat = shingles.explode().drop_nulls()
    if flat.len() == 0:
        return np.zeros(0, dtype=np.uint64), offsets
    vocab = flat.unique(maintain_order=True)
    vocab_hashes = pl.Series(rensa.RMinHash.hash_token_sets([vocab.to_list()])[0], dtype=pl.UInt64)
    hashes = flat.replace_strict(vocab, vocab_hashes, return_dtype=pl.UInt64)
    return hashes.to_numpy(), offsets


def signature_scheme(
    num_perm: int = DEFAULT_NUM_PERM, shingle_size: int = 1, seed: int = DEFAULT_SEED
) -> str:
    """A label that changes whenever signatures would: store it beside signatures to detect stale ones."""
    version = rensa.RMinHash.ALGORITHM_VERSION
    return f"rensa-rminhash-v{version}:perm{num_perm}:shingle{shingle_size}:seed{seed}"


def minhash_signatures(
    texts: Sequence[str],
    *,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle_size: int = 1,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """MinHash signatures, uint32 (n, num_perm); equal to rensa.RMinHash over each text's shingle set."""
    return _signatures_of_normalized(normalized_texts(texts), num_perm, shingle_size, seed)


def _signatures(normalized: pl.Series, num_perm: int, shingle_size: int, seed: int) -> np.ndarray:
    """`minhash_signatures` of texts already normalized (one chunk)."""
    hashes, offsets = _token_hashes(_shingles(normalized, shingle_size))
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, seed)
    # rensa hands the matrix over as Python lists; packing them through array.array is about
    # 2.5x faster than np.array(rows) (no per-element dtype checks).
    flat = array.array(_UINT32_CODE, itertools.chain.from_iterable(matrix.to_rows()))
    return np.frombuffer(flat, dtype=np.uint32).reshape(normalized.len(), num_perm)


def _signatures_of_normalized(
    normalized: pl.Series, num_perm: int, shingle_size: int, seed: int
) -> np.ndarray:
    if num_perm < 1:
        raise InputError(f"num_perm must be >= 1, got {num_perm}")
    out = np.empty((normalized.len(), num_perm), dtype=np.uint32)
    for start in range(0, normalized.len(), _SIGNATURE_CHUNK):
        chunk = normalized.slice(start, _SIGNATURE_CHUNK)
        out[start : start + chunk.len()] = _signatures(chunk, num_perm, shingle_size, seed)
    return out


def _lsh_error(threshold: float, bands: int, rows: int) -> float:
    """Equal-weight false positive + false negative area of the LSH S-curve (datasketch's criterion)."""
    grid_fp = np.linspace(0.0, threshold, 1001)
    grid_fn = np.linspace(threshold, 1.0, 1001)
    false_positive = np.trapezoid(1 - (1 - grid_fp**rows) ** bands, grid_fp)
    false_negative = np.trapezoid((1 - grid_fn**rows) ** bands, grid_fn)
    return 0.5 * false_positive + 0.5 * false_negative


@lru_cache(maxsize=64)
def optimal_lsh_params(
    threshold: float = DEFAULT_THRESHOLD, num_perm: int = DEFAULT_NUM_PERM
) -> tuple[int, int]:
    """(num_bands, rows_per_band) with bands*rows <= num_perm minimizing FP+FN area (0.5/0.5 weights)."""
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 1:
        raise InputError(f"num_perm must be >= 1, got {num_perm}")
    best = (float("inf"), (1, 1))
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = _lsh_error(threshold, bands, rows)
            if error < best[0]:
                best = (error, (bands, rows))
    return best[1]


_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX_1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX_2
    return x ^ (x >> np.uint64(31))


def _splitmix_in_place(x: np.ndarray, scratch: np.ndarray) -> None:
    """`x = _splitmix(x)` without temporaries (`scratch`: an array of x's shape)."""
    for shift, multiplier in ((30, _MIX_1), (27, _MIX_2)):
        np.right_shift(x, np.uint64(shift), out=scratch)
        x ^= scratch
        x *= multiplier
    np.right_shift(x, np.uint64(31), out=scratch)
    x ^= scratch


def lsh_band_hashes(signatures: np.ndarray, *, num_bands: int, rows_per_band: int) -> np.ndarray:
    """uint64 (n, num_bands): band b hashes (b, signature[:, b*r:(b+1)*r]) with splitmix64 chaining."""
    signatures = np.asarray(signatures)
    if signatures.ndim != 2:
        raise InputError(f"signatures must be 2-D, got shape {signatures.shape}")
    if num_bands < 1 or rows_per_band < 1 or num_bands * rows_per_band > signatures.shape[1]:
        raise InputError(
            f"{num_bands} bands x {rows_per_band} rows do not fit {signatures.shape[1]} signature slots"
        )
    n = signatures.shape[0]
    with np.errstate(over="ignore"):
        state = np.empty((n, num_bands), dtype=np.uint64)
        state[:] = _splitmix(np.arange(num_bands, dtype=np.uint64) + _GOLDEN)
        shifted = np.empty_like(state)
        for column in range(rows_per_band):
            # slot `column` of every band: columns column, column + r, column + 2r, ...
            slots = signatures[:, column : num_bands * rows_per_band : rows_per_band]
            np.add(slots, _GOLDEN, out=shifted, dtype=np.uint64)
            state ^= shifted
            _splitmix_in_place(state, shifted)
    return state


def _pairs_within_runs(sorted_keys: np.ndarray, sorted_rows: np.ndarray) -> np.ndarray:
    """Every pair of rows whose keys are equal (keys sorted), as (min, max) rows."""
    size = sorted_keys.size
    new_run = np.ones(size, dtype=bool)
    new_run[1:] = sorted_keys[1:] != sorted_keys[:-1]
    run_end = np.append(np.flatnonzero(new_run)[1:], size)[np.cumsum(new_run) - 1]
    partners = run_end - np.arange(size) - 1
    total = int(partners.sum())
    if total == 0:
        return np.zeros((0, 2), dtype=np.int64)
    left = np.repeat(np.arange(size), partners)
    first_pair_of_left = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(total) - first_pair_of_left)
    a, b = sorted_rows[left], sorted_rows[right]
    return np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)


def candidate_pairs(band_hashes: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """All (i, j), i < j, of active rows sharing a band hash in the same band.

    int64 (m, 2), sorted and unique. Cost grows with the square of a bucket's size.
    """
    n, num_bands = band_hashes.shape
    rows = np.arange(n, dtype=np.int64) if active is None else np.flatnonzero(active)
    found = [np.zeros((0, 2), dtype=np.int64)]
    if rows.size >= 2:
        for band in range(num_bands):
            keys = band_hashes[rows, band]
            order = np.argsort(keys)
            found.append(_pairs_within_runs(keys[order], rows[order]))
    return np.unique(np.concatenate(found), axis=0)


def estimated_jaccard(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Fraction of equal signature slots for each (i, j) row pair, float64 (m,)."""
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), _PAIR_CHUNK):
        chunk = pairs[start : start + _PAIR_CHUNK]
        out[start : start + len(chunk)] = (signatures[chunk[:, 0]] == signatures[chunk[:, 1]]).mean(
            axis=1
        )
    return out


def survivor_ranks(ids: pl.Series, priority: Sequence[int] | None) -> np.ndarray:
    """Each row's 0-based position in survivor order: by (priority, id), priority absent = 0."""
    order = pl.DataFrame(
        {"id": ids, "priority": priority if priority is not None else [0] * ids.len()},
        schema_overrides={"priority": pl.Int64},
    ).with_row_index("row")
    ranked = order.sort(["priority", "id"]).with_row_index("rank").sort("row")
    return ranked["rank"].to_numpy().astype(np.int64)


def _component_labels(edges: np.ndarray, n: int) -> np.ndarray:
    """A label per row, equal for rows of one connected component (the smallest row in it).

    Hook and compress in numpy: each round links every edge's two roots to the smaller one,
    then points every row at its root. Written here rather than scipy.sparse.csgraph because
    importing scipy.sparse costs ~0.4 s, a sixth of a whole `warriorcoder dedup` run on 75k rows.
    """
    label = np.arange(n, dtype=np.int64)
    left, right = edges[:, 0], edges[:, 1]
    while True:
        while True:  # compress: every row points at its root
            root = label[label]
            if np.array_equal(root, label):
                break
            label = root
        low, high = label[left], label[right]
        split = low != high
        if not split.any():
            return label
        low, high = np.minimum(low[split], high[split]), np.maximum(low[split], high[split])
        np.minimum.at(label, high, low)  # hook: the larger root joins the smaller


def _first_by_rank(labels: np.ndarray, rank: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """For each row, the eligible row of lowest rank sharing its label (-1 if there is none)."""
    n = len(labels)
    lowest = np.full(labels.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(lowest, labels[eligible], rank[eligible])
    row_of_rank = np.argsort(rank)
    found = lowest[labels]
    return np.where(found < n, row_of_rank[np.minimum(found, n - 1)], -1)


def survivors_by_generation(
    edges: np.ndarray, generation: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """Each row's survivor row under the generation rule of the module docstring.

    edges: (m, 2) row pairs that are duplicates; rank: position in (generation, id) order.
    """
    n = len(rank)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    source, target = edges[:, 0], edges[:, 1]
    dropped_early = np.zeros(n, dtype=bool)
    dropped_early[source[generation[target] < generation[source]]] = True
    dropped_early[target[generation[source] < generation[target]]] = True
    inside = (generation[source] == generation[target]) & ~dropped_early[source]
    inside &= ~dropped_early[target]
    within = _first_by_rank(_component_labels(edges[inside], n), rank, ~dropped_early)
    survivor_row = np.where(dropped_early, -1, within)
    is_survivor = survivor_row == np.arange(n)
    first_survivor = _first_by_rank(_component_labels(edges, n), rank, is_survivor)
    return np.where(dropped_early, first_survivor, survivor_row)


def find_duplicate_groups(
    ids: Sequence | pl.Series,
    texts: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle_size: int = 1,
    seed: int = DEFAULT_SEED,
    signatures: np.ndarray | None = None,
    priority: Sequence[int] | None = None,
) -> pl.DataFrame:
    """One row per input: id, survivor_id, reason ('survivor'|'exact'|'near'), estimated_jaccard.

    See the module docstring for the exact definitions; `priority` is each row's generation
    (lower = earlier; a later generation never displaces an earlier survivor). `reason` is
    'exact' when the row's normalized text equals its survivor's, 'near' otherwise (a 'near' row
    may sit below the threshold against the survivor itself when it joined through another
    member).
    `estimated_jaccard` is between the row and its survivor. Precomputed `signatures` skip hashing.
    """
    ids = pl.Series("id", ids)
    if ids.len() != len(texts):
        raise InputError(f"{ids.len()} ids for {len(texts)} texts")
    if ids.null_count() or ids.n_unique() != ids.len():
        raise InputError("ids must be unique and non-null")
    n = len(texts)
    if priority is not None and len(priority) != n:
        raise InputError(f"{len(priority)} priorities for {n} texts")
    if n == 0:
        return pl.DataFrame(
            {"id": ids, "survivor_id": ids, "reason": [], "estimated_jaccard": []},
            schema_overrides={"reason": pl.String, "estimated_jaccard": pl.Float64},
        )
    exact = normalized_texts(texts)  # once: the exact key and the source of the shingles
    if signatures is None:
        signatures = _signatures_of_normalized(exact, num_perm, shingle_size, seed)
    rank = survivor_ranks(ids, priority)  # 0 = the row that survives first

    # Exact duplicates (equal normalized text, i.e. equal exact_hash): link each row to the
    # lowest-ranked row with the same text.
    by_text = pl.DataFrame({"row": np.arange(n), "text": exact, "rank": rank})
    rep = by_text.select(pl.col("row").sort_by("rank").first().over("text")).to_series().to_numpy()
    exact_edges = np.stack([np.arange(n), rep], axis=1)[rep != np.arange(n)]

    # Near duplicates among exact representatives that have tokens.
    bands, rows_per_band = optimal_lsh_params(threshold, signatures.shape[1])
    has_tokens = ~(signatures == EMPTY_SLOT).all(axis=1)
    active = (rep == np.arange(n)) & has_tokens
    pairs = candidate_pairs(
        lsh_band_hashes(signatures, num_bands=bands, rows_per_band=rows_per_band), active
    )
    confirmed = pairs[estimated_jaccard(signatures, pairs) >= threshold]

    edges = np.concatenate([exact_edges, confirmed]).astype(np.int64)
    generation = (
        np.zeros(n, dtype=np.int64) if priority is None else np.asarray(priority, dtype=np.int64)
    )
    survivor_row = survivors_by_generation(edges, generation, rank)

    jaccard = np.ones(n, dtype=np.float64)
    dropped = np.flatnonzero(survivor_row != np.arange(n))
    jaccard[dropped] = estimated_jaccard(
        signatures, np.stack([dropped, survivor_row[dropped]], axis=1)
    )
    same_text = (exact == exact.gather(survivor_row)).to_numpy()
    reason = np.where(
        survivor_row == np.arange(n), "survivor", np.where(same_text, "exact", "near")
    )
    return pl.DataFrame(
        {
            "id": ids,
            "survivor_id": ids.gather(survivor_row),
            "reason": reason,
            "estimated_jaccard": jaccard,
        }
    )


def survivors_table(
    ids: Sequence | pl.Series,
    texts: Sequence[str],
    generations: Sequence[int],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle_size: int = 1,
    seed: int = DEFAULT_SEED,
) -> pl.DataFrame:
    """The pipeline's `instruction_survivors` lake table: `find_duplicate_groups` with each
    instruction's generation as its priority.

    One row per instruction: instruction_id, survivor_id (itself when it survives), reason
    ('survivor', 'exact', 'near'), estimated_jaccard (to its survivor) and generation. dbt's
    dedup marts read it; they never regroup.
    """
    groups = find_duplicate_groups(
        ids,
        texts,
        threshold=threshold,
        num_perm=num_perm,
        shingle_size=shingle_size,
        seed=seed,
        priority=generations,
    )
    return groups.rename({"id": "instruction_id"}).with_columns(
        generation=pl.Series(list(generations), dtype=pl.Int64)
    )


@dataclass(frozen=True)
class DedupReport:
    """What `dedup_file` did."""

    input_rows: int
    kept_rows: int
    exact_dropped: int
    near_dropped: int
    out_path: Path
    mapping_path: Path
    seconds: float


def mapping_path_for(out_path: str | Path) -> Path:
    """`<out stem>.duplicate_of.parquet` beside the output file."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.duplicate_of.parquet")


def dedup_file(
    input_path: str | Path,
    *,
    text_field: str,
    out_path: str | Path,
    id_field: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle_size: int = 1,
    seed: int = DEFAULT_SEED,
) -> DedupReport:
    """Deduplicate a user table: survivors to `out_path`, dropped ids to `<stem>.duplicate_of.parquet`.

    Row ids are `id_field` values or the 0-based row index. The mapping has columns
    id, survivor_id, reason ('exact'|'near'), estimated_jaccard.
    """
    started = time.perf_counter()
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must be in (0, 1), got {threshold}")
    table = read_text_table(input_path, text_field=text_field, id_field=id_field)
    groups = find_duplicate_groups(
        table.ids,
        table.texts,
        threshold=threshold,
        num_perm=num_perm,
        shingle_size=shingle_size,
        seed=seed,
    )
    keep = (groups.get_column("reason") == "survivor").to_numpy()
    out_path = write_table(table.frame.filter(pl.Series(keep)), out_path)
    dropped = groups.filter(~pl.Series(keep))
    mapping_path = write_table(dropped, mapping_path_for(out_path))
    reasons = dropped.get_column("reason")
    return DedupReport(
        input_rows=groups.height,
        kept_rows=int(keep.sum()),
        exact_dropped=int((reasons == "exact").sum()),
        near_dropped=int((reasons == "near").sum()),
        out_path=out_path,
        mapping_path=mapping_path,
        seconds=time.perf_counter() - started,
    )
