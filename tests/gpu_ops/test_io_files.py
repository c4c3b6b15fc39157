"""Reading users' files: every format, and a clear InputError for each way a file can be wrong."""

import numpy as np
import polars as pl
import pytest

from gpu_ops.errors import InputError
from gpu_ops.io_files import read_embeddings, read_table, read_text_table, write_npy, write_table

FRAME = pl.DataFrame({"key": ["a", "b"], "text": ["hello", None]})


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".csv"])
def test_table_round_trip(tmp_path, suffix):
    path = write_table(FRAME, tmp_path / f"t{suffix}")
    assert read_table(path).equals(FRAME)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_text_table_ids_and_null_texts(tmp_path):
    path = write_table(FRAME, tmp_path / "t.parquet")
    by_index = read_text_table(path, text_field="text")
    assert by_index.ids.to_list() == [0, 1] and by_index.texts == ["hello", ""]
    by_key = read_text_table(path, text_field="text", id_field="key")
    assert by_key.ids.to_list() == ["a", "b"]


def test_text_table_errors(tmp_path):
    path = write_table(FRAME, tmp_path / "t.parquet")
    with pytest.raises(InputError, match="no text field 'body'; fields are key, text"):
        read_text_table(path, text_field="body")
    with pytest.raises(InputError, match="no id field 'uid'"):
        read_text_table(path, text_field="text", id_field="uid")
    dupes = write_table(pl.DataFrame({"key": [1, 1], "text": ["x", "y"]}), tmp_path / "d.csv")
    with pytest.raises(InputError, match="duplicate"):
        read_text_table(dupes, text_field="text", id_field="key")
    numbers = write_table(pl.DataFrame({"text": [1, 2]}), tmp_path / "n.csv")
    with pytest.raises(InputError, match="expected strings"):
        read_text_table(numbers, text_field="text")


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(InputError, match=r"unsupported file type '\.txt'"):
        read_table(tmp_path / "t.txt")
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(InputError, match="file is empty"):
        read_table(tmp_path / "e.jsonl")
    (tmp_path / "h.csv").write_text("text\n")
    with pytest.raises(InputError, match="no rows"):
        read_table(tmp_path / "h.csv")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match="cannot read"):
        read_table(tmp_path / "bad.jsonl")
    with pytest.raises(InputError, match="unsupported output"):
        write_table(FRAME, tmp_path / "out.xlsx")


def test_embeddings_from_npy_and_parquet(tmp_path):
    matrix = np.arange(6, dtype=np.float64).reshape(3, 2)
    npy = write_npy(matrix, tmp_path / "m.npy")
    loaded = read_embeddings(npy)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, matrix)
    frame = pl.DataFrame({"id": [1, 2, 3], "vec": matrix.tolist()})
    parquet = write_table(frame, tmp_path / "m.parquet")
    assert np.array_equal(read_embeddings(parquet), matrix)
    assert np.array_equal(read_embeddings(parquet, column="vec"), matrix)


def test_embedding_errors(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(3))
    with pytest.raises(InputError, match="2-D"):
        read_embeddings(tmp_path / "v.npy")
    ragged = write_table(pl.DataFrame({"embedding": [[1.0, 2.0], [1.0]]}), tmp_path / "r.parquet")
    with pytest.raises(InputError, match="different lengths"):
        read_embeddings(ragged)
    two = write_table(pl.DataFrame({"a": [[1.0]], "b": [[2.0]]}), tmp_path / "two.parquet")
    with pytest.raises(InputError, match="cannot tell"):
        read_embeddings(two)
    with pytest.raises(InputError, match="no embedding field 'c'"):
        read_embeddings(two, column="c")
    with pytest.raises(InputError, match=r"\.npy output"):
        write_npy(np.zeros((1, 1)), tmp_path / "m.bin")
