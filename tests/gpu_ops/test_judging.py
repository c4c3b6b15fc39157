"""Pairwise judging: pairing modes, the uninvolved-judge rule, both orders, both modes."""

import math

import polars as pl
import pytest
from fakes import FakeChatModel, load_tiny

from gpu_ops.arena.judging import (
    BATTLE_COLUMNS,
    battle_pairs,
    build_battles,
    eligible_judges,
    judge_battles,
    likelihood_probabilities,
)
from gpu_ops.errors import InputError
from gpu_ops.llm import SamplingParams
from gpu_ops.prompts import VERDICT_PREFIX, judge_messages

JUDGMENT_COLUMNS = [
    "instruction_id", "judge", "model_a", "model_b", "shown_first", "shown_second", "order",
    "mode", "verdict", "p_first", "p_second", "p_tie", "raw_reply", "prompt_hash",
    "prompt_tokens", "completion_tokens",
]  # fmt: skip

BATTLES = pl.DataFrame(
    {
        "instruction_id": ["i1", "i2"],
        "instruction": ["Reverse a list in Python.", "Sum a list."],
        "model_a": ["alpha-coder", "alpha-coder"],
        "response_a": ["GOOD: use reversed(xs)", "TIED answer"],
        "model_b": ["beta-coder", "gamma-coder"],
        "response_b": ["meh: loop by hand", "TIED answer"],
    }
)


def shown_as(prompt: str, position: str) -> str:
    """The response text the judge saw at position 'A' or 'B'."""
    return prompt.split(f"ASSISTANT {position}'S RESPONSE")[1]


def content_judge_reply(prompt: str, sampling) -> str:
    """A judge that prefers the GOOD response wherever it is shown."""
    if "TIED" in prompt:
        return "Both are identical in quality and length. [[Tie]]"
    if "GOOD" in shown_as(prompt, "A"):
        return "Assistant A is idiomatic.\n\n[[A]]"
    return "Assistant B is idiomatic.\n\n[[B]]"


def content_judge_logprob(prompt: str, choice: str) -> float:
    if "TIED" in prompt:
        return 0.0 if choice == "Tie]]" else -3.0
    good = "A]]" if "GOOD" in shown_as(prompt, "A") else "B]]"
    return 0.0 if choice == good else -2.0


# --- pairing and eligibility ---------------------------------------------------------------


def test_all_pairs_are_sorted_and_complete():
    assert battle_pairs(["c", "a", "b"]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert len(battle_pairs([f"e{i}" for i in range(5)])) == 10
    assert battle_pairs(["solo"]) == []


def test_attacker_defender_pairs_the_miner_with_every_other_expert():
    assert battle_pairs(["c", "a", "b"], "attacker_defender", miners=["b"]) == [
        ("a", "b"),
        ("b", "c"),
    ]
    assert battle_pairs(["c", "a", "b"], "attacker_defender", miners=["a", "b"]) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
    ]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((["a", "b"], "attacker_defender"), {}),
        ((["a", "b"], "attacker_defender"), {"miners": ["z"]}),
        ((["a", "b"], "all"), {"miners": ["a"]}),
        ((["a", "b"], "round_robin"), {}),
        ((["a", "a"],), {}),
        (("ab",), {}),
    ],
)
def test_bad_pairing_arguments(args, kwargs):
    with pytest.raises(InputError):
        battle_pairs(*args, **kwargs)


def test_a_model_never_judges_its_own_battle():
    judges = ["a", "b", "c", "d"]
    assert eligible_judges(judges, "a", "c") == ["b", "d"]
    for model_a, model_b in battle_pairs(judges):
        assert {model_a, model_b}.isdisjoint(eligible_judges(judges, model_a, model_b))


def test_family_exclusion():
    families = {"a": "qwen", "b": "qwen", "c": "llama", "d": "deepseek"}
    assert eligible_judges(["a", "b", "c", "d"], "a", "c", families, exclude_same_family=True) == [
        "d"
    ]
    with pytest.raises(InputError):
        eligible_judges(["a", "b"], "a", "c", None, exclude_same_family=True)
    with pytest.raises(InputError):
        eligible_judges(["a", "b", "x"], "a", "c", families, exclude_same_family=True)


# --- judge_battles -------------------------------------------------------------------------


