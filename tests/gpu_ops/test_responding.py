"""Responses: one batched chat call, derived seeds, paper sampling defaults."""

import polars as pl
import pytest
from fakes import FakeChatModel, load_tiny

from gpu_ops.arena.responding import generate_responses, response_messages
from gpu_ops.curation.output_quality import FLAG_NAMES
from gpu_ops.errors import InputError
from gpu_ops.ids import prompt_hash
from gpu_ops.llm import SamplingParams

RESPONSE_COLUMNS = [
    "instruction_id", "expert", "response", "model_id", "temperature", "top_p", "seed",
    "prompt_hash", "prompt_tokens", "completion_tokens", "finish_reason",
    *[f"flag_{name}" for name in FLAG_NAMES],  # each response's quality flags, stored with it
]  # fmt: skip

INSTRUCTIONS = pl.DataFrame(
    {
        "instruction_id": ["i1", "i2", "i3"],
        "instruction": ["Reverse a list.", "Explain GIL.", "Fix `x = [1,2`"],
    }
)


def test_columns_batching_and_paper_defaults():
    model = FakeChatModel(identity="fake-b")
    df = generate_responses(model, INSTRUCTIONS, expert="coder-b")
    assert df.columns == RESPONSE_COLUMNS
    assert model.calls == [("chat", 3)]
    assert df["instruction_id"].to_list() == ["i1", "i2", "i3"]
    assert set(df["temperature"]) == {1.0} and set(df["top_p"]) == {0.95}
    assert df.null_count().sum_horizontal().item() == 0
    assert df["seed"].n_unique() == 3
    assert [p.seed for p in model.seen_sampling] == df["seed"].to_list()
    assert df["prompt_hash"][0] == prompt_hash(response_messages("Reverse a list."))
    assert model.seen_prompts[0] == model.render_chat(
        [{"role": "user", "content": "Reverse a list."}]
    )


def test_deterministic_and_seeded_per_expert():
    a1 = generate_responses(FakeChatModel(), INSTRUCTIONS, expert="coder-a", seed=3)
    a2 = generate_responses(FakeChatModel(), INSTRUCTIONS, expert="coder-a", seed=3)
    b = generate_responses(FakeChatModel(), INSTRUCTIONS, expert="coder-b", seed=3)
    assert a1.equals(a2)
    assert set(a1["seed"]).isdisjoint(b["seed"])
    # A row's seed depends on its instruction, not its position in the batch.
    reversed_run = generate_responses(
        FakeChatModel(), INSTRUCTIONS.reverse(), expert="coder-a", seed=3
    )
    assert reversed_run.sort("instruction_id").equals(a1.sort("instruction_id"))


def test_custom_sampling_and_system_prompt():
    model = FakeChatModel()
    sampling = SamplingParams(temperature=0.0, top_p=1.0, max_new_tokens=2)
    df = generate_responses(
        model, INSTRUCTIONS, expert="e", sampling=sampling, system_prompt="Be brief."
    )
    assert set(df["temperature"]) == {0.0}
    assert set(df["finish_reason"]) <= {"stop", "length"}
    assert all(p.startswith("<|system|>\nBe brief.") for p in model.seen_prompts)


def test_empty_input_makes_no_call():
    model = FakeChatModel()
    df = generate_responses(model, INSTRUCTIONS.head(0), expert="e")
    assert df.height == 0 and df.columns == RESPONSE_COLUMNS and model.calls == []


@pytest.mark.parametrize(
    "frame",
    [
        INSTRUCTIONS.drop("instruction"),
        pl.concat([INSTRUCTIONS, INSTRUCTIONS]),
        pl.DataFrame(
            {"instruction_id": ["i1"], "instruction": [None]},
            schema={"instruction_id": pl.String, "instruction": pl.String},
        ),
    ],
    ids=["missing-column", "duplicate-ids", "null-text"],
)
def test_bad_input_frames(frame):
    with pytest.raises(InputError):
        generate_responses(FakeChatModel(), frame, expert="e")


def test_tiny_model_responds_reproducibly(tiny_model_dir):
    model = load_tiny(tiny_model_dir)
    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=5)
    df = generate_responses(model, INSTRUCTIONS, expert="tiny", sampling=sampling, seed=2)
    assert df.height == 3 and df.null_count().sum_horizontal().item() == 0
    assert (df["completion_tokens"] <= 5).all()
    assert df.equals(
        generate_responses(model, INSTRUCTIONS, expert="tiny", sampling=sampling, seed=2)
    )


def test_rerun_through_the_call_cache_makes_no_model_call(tiny_model_dir, tmp_path):
    from gpu_ops.llm import CachedChatModel, CallCache

    sampling = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=5)
    cache = CallCache(tmp_path / "calls.sqlite")
    cached = CachedChatModel(load_tiny(tiny_model_dir), cache)
    first = generate_responses(cached, INSTRUCTIONS, expert="tiny", sampling=sampling, seed=2)
    calls_after_first = cached.model_calls
    again = generate_responses(cached, INSTRUCTIONS, expert="tiny", sampling=sampling, seed=2)
    assert calls_after_first >= 1 and cached.model_calls == calls_after_first
    assert again.equals(first)
    cache.close()
