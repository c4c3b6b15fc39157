"""`warriorcoder export-preferences` copies the pairs and their card (as README.md) to a folder;
without pairs it names what to run."""

from typer.testing import CliRunner

from gpu_ops.sft_data.preferences import export_preferences
from tests.gpu_ops.test_preferences import _pairs
from warriorcoder.cli import app

runner = CliRunner()


def test_export_preferences_copies_pairs_and_card(tmp_path):
    home = tmp_path / "home"
    export_preferences(_pairs(2), home / "sft", card_info={"min_margin": 0.5})
    out = tmp_path / "out"
    result = runner.invoke(app, ["export-preferences", "--out", str(out), "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "preference_pairs.jsonl",
        "preference_pairs.parquet",
    ]
    assert len((out / "preference_pairs.jsonl").read_text().splitlines()) == 2


def test_export_preferences_without_pairs_says_what_to_run(tmp_path):
    result = runner.invoke(
        app, ["export-preferences", "--out", str(tmp_path / "o"), "--home", str(tmp_path / "h")]
    )
    assert result.exit_code == 2
    assert "no preference pairs" in result.output
