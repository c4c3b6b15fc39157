"""The optional preference stage: `target.preference: none` trains nothing (existing configs
unchanged); `dpo` trains the SFT target on the exported pairs with a loss curve."""

import json

import dagster as dg
import pytest

from dagster_wc.defs.training import target_model_preference
from dagster_wc.resources import ArenaResource
from gpu_ops.sft_data.preferences import export_preferences
from gpu_ops.training.sft import REPORT_FILE
from tests.gpu_ops.test_preferences import _pairs
from wc_foundation.storage import Home


def _arena(tmp_path, model_dir, preference: str) -> ArenaResource:
    config = tmp_path / "arena.yaml"
    config.write_text(
        "experts:\n  - {slug: a, model: x}\n  - {slug: b, model: y}\n"
        f"target: {{slug: tiny, model: '{model_dir}', preference: {preference}}}\n"
    )
    return ArenaResource(config_path=str(config), home_dir=str(tmp_path / "home"))


def _run(arena: ArenaResource) -> dg.MaterializeResult:
    context = dg.build_asset_context(resources={"arena": arena})
    return target_model_preference(context)


def test_none_trains_nothing(tmp_path):
    result = _run(_arena(tmp_path, tmp_path / "no-model", "none"))
    assert result.metadata == {"method": "none", "trained": False}
    assert not (tmp_path / "home" / "models" / "target_preference").exists()


@pytest.mark.slow
def test_dpo_trains_the_sft_target_on_the_pairs(tmp_path, tiny_model_dir):
    arena = _arena(tmp_path, tiny_model_dir, "{method: dpo, max_steps: 2, max_seq_len: 256}")
    home = Home(tmp_path / "home")
    sft_dir = home.models / "target_sft" / "tiny"
    sft_dir.mkdir(parents=True)
    report = {
        "data_hash": "h",
        "steps": 1,
        "tokens": 1,
        "seconds": 1.0,
        "final_train_loss": 1.0,
        "final_eval_loss": None,
        "loss_history": [],
        "output_dir": str(tiny_model_dir),
    }
    (sft_dir / REPORT_FILE).write_text(json.dumps(report))
    export_preferences(_pairs(4), home.sft, card_info={"min_margin": 0.5})
    result = _run(arena)
    assert result.metadata["trained"] is True and result.metadata["steps"] == 2
    assert result.metadata["pairs"] == 4
    assert (home.models / "target_preference" / "tiny" / "model" / "config.json").is_file()
    assert "loss_curve" in result.metadata
