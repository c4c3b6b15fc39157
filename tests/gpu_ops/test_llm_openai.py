"""The OpenAI-compatible backend against a local fake server (http.server in a thread)."""

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gpu_ops.errors import BackendError, InputError
from gpu_ops.llm import ModelSpec, SamplingParams, load_model


def char_logprob(ch: str) -> float:
    """The fake server's model: each character is a token with a fixed log-probability."""
    return -0.1 * (ord(ch) % 7 + 1)


@dataclass
class ServerState:
    """Scripted failures (popped one per request) and a log of request bodies."""

    plan: list[str] = field(default_factory=list)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def token_logprob(context: list[int], token: int) -> float:
    """The fake server's token model: log p(token | context), deterministic in both."""
    return -0.1 * ((token * 3 + len(context) + sum(context)) % 11 + 1)


def _token_completion(body: dict) -> dict:
    """A token-id prompt with vLLM's `logprob_token_ids` and `return_tokens_as_token_ids`."""
    ids = body["prompt"]
    wanted = body.get("logprob_token_ids") if body.get("honor_token_ids", True) else None
    top = {f"token_id:{t}": token_logprob(ids, t) for t in (wanted or [0])}
    return {
        "choices": [
            {
                "text": "",
                "finish_reason": "length",
                "logprobs": {
                    "tokens": ["token_id:0"],
                    "token_logprobs": [-1.0],
                    "top_logprobs": [top],
                },
            }
        ],
        "usage": {"prompt_tokens": len(ids), "completion_tokens": 1},
    }


def _completion(body: dict) -> dict:
    prompt = body["prompt"]
    if isinstance(prompt, list):
        return _token_completion(body)
    if body.get("echo"):
        offsets = list(range(len(prompt) + 1))
        values = [None] + [char_logprob(c) for c in prompt[1:]] + [-0.5]
        return {
            "choices": [
                {
                    "text": prompt + "x",
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": [*prompt, "x"],
                        "token_logprobs": values,
                        "text_offset": offsets,
                    },
                }
            ],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1},
        }
    full = f"seed={body.get('seed')};t={body['temperature']};p={prompt[-6:]}"
    text = full[: body["max_tokens"]]
    for stop in body.get("stop", []):
        if stop in text:
            return _reply(text[: text.index(stop)], "stop", len(prompt))
    return _reply(text, "length" if len(full) > body["max_tokens"] else "stop", len(prompt))


def _reply(text: str, finish: str, prompt_tokens: int) -> dict:
    return {
        "choices": [{"text": text, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text)},
    }