def test_generate_mode_both_orders_positional_verdicts():
    model = FakeChatModel(reply_fn=content_judge_reply)
    df = judge_battles(model, BATTLES, judge="delta-judge", mode="generate")
    assert df.columns == JUDGMENT_COLUMNS
    assert model.calls == [("chat", 4)]
    got = {(r["instruction_id"], r["order"]): r for r in df.iter_rows(named=True)}
    assert set(got) == {("i1", "ab"), ("i1", "ba"), ("i2", "ab"), ("i2", "ba")}
    ab, ba = got[("i1", "ab")], got[("i1", "ba")]
    assert (ab["shown_first"], ab["shown_second"], ab["verdict"]) == (
        "alpha-coder",
        "beta-coder",
        "first",
    )
    assert (ba["shown_first"], ba["shown_second"], ba["verdict"]) == (
        "beta-coder",
        "alpha-coder",
        "second",
    )
    assert got[("i2", "ab")]["verdict"] == got[("i2", "ba")]["verdict"] == "tie"
    assert all(r["raw_reply"] and r["p_first"] is None for r in got.values())
    assert set(df["model_a"]) == {"alpha-coder"}  # model_a < model_b regardless of order


def test_model_names_are_never_shown_to_the_judge():
    model = FakeChatModel(reply_fn=content_judge_reply)
    judge_battles(model, BATTLES, judge="delta-judge", mode="generate")
    judge_battles(model, BATTLES, judge="delta-judge", mode="logprob")
    assert len(model.seen_prompts) == 8
    for prompt in model.seen_prompts:
        for name in ("alpha", "beta", "gamma", "delta"):
            assert name not in prompt


def test_unparsable_replies_are_invalid_not_guessed():
    replies = iter(["Both fine.", "[[A]] ... actually [[B]]", "```\n[[A]]\n```", "[[b]]"])
    model = FakeChatModel(reply_fn=lambda prompt, s: next(replies))
    df = judge_battles(model, BATTLES, judge="j", mode="generate")
    assert df["verdict"].to_list() == ["invalid", "invalid", "invalid", "second"]


def test_logprob_mode_probabilities_and_argmax():
    model = FakeChatModel(logprob_fn=content_judge_logprob)
    df = judge_battles(model, BATTLES, judge="j", mode="logprob")
    assert model.calls == [("choice_logprobs", 4)]
    assert all(p.endswith(VERDICT_PREFIX) for p in model.seen_prompts)
    sums = (df["p_first"] + df["p_second"] + df["p_tie"]).to_list()
    assert sums == pytest.approx([1.0] * 4)
    got = {(r["instruction_id"], r["order"]): r for r in df.iter_rows(named=True)}
    assert got[("i1", "ab")]["verdict"] == "first" and got[("i1", "ba")]["verdict"] == "second"
    p_good = 1 / (1 + 2 * math.exp(-2))
    assert got[("i1", "ab")]["p_first"] == pytest.approx(p_good)
    assert got[("i1", "ba")]["p_second"] == pytest.approx(p_good)
    assert got[("i2", "ab")]["verdict"] == "tie"
    assert df["raw_reply"].null_count() == 4 and set(df["mode"]) == {"logprob"}


def test_single_order_alternates_deterministically():
    battles = pl.DataFrame(
        {
            "instruction_id": [f"i{n}" for n in range(40)],
            "instruction": ["q"] * 40,
            "model_a": ["a"] * 40,
            "response_a": ["x"] * 40,
            "model_b": ["b"] * 40,
            "response_b": ["y"] * 40,
        }
    )
    df = judge_battles(FakeChatModel(), battles, judge="j", both_orders=False)
    again = judge_battles(FakeChatModel(), battles, judge="j", both_orders=False)
    assert df.height == 40 and df.equals(again)
    assert 5 < (df["order"] == "ab").sum() < 35


def test_deterministic_across_runs():
    for mode in ("generate", "logprob"):
        first = judge_battles(FakeChatModel(), BATTLES, judge="j", mode=mode)
        assert first.equals(judge_battles(FakeChatModel(), BATTLES, judge="j", mode=mode))


def test_judging_your_own_battle_is_an_input_error():
    with pytest.raises(InputError, match="own battle"):
        judge_battles(FakeChatModel(), BATTLES, judge="beta-coder")


@pytest.mark.parametrize(
    "battles",
    [
        BATTLES.drop("response_b"),
        BATTLES.with_columns(model_a=pl.lit("zeta")),
        BATTLES.with_columns(model_b=pl.lit("alpha-coder")),
        pl.concat([BATTLES, BATTLES]),
        BATTLES.with_columns(response_a=pl.lit(None, pl.String)),
    ],
    ids=["missing-column", "a-after-b", "self-battle", "duplicates", "null-response"],
)
def test_bad_battles(battles):
    with pytest.raises(InputError):
        judge_battles(FakeChatModel(), battles, judge="j")


def test_empty_battles_make_no_call():
    model = FakeChatModel()
    df = judge_battles(model, BATTLES.head(0), judge="j")
    assert df.height == 0 and df.columns == JUDGMENT_COLUMNS and model.calls == []


