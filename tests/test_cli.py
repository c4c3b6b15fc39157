"""The `warriorcoder` CLI: every command has --help; standalone stages work on plain files;
bad input exits with code 2 and one message naming the problem."""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from warriorcoder.cli import app

runner = CliRunner()
COMMANDS = [
    "run",
    "add-expert",
    "leaderboard",
    "sql",
    "export-sft",
    "export-preferences",
    "dedup",
    "embed",
    "select",
    "rate",
    "eval",
    "prepare-benchmarks",
    "build-demo-experts",
    "demo-sweep",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_dedup_file(tmp_path):
    rows = [
        {
            "instruction": "Write a function that reverses a linked list in place and returns the new head"
        },
        {
            "instruction": "Write a function that reverses a linked list in place and returns the new head node"
        },
        {
            "instruction": "Explain the difference between a process and a thread in operating systems"
        },
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["dedup", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height == 2
    mapping = pl.read_parquet(tmp_path / "out.duplicate_of.parquet")
    assert mapping.height == 1


def test_select_and_rate(tmp_path):
    rng = np.random.default_rng(0)
    embeddings = tmp_path / "emb.npy"
    np.save(embeddings, rng.normal(size=(50, 8)).astype(np.float32))
    order = tmp_path / "order.parquet"
    result = runner.invoke(app, ["select", str(embeddings), "-k", "5", "--out", str(order)])
    assert result.exit_code == 0, result.output
    picked = pl.read_parquet(order)
    assert picked["selection_rank"].to_list() == [0, 1, 2, 3, 4]

    battles = tmp_path / "battles.csv"
    lines = (
        ["model_a,model_b,winner"]
        + ["strong,weak,model_a"] * 30
        + ["strong,weak,model_b"] * 5
        + ["mid,weak,model_a"] * 20
    )
    battles.write_text("\n".join(lines) + "\n")
    out = tmp_path / "ratings.json"
    result = runner.invoke(
        app, ["rate", str(battles), "--method", "bt", "--bootstrap", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    ratings = json.loads(out.read_text())
    assert ratings[0]["expert"] in {"strong", "mid"} and ratings[-1]["expert"] == "weak"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["dedup", "{tmp}/missing.jsonl", "--out", "{tmp}/o.parquet"], "not found"),
        (
            ["dedup", "{tmp}/rows.jsonl", "--text-field", "prompt", "--out", "{tmp}/o.parquet"],
            "prompt",
        ),
        (
            ["select", "{tmp}/emb.npy", "-k", "500", "--out", "{tmp}/o.parquet"],
            "budget 500 exceeds the 3",
        ),
        (["rate", "{tmp}/bad.csv"], "row"),
        (["sql", "no_such_query"], "no named query"),
        (["run", "--config", "{tmp}/missing.yaml", "--home", "{tmp}/h"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, fragment):
    (tmp_path / "rows.jsonl").write_text('{"instruction": "x"}\n')
    np.save(tmp_path / "emb.npy", np.ones((3, 4), dtype=np.float32))
    (tmp_path / "bad.csv").write_text("model_a,model_b,winner\na,a,model_a\n")
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output.lower() or fragment in (result.stderr or "").lower()


def test_missing_sandbox_isolation_is_one_red_line_and_exit_2(capsys):
    import typer

    from gpu_ops.sandbox import SandboxUnavailable
    from warriorcoder.cli import user_errors

    @user_errors
    def command() -> None:
        raise SandboxUnavailable("sandbox isolation 'full' is not available; missing: a cgroup")

    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 2
    assert "missing: a cgroup" in capsys.readouterr().err
