"""MinHash-LSH dedup: planted duplicates found, distinct texts kept, deterministic, clear errors."""

import json
import random

import numpy as np
import polars as pl
import pytest
import rensa

from gpu_ops.curation.dedup import (
    EMPTY_SLOT,
    candidate_pairs,
    dedup_file,
    exact_hash,
    find_duplicate_groups,
    lsh_band_hashes,
    mapping_path_for,
    minhash_signatures,
    normalize_text,
    optimal_lsh_params,
    shingle_lists,
    survivors_table,
)
from gpu_ops.errors import InputError

VOCAB = [f"word{i}" for i in range(2000)]


def random_text(rng: random.Random, length: int = 40) -> str:
    return " ".join(rng.choices(VOCAB, k=length))


def mutate(rng: random.Random, text: str, changes: int) -> str:
    words = text.split()
    for _ in range(changes):
        words[rng.randrange(len(words))] = rng.choice(VOCAB)
    return " ".join(words)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], dict[int, int]]:
    """60 distinct texts plus 20 planted near-duplicates (2 of 40 words changed); copy -> original."""
    rng = random.Random(7)
    texts = [random_text(rng) for _ in range(60)]
    planted = {}
    for original in range(20):
        planted[len(texts)] = original
        texts.append(mutate(rng, texts[original], 2))
    return texts, planted


def test_normalize_and_exact_hash_ignore_case_and_spacing():
    assert normalize_text("  Hello\t\nWORLD  ") == "hello world"
    assert exact_hash("Hello  world") == exact_hash("hello world\n")
    assert exact_hash("hello world") != exact_hash("hello worlds")


def test_shingles_are_word_ngrams():
    assert shingle_lists(["Sort a list, fast!"]).to_list() == [["sort", "a", "list", "fast"]]
    two = shingle_lists(["a b c", "single", ""], shingle_size=2).to_list()
    assert two == [["a b", "b c"], ["single"], []]
    with pytest.raises(InputError):
        shingle_lists(["a"], shingle_size=0)


def test_signatures_equal_rensa_on_token_sets():
    texts = ["Write a Python function", "reverse a linked list in C"]
    signatures = minhash_signatures(texts, num_perm=64, seed=3)
    assert signatures.shape == (2, 64) and signatures.dtype == np.uint32
    for text, row in zip(texts, signatures, strict=True):
        expected = rensa.RMinHash(64, 3)
        expected.update(normalize_text(text).split())
        assert row.tolist() == expected.digest()


def test_empty_text_has_sentinel_signature():
    signatures = minhash_signatures(["", "   ", "!!"])
    assert (signatures == EMPTY_SLOT).all()


def test_optimal_params_match_datasketch():
    datasketch_lsh = pytest.importorskip("datasketch.lsh")
    for threshold in (0.5, 0.8):
        expected = datasketch_lsh._optimal_param(threshold, 128, 0.5, 0.5)
        assert optimal_lsh_params(threshold, 128) == expected
    assert optimal_lsh_params(0.5, 128) == (25, 5)


def test_band_hashes_depend_on_band_and_slots():
    signatures = np.array([[1, 2, 1, 2], [1, 2, 9, 2], [1, 2, 1, 2]], dtype=np.uint32)
    bands = lsh_band_hashes(signatures, num_bands=2, rows_per_band=2)
    assert bands.shape == (3, 2) and bands.dtype == np.uint64
    assert bands[0, 0] != bands[0, 1]  # same slot values, different band
    assert bands[0, 0] == bands[1, 0] and bands[0, 1] != bands[1, 1]
    assert candidate_pairs(bands).tolist() == [[0, 1], [0, 2], [1, 2]]
    with pytest.raises(InputError):
        lsh_band_hashes(signatures, num_bands=3, rows_per_band=2)


def test_planted_near_duplicates_found_and_distinct_texts_kept(corpus):
    texts, planted = corpus
    groups = find_duplicate_groups(list(range(len(texts))), texts)
    survivor = dict(zip(groups["id"], groups["survivor_id"], strict=True))
    for copy, original in planted.items():
        assert survivor[copy] == original
    reasons = dict(zip(groups["id"], groups["reason"], strict=True))
    assert all(reasons[i] == "survivor" for i in range(60))
    assert all(reasons[i] == "near" for i in planted)
    near = groups.filter(pl.col("reason") == "near")
    assert near["estimated_jaccard"].min() >= 0.5