# --- build_battles -------------------------------------------------------------------------

INSTRUCTIONS = pl.DataFrame(
    {"instruction_id": ["i1", "i2"], "instruction": ["q1", "q2"], "miner": ["b", "c"]}
)
RESPONSES = pl.DataFrame(
    {
        "instruction_id": ["i1", "i1", "i1", "i2", "i2", "i2"],
        "expert": ["a", "b", "c", "a", "b", "c"],
        "response": ["1a", "1b", "1c", "2a", "2b", "2c"],
    }
)


def test_build_battles_all_and_attacker_defender():
    everyone = build_battles(INSTRUCTIONS, RESPONSES, pairing="all")
    assert everyone.columns == BATTLE_COLUMNS and everyone.height == 6
    row = everyone.filter(
        (pl.col("instruction_id") == "i2") & (pl.col("model_a") == "a") & (pl.col("model_b") == "c")
    )
    assert row.select("response_a", "response_b").row(0) == ("2a", "2c")
    attack = build_battles(INSTRUCTIONS, RESPONSES, pairing="attacker_defender")
    pairs = sorted(attack.select("instruction_id", "model_a", "model_b").rows())
    assert pairs == [("i1", "a", "b"), ("i1", "b", "c"), ("i2", "a", "c"), ("i2", "b", "c")]


def test_build_battles_needs_every_response():
    with pytest.raises(InputError, match="no response"):
        build_battles(INSTRUCTIONS, RESPONSES.head(5))


def judge_messages_of(judgment: dict, mode: str) -> list[dict]:
    """The judge conversation a judgment row was made from (BATTLES' texts, its shown order)."""
    battle = BATTLES.filter(
        pl.col("instruction_id") == judgment["instruction_id"],
        pl.col("model_a") == judgment["model_a"],
        pl.col("model_b") == judgment["model_b"],
    ).row(0, named=True)
    answers = {battle["model_a"]: battle["response_a"], battle["model_b"]: battle["response_b"]}
    first, second = answers[judgment["shown_first"]], answers[judgment["shown_second"]]
    return judge_messages(battle["instruction"], first, second, mode)


def test_tiny_model_logprob_verdicts_sum_to_one(tiny_model_dir):
    model = load_tiny(tiny_model_dir)
    df = judge_battles(model, BATTLES, judge="tiny", mode="logprob")
    assert df.height == 4
    sums = (df["p_first"] + df["p_second"] + df["p_tie"]).to_list()
    assert sums == pytest.approx([1.0] * 4)
    best = df.select(pl.concat_list("p_first", "p_second", "p_tie").list.arg_max()).to_series()
    assert df["verdict"].to_list() == [("first", "second", "tie")[i] for i in best]
    sampling = SamplingParams(temperature=0.0, max_new_tokens=4)
    generated = judge_battles(
        model, BATTLES.head(1), judge="tiny", mode="generate", sampling=sampling
    )
    assert set(generated["verdict"]) <= {"first", "second", "tie", "invalid"}
    assert generated["raw_reply"].null_count() == 0
    # Both modes record the judge prompt's length in the model's own tokens.
    for mode, frame in (("logprob", df), ("generate", generated)):
        prompts = [
            model.render_chat(judge_messages_of(row, mode))
            + (VERDICT_PREFIX if mode == "logprob" else "")
            for row in frame.iter_rows(named=True)
        ]
        assert frame["prompt_tokens"].to_list() == [len(model.encode(p)) for p in prompts]
    assert df["completion_tokens"].is_null().all()


def test_prompts_are_asked_in_prefix_order_with_the_instruction_tag():
    """Prompts about one instruction and one first response are adjacent and share their start
    up to the second response; the rows still come back in battle order."""
    battles = pl.DataFrame(
        {
            "instruction_id": ["i1", "i2", "i1"],
            "instruction": ["Reverse a list.", "Sum a list.", "Reverse a list."],
            "model_a": ["a", "a", "a"],
            "response_a": ["ra1", "ra2", "ra1"],
            "model_b": ["b", "b", "c"],
            "response_b": ["rb1", "rb2", "rc1"],
        }
    )
    model = FakeChatModel(logprob_fn=lambda prompt, choice: 0.0)
    rows = judge_battles(model, battles, judge="j", mode="logprob")
    assert rows.select("instruction_id", "model_b", "order").rows()[:2] == [
        ("i1", "b", "ab"),
        ("i1", "b", "ba"),
    ]
    asked = model.seen_prompts
    instruction_of = ["Reverse" if "Reverse a list." in p else "Sum" for p in asked]
    assert instruction_of == ["Reverse"] * 4 + ["Sum"] * 2  # grouped by instruction
    first_block = [p.split("ASSISTANT B'S RESPONSE")[0] for p in asked[:4]]
    assert first_block[0] == first_block[1]  # a's answer first, twice: same prefix
    assert len({p.split("ASSISTANT A'S RESPONSE")[0] for p in asked[:4]}) == 1  # same tag


