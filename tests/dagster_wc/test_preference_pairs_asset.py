"""The preference_pairs asset: reads `preference_inputs` and `battle_instructions` from the
warehouse and the responses from the lake, keeps the decided battles, drops benchmark overlaps,
and writes the lake table, the TRL-ready export and its card, with the pair count and margin
histogram as metadata."""

import dagster as dg
import duckdb
import polars as pl
from datasets import load_dataset

from dagster_wc.defs.sft_data import preference_pairs
from dagster_wc.resources import ArenaResource
from gpu_ops.sft_data.decontamination import load_humaneval_prompts
from tests.gpu_ops.test_preferences import battle
from wc_foundation.storage import Home, read_lake_table


def test_preference_pairs_asset(tmp_path):
    config = tmp_path / "arena.yaml"
    config.write_text(
        "experts:\n  - {slug: alpha, model: x}\n  - {slug: beta, model: y}\n"
        "preference: {min_margin: 0.5}\n"
    )
    home = Home(tmp_path / "home")
    home.ensure()
    leaked = load_humaneval_prompts()["text"][0]
    instructions = {"i0": "Add two numbers.", "i1": "Reverse a list.", "i2": leaked, "i3": "Sort."}
    battles = pl.DataFrame(
        [
            battle("i0", a=4.0, b=0.0),
            battle("i1", a=0.0, b=3.0, ab=(0.0, 1.0), ba=(0.0, 1.0)),
            battle("i2", a=4.0, b=0.0),  # decided, but a HumanEval prompt
            battle("i3", a=3.0, b=1.0, ab=(1.0, 0.0), ba=(0.0, 1.0)),  # orders disagree
        ]
    )
    texts = pl.DataFrame(
        {"instruction_id": list(instructions), "instruction": list(instructions.values())}
    )
    with duckdb.connect(str(home.warehouse)) as connection:
        connection.register("battles_frame", battles.to_arrow())
        connection.register("texts_frame", texts.to_arrow())
        connection.execute("create table preference_inputs as select * from battles_frame")
        connection.execute("create table battle_instructions as select * from texts_frame")
    for expert, answer in (("alpha", "def f(): return 1"), ("beta", "def f(): return 2")):
        folder = home.table_dir("responses")
        folder.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(
            {"instruction_id": list(instructions), "expert": expert, "response": answer}
        ).write_parquet(folder / f"{expert}.parquet")
    arena = ArenaResource(config_path=str(config), home_dir=str(home.root))

    result = preference_pairs(dg.build_asset_context(resources={"arena": arena}))

    assert result.metadata["pair_count"] == 2
    assert result.metadata["margin_histogram"]["[0.8, 1.0]"] == 2
    table = read_lake_table(home, "preference_pairs")
    assert table["instruction_id"].to_list() == ["i0", "i1"]
    assert table["chosen_model"].to_list() == ["alpha", "beta"]
    dataset = load_dataset(
        "json", data_files=str(home.sft / "preference_pairs.jsonl"), split="train"
    )
    assert dataset.num_rows == 2 and dataset[1]["chosen"][0]["content"] == "def f(): return 2"
    card = (home.sft / "preference_pairs.README.md").read_text()
    assert "pairs: 2" in card and "margin is at least 0.5" in card