def test_results_identical_across_runs_and_row_orders(corpus):
    texts, _ = corpus
    ids = [f"id{i:03d}" for i in range(len(texts))]
    first = find_duplicate_groups(ids, texts)
    assert first.equals(find_duplicate_groups(ids, texts))
    order = list(reversed(range(len(texts))))
    shuffled = find_duplicate_groups([ids[i] for i in order], [texts[i] for i in order])
    assert shuffled.sort("id").equals(first.sort("id"))


def test_exact_duplicates_and_empty_texts():
    texts = ["Print hello", "print   HELLO", "", "   ", "!!!", "something else entirely"]
    groups = find_duplicate_groups([10, 3, 7, 5, 1, 2], texts)
    rows = {row["id"]: row for row in groups.iter_rows(named=True)}
    assert rows[10]["survivor_id"] == 3 and rows[10]["reason"] == "exact"
    assert rows[3]["reason"] == "survivor"
    assert rows[7]["survivor_id"] == 5 and rows[7]["reason"] == "exact"
    assert rows[1]["reason"] == "survivor"  # no tokens: never a near duplicate of the empty texts
    assert rows[2]["reason"] == "survivor"


def test_survivor_is_the_smallest_id_not_the_first_row():
    rng = random.Random(3)
    base = random_text(rng, 60)
    middle = mutate(rng, base, 4)
    texts = [middle, base, mutate(rng, middle, 4)]
    groups = find_duplicate_groups(["b", "a", "c"], texts, threshold=0.5)
    assert groups["survivor_id"].to_list() == ["a", "a", "a"]


def test_priority_keeps_the_earliest_generation_before_the_smallest_id():
    """A newcomer's instruction (priority 1) never displaces an earlier one, exact or near."""
    rng = random.Random(3)
    base = random_text(rng, 60)
    middle = mutate(rng, base, 4)
    texts = [middle, base, mutate(rng, middle, 4), "Print hello", "print  HELLO"]
    ids = ["b", "a", "c", "d", "e"]
    groups = find_duplicate_groups(ids, texts, threshold=0.5, priority=[0, 1, 0, 1, 0])
    survivors = dict(zip(groups["id"], groups["survivor_id"], strict=True))
    assert survivors == {"a": "b", "b": "b", "c": "b", "d": "e", "e": "e"}
    reasons = dict(zip(groups["id"], groups["reason"], strict=True))
    assert reasons["d"] == "exact" and reasons["e"] == "survivor"
    with pytest.raises(InputError, match="priorities"):
        find_duplicate_groups(ids, texts, priority=[0])


def test_a_later_bridge_never_merges_two_earlier_groups():
    """x (generation 1) is a near duplicate of both a and b (generation 0), which are not
    duplicates of each other: one component, but both earlier survivors stay; x is dropped."""
    words = [f"w{i}" for i in range(60)]
    a, b, x = " ".join(words[:40]), " ".join(words[20:]), " ".join(words[10:50])
    groups = find_duplicate_groups(["x", "a", "b"], [x, a, b], threshold=0.45, priority=[1, 0, 0])
    assert dict(zip(groups["id"], groups["survivor_id"], strict=True)) == {
        "x": "a",
        "a": "a",
        "b": "b",
    }
    # the same rows in one generation collapse to one group, as the component rule says
    flat = find_duplicate_groups(["x", "a", "b"], [x, a, b], threshold=0.45)
    assert set(flat["survivor_id"]) == {"a"}


def naive_groups(ids: list[int], texts: list[str], threshold: float) -> dict[int, int]:
    """The documented definitions, pair by pair: id -> smallest id of its component."""
    signatures = minhash_signatures(texts)
    bands, rows = optimal_lsh_params(threshold, 128)
    band_hashes = lsh_band_hashes(signatures, num_bands=bands, rows_per_band=rows)
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            exact = exact_hash(texts[i]) == exact_hash(texts[j])
            has_tokens = not (signatures[i] == EMPTY_SLOT).all()
            candidate = has_tokens and bool((band_hashes[i] == band_hashes[j]).any())
            confirmed = candidate and (signatures[i] == signatures[j]).mean() >= threshold
            if exact or confirmed:
                parent[find(i)] = find(j)
    members: dict[int, list[int]] = {}
    for i in range(len(texts)):
        members.setdefault(find(i), []).append(ids[i])
    return {ids[i]: min(members[find(i)]) for i in range(len(texts))}


