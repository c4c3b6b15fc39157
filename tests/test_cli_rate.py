"""`warriorcoder rate`: FastChat JSON arrays, weights, rating options and record warnings."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from warriorcoder.cli import app

runner = CliRunner()


def battle_rows(n: int = 120, seed: int = 0) -> list[dict]:
    """Three experts with clear strengths; 'champ' never loses (undefeated)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = ["strong", "weak"] if i % 2 else ["weak", "strong"]
        winner = "model_a" if (rng.random() < 0.75) == (a == "strong") else "model_b"
        rows.append({"model_a": a, "model_b": b, "winner": winner, "instruction_id": f"i{i // 4}"})
        if i % 6 == 0:
            rows.append(
                {"model_a": "champ", "model_b": a, "winner": "model_a", "instruction_id": f"c{i}"}
            )
    return rows


def rate(path: Path, *extra: str) -> tuple[list[dict], str]:
    out = path.with_suffix(".out.json")
    result = runner.invoke(app, ["rate", str(path), "--bootstrap", "30", "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output + (result.stderr or "")


def by_key(table: list[dict]) -> dict[tuple[str, str], dict]:
    return {(row["method"], row["expert"]): row for row in table}


def test_help_offers_the_rating_options():
    result = runner.invoke(app, ["rate", "--help"], terminal_width=200)
    for option in ("--k", "--anchor", "--initial", "--scale", "--base", "--bootstrap-unit"):
        assert option in result.output


def test_json_array_is_rated_and_undefeated_is_warned(tmp_path: Path):
    path = tmp_path / "clean_battle.json"
    path.write_text(json.dumps(battle_rows()))
    table, output = rate(path)
    assert {row["expert"] for row in table} == {"champ", "strong", "weak"}
    assert "warning" in output and "'champ' is undefeated" in output
    champ = by_key(table)[("bt", "champ")]
    assert champ["record"] == "undefeated" and champ["ci_upper"] == float("inf")
    assert "bootstrap over instructions" in output.replace("\n", " ")


def test_k_anchor_initial_scale_and_base_change_the_ratings(tmp_path: Path):
    path = tmp_path / "battles.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in battle_rows()))
    default, _ = rate(path)
    small_k, _ = rate(path, "--k", "4")
    elo = lambda table: by_key(table)[("elo", "strong")]["rating_online"]  # noqa: E731
    assert elo(small_k) != pytest.approx(elo(default))
    anchored, _ = rate(path, "--anchor", "weak", "--initial", "1500")
    for method in ("bt", "elo"):
        assert by_key(anchored)[(method, "weak")]["rating"] == pytest.approx(1500)
    # base 2 / scale 100 rescales BT gaps by (100 / ln 2) / (400 / ln 10).
    rescaled, _ = rate(path, "--scale", "100", "--base", "2", "--method", "bt")

    def gap(table):
        return by_key(table)[("bt", "strong")]["rating"] - by_key(table)[("bt", "weak")]["rating"]

    assert gap(rescaled) == pytest.approx(gap(default) * (100 / np.log(2)) / (400 / np.log(10)))


def test_weighted_log_rates_like_its_split_rows(tmp_path: Path):
    rows = battle_rows()
    weights = [1.5 if i % 3 == 0 else 1.0 for i in range(len(rows))]
    whole = [dict(r, weight=w) for r, w in zip(rows, weights, strict=True)]
    split = []
    for row in whole:
        split += [dict(row, weight=0.5)] * 3 if row["weight"] == 1.5 else [row]
    for suffix in (".json", ".csv"):
        whole_path, split_path = tmp_path / f"whole{suffix}", tmp_path / f"split{suffix}"
        if suffix == ".json":
            whole_path.write_text(json.dumps(whole))
            split_path.write_text(json.dumps(split))
        else:
            pl.DataFrame(whole).write_csv(whole_path)
            pl.DataFrame(split).write_csv(split_path)
        got_whole, _ = rate(whole_path)
        got_split, output = rate(split_path, "--merge-split-votes")
        assert got_split == got_whole
        assert "merged" in output
        # Rows are votes unless merging is asked for (#29): 3 x 0.5 are three Elo updates.
        unmerged, output = rate(split_path)
        assert "merged" not in output
        assert by_key(unmerged)[("bt", "strong")]["rating"] == pytest.approx(
            by_key(got_whole)[("bt", "strong")]["rating"]
        )
        assert (
            by_key(unmerged)[("elo", "strong")]["games"]
            > by_key(got_whole)[("elo", "strong")]["games"]
        )
    unweighted, _ = rate(_write(tmp_path, rows))  # the weights matter
    assert by_key(unweighted)[("bt", "strong")]["rating"] != pytest.approx(
        by_key(got_whole)[("bt", "strong")]["rating"]
    )


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--bootstrap-unit", "judge"], "bootstrap-unit"),
        (["--anchor", "nobody"], "anchor expert 'nobody'"),
        (["--base", "1"], "base"),
    ],
)
def test_bad_rating_options_exit_2(tmp_path: Path, args: list[str], fragment: str):
    path = _write(tmp_path, battle_rows(24))
    result = runner.invoke(app, ["rate", str(path), "--bootstrap", "5", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output + (result.stderr or "")


def test_ci_level_and_rank_column(tmp_path: Path):
    path = _write(tmp_path, battle_rows())
    wide, output = rate(path, "--method", "bt")
    narrow, narrow_output = rate(path, "--method", "bt", "--ci", "0.5")
    assert "95% intervals" in output.replace("\n", " ")
    assert "50% intervals" in narrow_output.replace("\n", " ")
    span = lambda t, e: by_key(t)[("bt", e)]["ci_upper"] - by_key(t)[("bt", e)]["ci_lower"]  # noqa: E731
    assert span(narrow, "strong") < span(wide, "strong")
    assert {row["expert"]: row["rank_ci"] for row in wide} == {"champ": 1, "strong": 2, "weak": 3}
    assert all(isinstance(row["games"], int) for row in wide)
    result = runner.invoke(app, ["rate", str(path), "--ci", "95"])
    assert result.exit_code == 2 and "--ci" in result.output + (result.stderr or "")


def test_groups_that_never_met_need_allow_disconnected(tmp_path: Path):
    rows = [
        {"model_a": a, "model_b": b, "winner": w}
        for a, b in (("a", "b"), ("c", "d"))
        for w in ("model_a", "model_b", "tie")
    ]
    path = _write(tmp_path, rows)
    result = runner.invoke(app, ["rate", str(path), "--bootstrap", "5"])
    assert result.exit_code == 2
    assert "{a, b} and {c, d}" in result.output + (result.stderr or "")
    table, output = rate(path, "--allow-disconnected")
    assert {row["expert"] for row in table} == {"a", "b", "c", "d"}
    assert "2 groups of experts never met" in output