# --- likelihood mode (GPTScore) --------------------------------------------------------------


def answer_logprob(prompt: str, answer: str) -> float:
    """A judge that finds an answer likelier the more often it says GOOD."""
    return 3.0 * answer.count("GOOD") - len(answer) / 100


def test_likelihood_mode_compares_the_answers_as_the_judges_own_replies():
    battles = pl.concat(
        [
            BATTLES,
            pl.DataFrame(
                {
                    "instruction_id": ["i3"],
                    "instruction": ["Sort a list."],
                    "model_a": ["alpha-coder"],
                    "response_a": [""],
                    "model_b": ["beta-coder"],
                    "response_b": ["GOOD sorted(xs)"],
                }
            ),
        ]
    )
    model = FakeChatModel(logprob_fn=answer_logprob)
    df = judge_battles(
        model, battles, judge="j", mode="likelihood", answer_system_prompt="Be terse."
    )
    # one call for i1's two orders; i2's equal answers and i3's empty one need none
    assert model.calls == [("choice_logprobs", 1)]
    assert model.seen_prompts == [
        model.render_chat(
            [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Reverse a list in Python."},
            ]
        )
    ]
    got = {(r["instruction_id"], r["order"]): r for r in df.iter_rows(named=True)}
    ratio = answer_logprob("", "GOOD: use reversed(xs)") - answer_logprob("", "meh: loop by hand")
    assert got[("i1", "ab")]["p_first"] == pytest.approx(1 / (1 + math.exp(-(ratio - 1.0))))
    assert got[("i1", "ab")]["verdict"] == "first" and got[("i1", "ba")]["verdict"] == "second"
    assert got[("i1", "ab")]["p_first"] == pytest.approx(got[("i1", "ba")]["p_second"])
    assert got[("i2", "ab")]["verdict"] == got[("i2", "ba")]["verdict"] == "tie"
    assert got[("i3", "ab")]["verdict"] == "second" and got[("i3", "ba")]["verdict"] == "first"
    sums = (df["p_first"] + df["p_second"] + df["p_tie"]).to_list()
    assert sums == pytest.approx([1.0] * 6)
    assert set(df["mode"]) == {"likelihood"} and df["completion_tokens"].is_null().all()


def test_likelihood_probabilities_lean_to_a_tie_within_the_margin():
    assert likelihood_probabilities(0.0, 1.0)[2] > 0.4  # equal answers: the tie is the argmax
    first, second, tie = likelihood_probabilities(0.3, 1.0)
    assert tie > first > second
    first, second, tie = likelihood_probabilities(3.0, 1.0)
    assert first > 0.85 and second < 0.02 and first + second + tie == pytest.approx(1.0)
    assert likelihood_probabilities(0.3, 0.0)[0] > 0.5  # no margin: the likelier answer wins
    assert likelihood_probabilities(-math.inf, 1.0) == (0.0, 1.0, 0.0)
    with pytest.raises(InputError, match="likelihood_tie_margin"):
        judge_battles(
            FakeChatModel(), BATTLES, judge="j", mode="likelihood", likelihood_tie_margin=-1
        )


def test_tiny_model_likelihood_is_the_answers_log_probability_ratio(tiny_model_dir):
    """The verdict's ratio is log p(answer | instruction) of one answer minus the other's, as the
    model itself scores the two full answers after the competitors' conversation."""
    import torch

    model = load_tiny(tiny_model_dir)
    battle = BATTLES.head(1)
    df = judge_battles(model, battle, judge="tiny", mode="likelihood", likelihood_tie_margin=0.5)
    prompt = model.render_chat([{"role": "user", "content": "Reverse a list in Python."}])

    def logprob(answer: str) -> float:
        ids = model.encode(prompt) + model.encode(answer)
        n = len(model.encode(prompt))
        with torch.no_grad():
            logits = model.model(input_ids=torch.tensor([ids])).logits.float()
        steps = torch.log_softmax(logits[0, n - 1 : -1], -1)
        return float(steps.gather(-1, torch.tensor(ids[n:])[:, None]).sum())

    ratio = logprob("GOOD: use reversed(xs)") - logprob("meh: loop by hand")
    ab = df.filter(pl.col("order") == "ab").row(0, named=True)
    assert ab["p_first"] == pytest.approx(likelihood_probabilities(ratio, 0.5)[0], abs=1e-4)
    assert ab["prompt_tokens"] == len(model.encode(prompt))