def test_matches_pairwise_definition(corpus):
    texts, _ = corpus
    rng = random.Random(11)
    texts = [*texts[:40], *texts[60:70], "", "  ", texts[3].upper(), mutate(rng, texts[61], 6)]
    ids = rng.sample(range(1000), len(texts))
    groups = find_duplicate_groups(ids, texts, threshold=0.6)
    assert dict(zip(groups["id"], groups["survivor_id"], strict=True)) == naive_groups(
        ids, texts, 0.6
    )


def test_find_duplicate_groups_rejects_bad_ids():
    with pytest.raises(InputError, match="unique"):
        find_duplicate_groups([1, 1], ["a", "b"])
    with pytest.raises(InputError, match="ids for"):
        find_duplicate_groups([1], ["a", "b"])


def test_survivors_table_is_the_lake_table_with_generations_as_priority():
    """The pipeline's lake table: find_duplicate_groups with each row's generation."""
    from gpu_ops.lake_schemas import LAKE_SCHEMAS

    texts = ["Print hello", "print  HELLO", "sort a list of numbers", ""]
    table = survivors_table(["b", "a", "c", "d"], texts, [0, 1, 0, 0])
    assert table.schema == pl.Schema(LAKE_SCHEMAS["instruction_survivors"])
    rows = {row["instruction_id"]: row for row in table.iter_rows(named=True)}
    assert (rows["a"]["survivor_id"], rows["a"]["reason"], rows["a"]["generation"]) == (
        "b",
        "exact",
        1,
    )
    assert rows["b"]["reason"] == rows["c"]["reason"] == rows["d"]["reason"] == "survivor"
    assert survivors_table([], [], []).height == 0


def test_dedup_file_writes_survivors_and_mapping(tmp_path, corpus):
    texts, planted = corpus
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"key": f"k{i:03d}", "text": t}) + "\n" for i, t in enumerate(texts))
    )
    out = tmp_path / "out.parquet"
    report = dedup_file(source, text_field="text", id_field="key", out_path=out, threshold=0.5)
    assert report.input_rows == 80 and report.kept_rows == 60 and report.near_dropped == 20
    kept = pl.read_parquet(out)
    assert kept.columns == ["key", "text"] and kept.height == 60
    mapping = pl.read_parquet(mapping_path_for(out))
    assert mapping_path_for(out).name == "out.duplicate_of.parquet"
    assert dict(zip(mapping["id"], mapping["survivor_id"], strict=True)) == {
        f"k{c:03d}": f"k{o:03d}" for c, o in planted.items()
    }


def test_dedup_file_row_index_ids(tmp_path):
    source = tmp_path / "in.csv"
    pl.DataFrame({"text": ["a b c d", "A  b c d", "e f g h"]}).write_csv(source)
    report = dedup_file(source, text_field="text", out_path=tmp_path / "out.csv")
    mapping = pl.read_parquet(report.mapping_path)
    assert mapping.rows() == [(1, 0, "exact", 1.0)]


