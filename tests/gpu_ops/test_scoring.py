"""Difficulty scoring in generate and logprob modes, with the never-score-your-own rule."""

import math

import polars as pl
import pytest
from fakes import FakeChatModel, load_tiny

from gpu_ops.curation.scoring import score_instructions
from gpu_ops.errors import InputError
from gpu_ops.llm import SamplingParams
from gpu_ops.prompts import SCORE_PREFIX, scoring_messages

SCORE_COLUMNS = [
    "instruction_id", "scorer", "mode", "score", "expected_score", "parsed", "raw_reply",
    "prompt_hash", "prompt_tokens", "completion_tokens",
]  # fmt: skip

INSTRUCTIONS = pl.DataFrame(
    {
        "instruction_id": ["i1", "i2", "i3", "i4"],
        "instruction": [
            "EASY: print hello",
            "HARD: write a lock-free queue",
            "GARBLED",
            "HARD: own",
        ],
        "miner": ["m1", "m2", "m1", "judge-x"],
    }
)


def scripted_reply(prompt: str, sampling) -> str:
    """A judge that reads the instruction inside the rubric and answers like an LLM would."""
    if "EASY" in prompt:
        return "Clear but trivial.\n\nRating: [[3]]"
    if "HARD" in prompt:
        return "Specific, coherent and demanding.\nRating: [[ 9 ]]"
    return "I cannot rate this. Rating: [[7]] or maybe [[8]]"


def test_generate_mode_parses_or_marks_unparsed():
    model = FakeChatModel(reply_fn=scripted_reply)
    df = score_instructions(model, INSTRUCTIONS, scorer="judge-x", mode="generate")
    assert df.columns == SCORE_COLUMNS
    assert model.calls == [("chat", 3)]
    rows = {r["instruction_id"]: r for r in df.iter_rows(named=True)}
    assert set(rows) == {"i1", "i2", "i3"}  # i4 was mined by the scorer itself
    assert (rows["i1"]["score"], rows["i1"]["parsed"]) == (3, True)
    assert (rows["i2"]["score"], rows["i2"]["parsed"]) == (9, True)
    assert (rows["i3"]["score"], rows["i3"]["parsed"]) == (None, False)
    assert rows["i3"]["raw_reply"].startswith("I cannot rate")
    assert all(r["expected_score"] is None and r["mode"] == "generate" for r in rows.values())
    assert all(r["completion_tokens"] > 0 and r["prompt_hash"] for r in rows.values())


def test_skip_own_can_be_disabled():
    model = FakeChatModel(reply_fn=scripted_reply)
    df = score_instructions(model, INSTRUCTIONS.drop("miner"), scorer="judge-x", skip_own=False)
    assert df.height == 4


def test_skip_own_needs_the_miner_column():
    with pytest.raises(InputError, match="miner"):
        score_instructions(FakeChatModel(), INSTRUCTIONS.drop("miner"), scorer="judge-x")


def peaked_at(label: str):
    """Log-probs of a scorer that puts most of its mass on one rating."""
    return lambda prompt, choice: 0.0 if choice == f"{label}]]" else -4.0


def test_logprob_mode_expected_and_argmax_scores():
    model = FakeChatModel(logprob_fn=peaked_at("8"))
    df = score_instructions(model, INSTRUCTIONS, scorer="judge-x", mode="logprob")
    assert model.calls == [("choice_logprobs", 3)]
    assert all(p.endswith(SCORE_PREFIX) for p in model.seen_prompts)
    assert set(df["score"]) == {8}
    p_peak = 1 / (1 + 9 * math.exp(-4))
    expected = 8 * p_peak + (55 - 8) * (1 - p_peak) / 9
    assert df["expected_score"].to_list() == pytest.approx([expected] * 3)
    assert df["parsed"].all() and df["raw_reply"].null_count() == 3


def test_logprob_mode_distinguishes_1_from_10():
    model = FakeChatModel(logprob_fn=peaked_at("10"))
    df = score_instructions(model, INSTRUCTIONS.head(1), scorer="s", mode="logprob")
    assert df["score"].to_list() == [10]


def test_deterministic_across_runs():
    runs = [
        score_instructions(FakeChatModel(), INSTRUCTIONS, scorer="s", mode=m)
        for m in ("generate", "logprob")
        for _ in range(2)
    ]
    assert runs[0].equals(runs[1]) and runs[2].equals(runs[3])


def test_everything_skipped_gives_an_empty_frame_without_a_call():
    model = FakeChatModel()
    df = score_instructions(model, INSTRUCTIONS.filter(pl.col("miner") == "m1"), scorer="m1")
    assert df.height == 0 and df.columns == SCORE_COLUMNS and model.calls == []


@pytest.mark.parametrize("kwargs", [{"mode": "vibes"}, {"scorer": ""}])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        score_instructions(FakeChatModel(), INSTRUCTIONS, **{"scorer": "s", **kwargs})


def test_duplicate_instruction_ids_rejected():
    with pytest.raises(InputError, match="duplicate"):
        score_instructions(FakeChatModel(), pl.concat([INSTRUCTIONS, INSTRUCTIONS]), scorer="s")


def test_tiny_model_scores_in_both_modes(tiny_model_dir):
    model = load_tiny(tiny_model_dir)
    logprob = score_instructions(model, INSTRUCTIONS, scorer="tiny", mode="logprob")
    assert logprob.height == 4 and logprob["score"].is_between(1, 10).all()
    assert logprob["expected_score"].is_between(1.0, 10.0).all()
    assert logprob.equals(score_instructions(model, INSTRUCTIONS, scorer="tiny", mode="logprob"))
    sampling = SamplingParams(temperature=0.0, max_new_tokens=4)
    generated = score_instructions(model, INSTRUCTIONS.head(2), scorer="tiny", sampling=sampling)
    assert generated["parsed"].to_list() == generated["score"].is_not_null().to_list()
    assert (generated["completion_tokens"] <= 4).all()
    rendered = [
        model.render_chat(scoring_messages(text, "logprob")) + SCORE_PREFIX
        for text in logprob["instruction_id"].replace_strict(
            INSTRUCTIONS["instruction_id"], INSTRUCTIONS["instruction"]
        )
    ]
    assert logprob["prompt_tokens"].to_list() == [len(model.encode(p)) for p in rendered]
