"""Magpie-style mining: batching, provenance, determinism, validation."""

import random

import polars as pl
import pytest
from fakes import FakeChatModel, load_tiny

from gpu_ops.curation.mining import MiningSetting, mine_instructions
from gpu_ops.errors import InputError
from gpu_ops.ids import prompt_hash
from gpu_ops.prompts import mining_system_prompt

# The instructions_mined contract from docs/ARCHITECTURE.md.
MINED_COLUMNS = [
    "mined_id", "expert", "language", "setting_id", "temperature", "top_p", "max_new_tokens",
    "seed", "sample_index", "model_id", "prompt_hash", "raw_text", "prompt_tokens",
    "completion_tokens", "finish_reason", "reserved_reason",
]  # fmt: skip

GRID = [MiningSetting("t10", 1.0, 0.99, 64), MiningSetting("t12", 1.2, 1.0, 3)]


def mine(model, **overrides):
    args = dict(
        expert="coder-a",
        languages=["Python", "C++"],
        sampling_grid=GRID,
        samples_per_setting=3,
        seed=7,
    )
    return mine_instructions(model, **{**args, **overrides})


def test_one_batched_call_and_exact_columns():
    model = FakeChatModel()
    progress = []
    df = mine(model, progress=lambda done, total: progress.append((done, total)))
    assert df.columns == MINED_COLUMNS
    assert df.height == 2 * 2 * 3
    assert model.calls == [("generate", 12)]
    assert progress == [(0, 12), (12, 12)]


def test_provenance_is_complete():
    model = FakeChatModel(identity="fake-coder-a@abc")
    df = mine(model)
    assert df.drop("reserved_reason").null_count().sum_horizontal().item() == 0
    assert df["mined_id"].n_unique() == df.height
    assert df["seed"].n_unique() == df.height
    assert set(df["model_id"]) == {"fake-coder-a@abc"}
    assert set(df["expert"]) == {"coder-a"}
    python = df.filter(pl.col("language") == "Python")
    expected_prompt = model.render_prequery(mining_system_prompt("Python"))
    assert set(python["prompt_hash"]) == {prompt_hash(expected_prompt)}
    assert expected_prompt in model.seen_prompts
    by_setting = df.group_by("setting_id").agg(
        pl.col("temperature").first(), pl.col("top_p").first(), pl.col("max_new_tokens").first(),
        pl.col("sample_index").sort(),
    ).sort("setting_id")  # fmt: skip
    assert by_setting.rows() == [
        ("t10", 1.0, 0.99, 64, [0, 0, 1, 1, 2, 2]),
        ("t12", 1.2, 1.0, 3, [0, 0, 1, 1, 2, 2]),
    ]
    # Every request stops at the template's end-of-turn and carries the row's seed.
    assert {p.stop for p in model.seen_sampling} == {model.stop_strings}
    assert sorted(p.seed for p in model.seen_sampling) == sorted(df["seed"])


def test_raw_text_and_finish_reason_are_kept_as_generated():
    model = FakeChatModel(reply_fn=lambda prompt, p: "  How do I reverse a list?  \n")
    df = mine(
        model,
        sampling_grid=[MiningSetting("short", 1.0, 1.0, 2), MiningSetting("long", 1.0, 1.0, 99)],
    )
    assert set(df.filter(pl.col("setting_id") == "long")["raw_text"]) == {
        "  How do I reverse a list?  \n"
    }
    assert set(df.filter(pl.col("setting_id") == "long")["finish_reason"]) == {"stop"}
    assert set(df.filter(pl.col("setting_id") == "short")["finish_reason"]) == {"length"}


def test_deterministic_across_runs_and_seed_sensitive():
    first, again = mine(FakeChatModel()), mine(FakeChatModel())
    assert first.equals(again)
    other = mine(FakeChatModel(), seed=8)
    assert set(other["mined_id"]).isdisjoint(first["mined_id"])
    assert not other["raw_text"].equals(first["raw_text"])


def test_system_prompt_override_and_model_default():
    model = FakeChatModel()
    df = mine(model, languages=["Python"], system_prompts={"Python": None})
    assert set(df["prompt_hash"]) == {prompt_hash(model.render_prequery(None))}


@pytest.mark.parametrize(
    "overrides",
    [
        {"languages": []},
        {"languages": "Python"},
        {"languages": ["Go", "Go"]},
        {"sampling_grid": []},
        {"sampling_grid": [MiningSetting("x"), MiningSetting("x")]},
        {"sampling_grid": [("x", 1.0)]},
        {"samples_per_setting": 0},
        {"expert": ""},
    ],
)
def test_bad_arguments_are_input_errors(overrides):
    with pytest.raises(InputError):
        mine(FakeChatModel(), **overrides)


@pytest.mark.parametrize(
    "bad", [dict(temperature=-1.0), dict(top_p=0.0), dict(max_new_tokens=0), dict(setting_id="")]
)
def test_mining_setting_validates(bad):
    with pytest.raises(InputError):
        MiningSetting(**{"setting_id": "s", **bad})


def test_tiny_model_mines_reproducibly(tiny_model_dir):
    def run():
        model = load_tiny(tiny_model_dir)
        grid = [MiningSetting("t10", 1.0, 1.0, 6)]
        return mine_instructions(
            model,
            expert="tiny",
            languages=["Python"],
            sampling_grid=grid,
            samples_per_setting=3,
            seed=1,
        )

    df = run()
    assert df.columns == MINED_COLUMNS and df.height == 3
    assert df.drop("reserved_reason").null_count().sum_horizontal().item() == 0
    assert (df["prompt_tokens"] > 0).all() and (df["completion_tokens"] <= 6).all()
    assert df.equals(run())


def test_a_worlds_reserved_instructions_are_marked_for_the_cleaning():
    """The one judgement mining makes: why a world keeps a text out of the arena (SQL drops it
    as `reserved`); every other row, and every row without a world, gets null."""
    from gpu_ops.worlds import reserved_reasons
    from wc_demo import world

    words = world.make_task("words", ("plural", "capitals"), random.Random(0))
    texts = iter([words.instruction, "Write a function that sorts a list."] * 6)
    model = FakeChatModel(reply_fn=lambda prompt, sampling: next(texts))
    marked = mine(model, reserved_reason=reserved_reasons(["demo-world"]))
    reasons = marked["reserved_reason"].to_list()
    assert all(r.startswith("demo-world: ") and "'words'" in r for r in reasons[0::2])
    assert reasons[1::2] == [None] * 6
    assert mine(FakeChatModel())["reserved_reason"].null_count() == 12
