"""The transformers backend on the tiny model: rendering, batched sampling, choice scoring."""

import math
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from gpu_ops.errors import InputError
from gpu_ops.llm import Generation, ModelSpec, SamplingParams, load_model
from gpu_ops.llm.chat_template import ChatRenderer
from gpu_ops.llm.transformers_backend import TransformersChatModel

SYSTEM = "You are an assistant that gives step-by-step guidance on Python coding problems."


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> TransformersChatModel:
    return load_model(ModelSpec(slug="tiny", model=str(tiny_model_dir), device="cpu", batch_size=4))


def test_prequery_ends_where_user_text_starts(model: TransformersChatModel) -> None:
    prequery = model.render_prequery(SYSTEM)
    assert prequery == f"<|bos|><|system|>\n{SYSTEM}<|end|>\n<|user|>\n"
    user_text = "Write a function that reverses a list."
    rendered = model.render_chat(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user_text}]
    )
    assert rendered.startswith(prequery + user_text)
    assert model.render_prequery(None) == "<|bos|><|user|>\n"


def test_stop_strings_come_from_the_template(model: TransformersChatModel) -> None:
    assert model.stop_strings == ("<|end|>", "<|eos|>")


def test_default_system_prompt_is_used_when_none_given(tiny_model_dir: Path) -> None:
    spec = ModelSpec(slug="tiny", model=str(tiny_model_dir), default_system_prompt="Be Qwen.")
    renderer = ChatRenderer(
        AutoTokenizer.from_pretrained(tiny_model_dir), name="t", default_system_prompt="Be Qwen."
    )
    assert renderer.render_prequery(None) == "<|bos|><|system|>\nBe Qwen.<|end|>\n<|user|>\n"
    assert renderer.render_prequery("Other.").startswith("<|bos|><|system|>\nOther.")
    assert "Be Qwen." in renderer.render_chat([{"role": "user", "content": "hi"}])
    assert spec.default_system_prompt == "Be Qwen."


