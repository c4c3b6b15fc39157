"""`add-expert` loads the model and renders its template before it writes the config: a failed
add leaves the file byte-identical, and a retry with the right model works."""

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from tests.small_arena import arena_yaml
from warriorcoder.cli import app

runner = CliRunner()


def _add(config: Path, home: Path, model: Path):
    args = ["add-expert", "target-r1", "--model", str(model), "--config", str(config)]
    return runner.invoke(app, [*args, "--home", str(home), "--no-run"])


def test_failed_add_leaves_config_as_it_was_and_retry_works(tmp_path, tiny_model_dir):
    config = tmp_path / "arena.yaml"
    config.write_text(arena_yaml(tmp_path / "models"))
    before = config.read_bytes()

    wrong = _add(config, tmp_path / "home", tmp_path / "no-such-model")
    assert wrong.exit_code == 2, wrong.output
    assert "does not exist" in wrong.output
    assert config.read_bytes() == before

    retry = _add(config, tmp_path / "home", tiny_model_dir)
    assert retry.exit_code == 0, retry.output
    slugs = [e["slug"] for e in yaml.safe_load(config.read_text())["experts"]]
    assert slugs[-1] == "target-r1"


def test_tokenizer_only_folder_is_refused(tmp_path, tiny_tokenizer_dir):
    """A folder with a tokenizer but no model config is the wrong folder too."""
    config = tmp_path / "arena.yaml"
    config.write_text(arena_yaml(tmp_path / "models"))
    before = config.read_bytes()
    result = _add(config, tmp_path / "home", tiny_tokenizer_dir)
    assert result.exit_code == 2, result.output
    assert "cannot load model" in result.output
    assert config.read_bytes() == before


def test_model_without_chat_template_is_refused(tmp_path, tiny_model_dir):
    """A model whose tokenizer has no chat template cannot render prompts: refused."""
    model = tmp_path / "no-template"
    shutil.copytree(tiny_model_dir, model)
    settings = model / "tokenizer_config.json"
    data = json.loads(settings.read_text())
    data.pop("chat_template", None)
    settings.write_text(json.dumps(data))
    for extra in model.glob("chat_template.*"):
        extra.unlink()
    config = tmp_path / "arena.yaml"
    config.write_text(arena_yaml(tmp_path / "models"))
    before = config.read_bytes()
    result = _add(config, tmp_path / "home", model)
    assert result.exit_code == 2, result.output
    assert "chat template" in result.output
    assert config.read_bytes() == before


def test_roles_are_written_and_checked(tmp_path, tiny_model_dir):
    """`--role` limits what the new expert does (the flywheel's targets only compete)."""
    config = tmp_path / "arena.yaml"
    config.write_text(arena_yaml(tmp_path / "models"))
    args = ["add-expert", "answers-only", "--model", str(tiny_model_dir), "--role", "competitor"]
    result = runner.invoke(
        app, [*args, "--config", str(config), "--home", str(tmp_path), "--no-run"]
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(config.read_text())["experts"][-1]["roles"] == ["competitor"]

    before = config.read_bytes()
    args = ["add-expert", "bad-role", "--model", str(tiny_model_dir), "--role", "referee"]
    result = runner.invoke(
        app, [*args, "--config", str(config), "--home", str(tmp_path), "--no-run"]
    )
    assert result.exit_code == 2 and "roles" in result.output
    assert config.read_bytes() == before