def _chat(body: dict) -> dict:
    roles = "/".join(m["role"] for m in body["messages"])
    content = f"{roles}:{body['messages'][-1]['content']}:seed={body.get('seed')}"
    return {
        "choices": [
            {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.requests.append((self.path, body))
                action = state.plan.pop(0) if state.plan else "ok"
            if action == "sleep":
                time.sleep(0.6)
            if action in ("500", "429", "400"):
                self._send(int(action), b'{"error": "scripted"}')
            elif action == "abort":  # what vLLM sends for in-flight requests when it shuts down
                self._send(
                    200, b'{"choices": [{"text": "", "finish_reason": "abort"}], "usage": {}}'
                )
            elif action == "badjson":
                self._send(200, b'{"choices": [')
            elif action == "surrogate":  # a lone surrogate, as JSON can carry it
                self._send(
                    200, b'{"choices": [{"text": "ok \\ud800 end", "finish_reason": "stop"}]}'
                )
            elif self.path == "/v1/completions":
                self._send(200, json.dumps(_completion(body)).encode())
            elif self.path == "/v1/chat/completions":
                self._send(200, json.dumps(_chat(body)).encode())
            else:
                self._send(404, b"{}")

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spec(*endpoints: str, **kwargs: object) -> ModelSpec:
    defaults = {"max_retries": 3, "retry_backoff_s": 0.01, "request_timeout_s": 5.0}
    return ModelSpec(
        slug="served",
        model="org/served-model",
        backend="openai",
        endpoints=endpoints,
        **{**defaults, **kwargs},
    )


def test_generate_uses_completions_with_per_request_params(server: tuple[str, ServerState]) -> None:
    url, state = server
    model = load_model(_spec(url))
    params = [SamplingParams(temperature=0.5, max_new_tokens=100, seed=i) for i in range(5)]
    out = model.generate([f"prompt {i}" for i in range(5)], params)
    assert [g.text for g in out] == [f"seed={i};t=0.5;p=ompt {i}" for i in range(5)]
    assert all(g.finish_reason == "stop" and g.prompt_tokens == 8 for g in out)
    paths = {p for p, _ in state.requests}
    assert paths == {"/v1/completions"}
    body = state.requests[0][1]
    assert body["model"] == "org/served-model" and body["add_special_tokens"] is False
    short = model.generate(["abc"], SamplingParams(max_new_tokens=4, stop=(";t",)))[0]
    assert (short.text, short.finish_reason) == ("seed", "length")
    stopped = model.generate(["abc"], SamplingParams(max_new_tokens=99, stop=(";t",), seed=7))[0]
    assert (stopped.text, stopped.finish_reason) == ("seed=7", "stop")


def test_chat_uses_chat_completions_and_default_system_prompt(
    server: tuple[str, ServerState],
) -> None:
    url, state = server
    model = load_model(_spec(url, default_system_prompt="You are Qwen."))
    out = model.chat([[{"role": "user", "content": "hi"}]], SamplingParams(seed=3))
    assert out[0].text == "system/user:hi:seed=3"
    assert state.requests[-1][0] == "/v1/chat/completions"
    assert state.requests[-1][1]["messages"][0] == {"role": "system", "content": "You are Qwen."}
    with pytest.raises(InputError, match="tokenizer"):
        model.render_prequery("S")  # no local tokenizer for a hub id that is not cached


def test_choice_logprobs_without_a_tokenizer_echo_each_choice(
    server: tuple[str, ServerState],
) -> None:
    url, state = server
    model = load_model(_spec(url))
    choices = ["A", "B", "Tie"]
    out = model.choice_logprobs(["Verdict: [[", "x"], choices)
    raw = [sum(char_logprob(c) for c in choice) for choice in choices]
    total = math.log(sum(math.exp(r) for r in raw))
    for prompt, row in zip(["Verdict: [[", "x"], out, strict=True):
        assert math.isclose(sum(math.exp(v) for v in row.logprobs.values()), 1.0, rel_tol=1e-9)
        for choice, r in zip(choices, raw, strict=True):
            assert row.logprobs[choice] == pytest.approx(r - total)
        assert row.prompt_tokens == len(prompt)  # the fake server's tokens are characters
    assert len(state.requests) == 6 and all(b["echo"] for _, b in state.requests)


def test_choice_logprobs_with_a_tokenizer_send_each_prompt_once_per_trie_node(
    server: tuple[str, ServerState], tiny_tokenizer_dir
) -> None:
    """Token-id prompts, exact choice-token logprobs (logprob_token_ids), no echo; the prompt
    alone first, then prompt + shared choice prefixes (served by the prefix cache)."""
    from transformers import AutoTokenizer

    url, state = server
    model = load_model(_spec(url, tokenizer=str(tiny_tokenizer_dir)))
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts = ["<|assistant|>\nRating: [[", "x"]
    choices = [f"{n}]]" for n in range(1, 11)]
    out = model.choice_logprobs(prompts, choices)
    for prompt, row in zip(prompts, out, strict=True):
        ids = encode(prompt)
        raw = [
            sum(token_logprob(ids + c[:t], c[t]) for t in range(len(c)))
            for c in (encode(choice) for choice in choices)
        ]
        total = math.log(sum(math.exp(r) for r in raw))
        assert [row.logprobs[c] for c in choices] == pytest.approx([r - total for r in raw])
        assert row.prompt_tokens == len(ids)
    bodies = [b for _, b in state.requests]
    assert not any(b.get("echo") for b in bodies)
    nodes = {tuple(encode(c)[:t]) for c in choices for t in range(len(encode(c)))}
    assert len(bodies) == len(prompts) * len(nodes)
    # Level by level: every prompt alone first, so later requests find it in the prefix cache.
    first = sorted(tuple(b["prompt"]) for b in bodies[: len(prompts)])
    assert first == sorted(tuple(encode(p)) for p in prompts)
    assert all(b["logprob_token_ids"] and b["max_tokens"] == 1 for b in bodies)


def test_a_server_without_logprob_token_ids_is_an_error_not_a_guess(
    server: tuple[str, ServerState], tiny_tokenizer_dir
) -> None:
    url, _ = server
    model = load_model(_spec(url, tokenizer=str(tiny_tokenizer_dir)))
    original = model._post

    def ignoring(path: str, body: dict, check):  # a server that drops the vLLM extension
        return original(path, {**body, "honor_token_ids": False}, check)

    model._post = ignoring
    with pytest.raises(BackendError, match="no logprob for choice token"):
        model.choice_logprobs(["Verdict: [["], ["A]]", "B]]"])


@pytest.mark.parametrize("failure", ["500", "429", "badjson", "sleep", "abort"])
def test_transient_failures_are_retried(server: tuple[str, ServerState], failure: str) -> None:
    url, state = server
    state.plan = [failure]
    model = load_model(_spec(url, request_timeout_s=0.3))
    out = model.generate(["hello"], SamplingParams(seed=1))
    assert out[0].text.startswith("seed=1")
    assert len(state.requests) == 2


def test_lone_surrogates_are_replaced_so_the_reply_can_be_stored(
    server: tuple[str, ServerState], tmp_path
) -> None:
    from gpu_ops.llm import CallCache

    url, state = server
    state.plan = ["surrogate"]
    model = load_model(_spec(f"{url}/v1"), cache=CallCache(tmp_path / "calls.sqlite"))
    (out,) = model.generate(["prompt"], [SamplingParams(temperature=0.0, max_new_tokens=8)])
    assert out.text == "ok \ufffd end"  # cached (UTF-8) without an error


def test_persistent_failure_names_status_and_attempts(server: tuple[str, ServerState]) -> None:
    url, state = server
    state.plan = ["500"] * 3
    model = load_model(_spec(url))
    with pytest.raises(BackendError, match=rf"HTTP 500 at {url}/v1/completions.*after 3 attempts"):
        model.generate(["hello"], SamplingParams())


def test_client_errors_are_not_retried(server: tuple[str, ServerState]) -> None:
    url, state = server
    state.plan = ["400"]
    with pytest.raises(BackendError, match=r"HTTP 400.*not retried"):
        load_model(_spec(url)).generate(["hello"], SamplingParams())
    assert len(state.requests) == 1


def test_down_server_gives_a_clear_error() -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    model = load_model(_spec(down))
    with pytest.raises(
        BackendError,
        match=rf"server down at {down}/v1/completions: connection refused.*after 3 attempts",
    ):
        model.generate(["hello"], SamplingParams())


def test_several_endpoints_balance_and_fail_over(server: tuple[str, ServerState]) -> None:
    url, state = server
    down = f"http://127.0.0.1:{_free_port()}"
    model = load_model(_spec(down, url, max_concurrency=4))
    out = model.chat(
        [[{"role": "user", "content": str(i)}] for i in range(8)], SamplingParams(seed=0)
    )
    assert [g.text for g in out] == [f"user:{i}:seed=0" for i in range(8)]
    assert len(state.requests) == 8  # every request reached the live endpoint


def test_api_key_comes_from_the_named_environment_variable(
    server: tuple[str, ServerState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    with pytest.raises(InputError, match="WC_TEST_KEY"):
        load_model(_spec(url, api_key_env="WC_TEST_KEY"))
    monkeypatch.setenv("WC_TEST_KEY", "secret")
    assert (
        load_model(_spec(url, api_key_env="WC_TEST_KEY"))
        .generate(["q"], SamplingParams(seed=2))[0]
        .text
    )


def test_rendering_with_a_local_tokenizer(
    server: tuple[str, ServerState], tiny_model_dir: object
) -> None:
    url, _ = server
    model = load_model(_spec(url, tokenizer=str(tiny_model_dir)))
    assert model.render_prequery("S") == "<|bos|><|system|>\nS<|end|>\n<|user|>\n"
    assert model.stop_strings == ("<|end|>", "<|eos|>")