@pytest.mark.parametrize(
    ("template", "prequery", "stops"),
    [
        (  # ChatML (Qwen style); <|im_end|> is plain text for this tokenizer
            "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
            "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
            "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\n",
            ("<|im_end|>", "<|eos|>"),
        ),
        (  # Alpaca / DeepSeek-Coder style: no end-of-user marker, stop at the response header
            "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] + '\\n' }}"
            "{% elif m['role'] == 'user' %}{{ '### Instruction:\\n' + m['content'] + '\\n' }}"
            "{% else %}{{ '### Response:\\n' + m['content'] + '\\n' + eos_token + '\\n' }}{% endif %}"
            "{% endfor %}{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}",
            "<|bos|>SYS\n### Instruction:\n",
            ("### Response:", "<|eos|>"),
        ),
    ],
)
def test_prequery_and_stops_derive_from_other_template_families(
    tiny_tokenizer_dir: Path, template: str, prequery: str, stops: tuple[str, ...]
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    tokenizer.chat_template = template
    renderer = ChatRenderer(tokenizer, name="family")
    assert renderer.render_prequery("SYS") == prequery
    assert renderer.stop_strings == stops
    chat = renderer.render_chat(
        [{"role": "system", "content": "SYS"}, {"role": "user", "content": "Q?"}]
    )
    assert chat.startswith(prequery + "Q?")


def test_chat_template_override_from_jinja_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "plain.jinja"
    path.write_text(
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
    )
    other = load_model(ModelSpec(slug="tiny", model=str(tiny_model_dir), chat_template=str(path)))
    assert other.render_prequery("S") == "system: S\nuser: "
    base = load_model(ModelSpec(slug="tiny", model=str(tiny_model_dir)))
    assert other.identity != base.identity  # the template is part of the identity
    with pytest.raises(InputError, match="does not exist"):
        load_model(
            ModelSpec(
                slug="tiny", model=str(tiny_model_dir), chat_template=str(tmp_path / "x.jinja")
            )
        )


def test_a_missing_model_directory_is_named_not_taken_for_a_hub_id(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "demo" / "expert-text"
    with pytest.raises(InputError, match=r"expert-text: model directory .* does not exist"):
        load_model(ModelSpec(slug="expert-text", model=str(missing)))


def test_identity_changes_with_the_weights(
    tiny_model_dir: Path, tiny_tokenizer_dir: Path, tmp_path: Path
) -> None:
    from gpu_ops.llm.identity import weights_fingerprint
    from wc_demo.tiny_model import build_tiny_model

    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    assert weights_fingerprint(str(copy)) == weights_fingerprint(str(tiny_model_dir))
    other = build_tiny_model(tmp_path / "seed1" / "model", tokenizer_dir=tiny_tokenizer_dir, seed=1)
    assert weights_fingerprint(str(other)) != weights_fingerprint(str(tiny_model_dir))
    assert weights_fingerprint("org/name", "abc") == "org/name@abc"


def _prompts(model: TransformersChatModel) -> list[str]:
    return [model.render_prequery("s" * n) + "x" * (3 * n) for n in range(7)]


def test_batched_generation_is_independent_of_batch_composition(
    model: TransformersChatModel,
) -> None:
    prompts = _prompts(model)
    params = [
        SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=12, seed=100 + i)
        for i in range(7)
    ]
    batched = model.generate(prompts, params)
    alone = [model.generate([p], [s])[0] for p, s in zip(prompts, params, strict=True)]
    assert batched == alone
    shuffled = model.generate(prompts[::-1], params[::-1])[::-1]
    assert shuffled == batched
    assert all(
        g.prompt_tokens == len(model.encode(p)) for g, p in zip(batched, prompts, strict=True)
    )
    assert len({g.text for g in batched}) > 1


def test_seeds_reproduce_and_differ(model: TransformersChatModel) -> None:
    prompt = model.render_prequery(SYSTEM)
    a, b, c = model.generate(
        [prompt] * 3, [SamplingParams(seed=s, max_new_tokens=16) for s in (1, 1, 2)]
    )
    assert a == b
    assert a.text != c.text


def test_greedy_matches_argmax_of_a_plain_forward(model: TransformersChatModel) -> None:
    prompt = model.render_prequery(SYSTEM)
    out = model.generate([prompt], SamplingParams(temperature=0, max_new_tokens=5))[0]
    ids = model.encode(prompt)
    expected = []
    with torch.no_grad():
        for _ in range(5):
            token = int(model.model(torch.tensor([ids + expected])).logits[0, -1].argmax())
            if token in model.eos_ids:
                break
            expected.append(token)
    assert out.text == model.tokenizer.decode(expected, skip_special_tokens=False)


def test_length_and_stop_finish_reasons(model: TransformersChatModel) -> None:
    prompt = "def f(x):"
    free = model.generate([prompt], SamplingParams(temperature=0, max_new_tokens=20))[0]
    assert free.finish_reason == "length" and free.completion_tokens == 20
    stop = free.text[5:8]
    stopped = model.generate(
        [prompt], SamplingParams(temperature=0, max_new_tokens=20, stop=(stop,))
    )[0]
    assert stopped.finish_reason == "stop"
    assert stopped.text == free.text[: free.text.index(stop)]
    assert stopped.completion_tokens < 20


def test_chat_renders_and_generates(model: TransformersChatModel) -> None:
    conversation = [{"role": "user", "content": "Explain decorators."}]
    sampling = SamplingParams(temperature=0.8, max_new_tokens=6, seed=3)
    via_chat = model.chat([conversation], sampling)[0]
    assert via_chat == model.generate([model.render_chat(conversation)], sampling)[0]
    assert isinstance(via_chat, Generation)


def _reference_logprobs(
    model: TransformersChatModel, prompt: str, choices: list[str]
) -> list[float]:
    """Sum of per-token log-probs of each full choice, one prompt+choice forward at a time."""
    raw = []
    with torch.no_grad():
        for choice in choices:
            ids, c = model.encode(prompt), model.encode(choice)
            logp = torch.log_softmax(model.model(torch.tensor([ids + c])).logits[0].float(), -1)
            raw.append(sum(float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(c)))
    total = math.log(sum(math.exp(r) for r in raw))
    return [r - total for r in raw]


def test_choice_logprobs_are_normalized_and_exact(model: TransformersChatModel) -> None:
    prompts = [model.render_prequery(SYSTEM) + "Verdict: [[", "short"]
    choices = ["A", "B", "Tie"]
    scores = model.choice_logprobs(prompts, choices)
    for prompt, row in zip(prompts, scores, strict=True):
        assert set(row.logprobs) == set(choices)
        assert math.isclose(sum(math.exp(v) for v in row.logprobs.values()), 1.0, rel_tol=1e-6)
        assert row.prompt_tokens == len(model.encode(prompt))
    reference = _reference_logprobs(model, prompts[0], choices)
    for choice, r in zip(choices, reference, strict=True):
        assert scores[0].logprobs[choice] == pytest.approx(r, abs=1e-4)


def test_multi_token_choices_on_the_cached_prompt_match_full_forwards(
    model: TransformersChatModel,
) -> None:
    """Choices sharing token prefixes ("1]]" / "10]]"), prompts of different lengths, and more
    continuation rows than batch_size (several chunks on copies of the prompt cache)."""
    choices = [f"{n}]]" for n in range(1, 11)] + ["Tie]]"]
    assert max(len(model.encode(c)) for c in choices) > 1
    prompts = [
        model.render_prequery(SYSTEM) + "Rating: [[",
        "def f(x):\n    return x  # Rating: [[",
        "x",
        model.render_chat([{"role": "user", "content": "Sort a list."}]) + "Rating: [[",
        "Verdict: [[",
    ]
    scores = model.choice_logprobs(prompts, choices)
    for prompt, row in zip(prompts, scores, strict=True):
        reference = _reference_logprobs(model, prompt, choices)
        got = [row.logprobs[c] for c in choices]
        assert got == pytest.approx(reference, abs=1e-4)


def test_a_verdict_feeds_its_prompt_once(model: TransformersChatModel) -> None:
    """Tokens reaching the model (counted by a hook on forward, padding excluded) per verdict are
    about 1x the prompt: the prompt once plus the tails of multi-token choices."""
    choices = ["A]]", "B]]", "Tie]]"]
    prompts = [
        model.render_chat([{"role": "user", "content": f"Compare answer {i} " * (20 + i)}])
        + "Verdict: [["
        for i in range(6)
    ]
    prompt_tokens = sum(len(model.encode(p)) for p in prompts)
    tail_tokens = len(prompts) * sum(len(model.encode(c)) - 1 for c in choices)
    fed = []

    def count(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        new = kwargs["input_ids"].shape[1]
        fed.append(int(kwargs["attention_mask"][:, -new:].sum()))

    handle = model.model.register_forward_pre_hook(count, with_kwargs=True)
    try:
        before = model.tokens_fed
        scores = model.choice_logprobs(prompts, choices)
    finally:
        handle.remove()
    assert sum(fed) == prompt_tokens + tail_tokens == model.tokens_fed - before
    assert sum(fed) / prompt_tokens < 1.1  # was 3.02x with one prompt+choice row per choice
    assert [s.prompt_tokens for s in scores] == [len(model.encode(p)) for p in prompts]


def test_bad_requests_are_rejected(model: TransformersChatModel) -> None:
    with pytest.raises(InputError, match="empty"):
        model.generate([""], SamplingParams())
    with pytest.raises(InputError, match="max_model_len"):
        model.generate(["x " * 2000], SamplingParams())
    with pytest.raises(InputError, match="distinct"):
        model.choice_logprobs(["p"], ["A", "A"])
    with pytest.raises(InputError, match="role"):
        model.chat([[{"content": "no role"}]], SamplingParams())
