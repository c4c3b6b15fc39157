"""Preference pairs: only decided battles (both orders agree, margin reached), oriented winner
over loser, exported in TRL's conversational preference format that `datasets` and TRL's
DPOTrainer load as they are."""

import json

import polars as pl
import pytest

from gpu_ops.errors import InputError
from gpu_ops.sft_data.preferences import (
    JSONL_NAME,
    PARQUET_NAME,
    decided_pairs,
    export_preferences,
    margin_histogram,
    with_texts,
)


def battle(instruction_id="i1", *, a=3.0, b=1.0, ties=0.0, ab=(1.0, 0.0), ba=(1.0, 0.0), **extra):
    return {
        "instruction_id": instruction_id,
        "model_a": "alpha",
        "model_b": "beta",
        "votes_a": a,
        "votes_b": b,
        "ties": ties,
        "ab_votes_a": ab[0],
        "ab_votes_b": ab[1],
        "ba_votes_a": ba[0],
        "ba_votes_b": ba[1],
        "judges": "c,d,execution",
        "exec_score_a": 1.0,
        "exec_score_b": 0.0,
        **extra,
    }


def test_winner_is_chosen_with_its_evidence():
    pairs = decided_pairs(pl.DataFrame([battle(a=4.0, b=0.0)]), min_margin=0.5)
    row = pairs.row(0, named=True)
    assert (row["chosen_model"], row["rejected_model"]) == ("alpha", "beta")
    assert row["margin"] == 1.0
    assert (row["votes_chosen"], row["votes_rejected"]) == (4.0, 0.0)
    assert row["judges"] == ["c", "d", "execution"]
    assert (row["exec_score_chosen"], row["exec_score_rejected"]) == (1.0, 0.0)


def test_model_b_winning_is_oriented_as_chosen():
    pairs = decided_pairs(
        pl.DataFrame([battle(a=0.0, b=4.0, ab=(0.0, 2.0), ba=(0.0, 2.0))]), min_margin=0.5
    )
    row = pairs.row(0, named=True)
    assert (row["chosen_model"], row["rejected_model"]) == ("beta", "alpha")
    assert (row["exec_score_chosen"], row["exec_score_rejected"]) == (0.0, 1.0)


def test_orders_that_disagree_are_not_decided():
    """The `ba` order names beta: a verdict that flips with the order is position bias."""
    flipped = battle("flip", a=3.0, b=1.0, ab=(2.0, 0.0), ba=(0.0, 1.0))
    one_order = battle("one-order", a=2.0, b=0.0, ab=(2.0, 0.0), ba=(0.0, 0.0))
    against_total = battle("against", a=1.0, b=3.0, ab=(1.0, 0.0), ba=(1.0, 0.0))
    kept = decided_pairs(pl.DataFrame([flipped, one_order, against_total]), min_margin=0.1)
    assert kept.height == 0


def test_margin_reaches_the_minimum_ties_included():
    rows = [
        battle("wide", a=3.0, b=1.0),  # margin 0.5
        battle("narrow", a=3.0, b=2.0),  # margin 0.2
        battle("tied-down", a=2.0, b=0.0, ties=2.0),  # margin 0.5
        battle("all-ties", a=0.0, b=0.0, ties=4.0, ab=(0.0, 0.0), ba=(0.0, 0.0)),
    ]
    kept = decided_pairs(pl.DataFrame(rows), min_margin=0.5)
    assert kept["instruction_id"].to_list() == ["tied-down", "wide"]
    assert decided_pairs(pl.DataFrame(rows), min_margin=0.2).height == 3


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_min_margin_must_be_a_share(bad):
    with pytest.raises(InputError, match="min_margin"):
        decided_pairs(pl.DataFrame([battle()]), min_margin=bad)


def test_missing_columns_are_named():
    with pytest.raises(InputError, match="ab_votes_a"):
        decided_pairs(pl.DataFrame([battle()]).drop("ab_votes_a"), min_margin=0.5)


def test_margin_histogram_counts_every_pair_once():
    pairs = pl.DataFrame({"margin": [0.5, 1.0, 0.25, 0.6]})
    histogram = margin_histogram(pairs)
    assert sum(histogram.values()) == 4
    assert histogram["[0.8, 1.0]"] == 1 and histogram["[0.4, 0.6)"] == 1


def _pairs(n=3) -> pl.DataFrame:
    battles = pl.DataFrame([battle(f"i{k}", a=3.0, b=0.0) for k in range(n)])
    texts = pl.DataFrame(
        {"instruction_id": [f"i{k}" for k in range(n)], "instruction": ["Add two numbers."] * n}
    )
    responses = pl.DataFrame(
        {
            "instruction_id": [f"i{k}" for k in range(n) for _ in (0, 1)],
            "expert": ["alpha", "beta"] * n,
            "response": ["def add(a, b):\n    return a + b", "def add(a, b):\n    return a"] * n,
        }
    )
    return with_texts(decided_pairs(battles, min_margin=0.5), texts, responses)


def test_a_pair_without_its_response_text_is_an_error():
    battles = pl.DataFrame([battle("i0")])
    texts = pl.DataFrame({"instruction_id": ["i0"], "instruction": ["x"]})
    responses = pl.DataFrame({"instruction_id": ["i0"], "expert": ["alpha"], "response": ["y"]})
    with pytest.raises(InputError, match="lack an instruction or response"):
        with_texts(decided_pairs(battles, min_margin=0.5), texts, responses)


def test_export_is_trl_conversational_and_loads_with_datasets(tmp_path):
    from datasets import load_dataset
    from trl.data_utils import is_conversational

    files = export_preferences(_pairs(), tmp_path, card_info={"min_margin": 0.5})
    first = json.loads(files["jsonl"].read_text().splitlines()[0])
    assert first["prompt"] == [{"role": "user", "content": "Add two numbers."}]
    assert first["chosen"][0]["role"] == "assistant"
    for name in (JSONL_NAME, PARQUET_NAME):
        kind = "json" if name.endswith("jsonl") else "parquet"
        dataset = load_dataset(kind, data_files=str(tmp_path / name), split="train")
        assert dataset.num_rows == 3
        assert {"prompt", "chosen", "rejected", "margin", "judges"} <= set(dataset.column_names)
        assert is_conversational(dataset[0])
    card = files["card"].read_text()
    assert "pairs: 3" in card and "DPOTrainer" in card


def test_dpo_trainer_takes_a_step_on_the_export(tmp_path, tiny_model_dir):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    export_preferences(_pairs(4), tmp_path, card_info={"min_margin": 0.5})
    dataset = load_dataset("json", data_files=str(tmp_path / JSONL_NAME), split="train")
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    args = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=256,
        bf16=False,
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_steps=1,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 1 and losses[0] > 0