def test_dedup_file_bad_input(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "x"}\n')
    with pytest.raises(InputError, match=r"no text field 'text'.*prompt"):
        dedup_file(source, text_field="text", out_path=tmp_path / "o.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        dedup_file(empty, text_field="text", out_path=tmp_path / "o.jsonl")
    with pytest.raises(InputError, match="not found"):
        dedup_file(tmp_path / "missing.jsonl", text_field="text", out_path=tmp_path / "o.jsonl")
    with pytest.raises(InputError, match="threshold"):
        dedup_file(source, text_field="prompt", out_path=tmp_path / "o.jsonl", threshold=1.5)


TRICKY_TEXTS = [
    "plain ascii words only",
    "  Leading and trailing  ",
    "tabs\tand\nnew lines\r\nand  double  spaces",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ and the ﬁ ligature",  # NFKC changes these
    "non\u00a0breaking\u2003spaces",  # NFKC and \s both see them
    "Café naïve ÉCOLE straße",
    "punctuation, code: x[i] = f(y) + 1; # done!",
    "snake_case and digits 123 and under_scores",
    "",
    "   ",
    "ΑΒΓ Ωmega κόσμος",
]


def _reference_normalized(text: str) -> str:
    """The definition, step by step on one text, with no fast path."""
    import re
    import unicodedata

    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip(" ")


def test_fast_paths_give_the_definitions_results():
    """Normalization and tokenization skip rows they cannot change; the results are the
    definition's, row by row, on a mix of rows that take and skip each step."""
    import re

    texts = TRICKY_TEXTS * 3
    normalized = [normalize_text(t) for t in texts]
    assert normalized == [_reference_normalized(t) for t in texts]
    tokens = shingle_lists(texts).to_list()
    assert tokens == [re.findall(r"\w+", n) for n in normalized]
    ascii_only = ["one two three", "four five"]
    assert shingle_lists(ascii_only).to_list() == [["one", "two", "three"], ["four", "five"]]


def test_duplicate_groups_normalize_each_text_once(monkeypatch, corpus):
    """The exact key and the shingles come from one normalization pass (it was two)."""
    import gpu_ops.curation.dedup as dedup

    texts, _ = corpus
    expected = find_duplicate_groups(list(range(len(texts))), texts)
    calls = []
    real = dedup.normalized_texts

    def counting(batch):
        calls.append(len(batch))
        return real(batch)

    monkeypatch.setattr(dedup, "normalized_texts", counting)
    groups = dedup.find_duplicate_groups(list(range(len(texts))), texts)
    assert calls == [len(texts)]
    assert groups.equals(expected)


def test_component_labels_match_a_reference_union_find():
    """Random graphs, chains and stars: rows share a label exactly when they are connected."""
    from gpu_ops.curation.dedup import _component_labels

    def reference(edges, n):
        parent = list(range(n))

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in edges:
            parent[find(a)] = find(b)
        return [find(x) for x in range(n)]

    rng = np.random.default_rng(3)
    cases = [
        (np.array([[i, i + 1] for i in range(49)]), 50),  # a chain
        (np.array([[0, i] for i in range(1, 30)]), 40),  # a star plus isolated rows
        (np.zeros((0, 2), dtype=np.int64), 5),
    ]
    for _ in range(20):
        n = int(rng.integers(2, 300))
        cases.append((rng.integers(0, n, size=(int(rng.integers(0, n)), 2)), n))
    for edges, n in cases:
        labels = _component_labels(np.asarray(edges, dtype=np.int64).reshape(-1, 2), n)
        expected = reference(np.asarray(edges).reshape(-1, 2).tolist(), n)
        same = labels[:, None] == labels[None, :]
        assert (same == (np.array(expected)[:, None] == np.array(expected)[None, :])).all()


def test_dedup_does_not_import_scipy():
    """scipy.sparse costs ~0.4 s of import in every `warriorcoder dedup` process."""
    import subprocess
    import sys

    code = "import sys, gpu_ops.curation.dedup; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_band_hashes_equal_the_splitmix_definition():
    """Band b of a row: state = splitmix64(b + golden), then for each of its slots
    state = splitmix64(state ^ (slot + golden)), all mod 2**64 (the values the lake keeps
    stable), computed here one row at a time in plain Python."""
    mask, golden = 2**64 - 1, 0x9E3779B97F4A7C15

    def splitmix(x: int) -> int:
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & mask
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    rng = np.random.default_rng(5)
    signatures = rng.integers(0, 2**32, size=(6, 20), dtype=np.uint64).astype(np.uint32)
    got = lsh_band_hashes(signatures, num_bands=3, rows_per_band=6)
    for row in range(6):
        for band in range(3):
            state = splitmix((band + golden) & mask)
            for slot in signatures[row, band * 6 : (band + 1) * 6]:
                state = splitmix(state ^ ((int(slot) + golden) & mask))
            assert int(got[row, band]) == state
