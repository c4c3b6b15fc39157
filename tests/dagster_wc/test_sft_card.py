"""The sft_dataset stage's card info: decontamination and settings filled in from the config,
license from `export.license` (the card used to say "Decontamination: not run")."""

from pathlib import Path

import polars as pl

from dagster_wc.defs.sft_data import card_info
from gpu_ops.sft_data.sft_export import render_dataset_card
from wc_foundation.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_card_info_from_the_paper_preset(tmp_path):
    config = load_config(REPO / "configs" / "paper.yaml", home=tmp_path)
    quality = {"flagged rows": 3, "flagged rows dropped": 3}
    info = card_info(config, winners=120, dropped=4, quality=quality)
    rows = pl.DataFrame(
        {
            "instruction_id": ["i"],
            "instruction": ["q"],
            "response": ["a"],
            "winner": ["w"],
            "miner": ["m"],
        }
    )
    card = render_dataset_card(rows, info)
    decontamination = card.split("## Decontamination")[1].split("##")[0]
    assert (
        "ngram_size: 13" in decontamination
        and "rows dropped (benchmark overlap): 4" in decontamination
    )
    assert "not run" not in card
    settings = card.split("## Settings")[1]
    assert "alpha: 0.7" in settings and "rating_method: elo_online" in settings
    assert f"license: {config.export.license}" in card
    assert "flagged rows dropped: 3" in card
