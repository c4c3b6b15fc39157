"""ModelSpec / SamplingParams validation, renormalization and cheap imports."""

import math
import subprocess
import sys

import pytest

from gpu_ops.errors import InputError
from gpu_ops.llm import ModelSpec, SamplingParams
from gpu_ops.llm.base import choice_tree, expand_sampling, renormalize, sum_choice_logprobs


def test_spec_defaults_and_endpoint_normalization() -> None:
    spec = ModelSpec(
        slug="qwen-7b",
        model="Qwen/Qwen2.5-Coder-7B-Instruct",
        backend="openai",
        endpoints=["http://a:8000/v1/", "http://b:8000"],
    )
    assert spec.endpoints == ("http://a:8000", "http://b:8000")
    assert spec.dtype == "auto" and spec.batch_size == 16 and spec.max_retries == 5
    assert ModelSpec(slug="x", model="m", backend="openai", endpoints="http://h:1").endpoints == (
        "http://h:1",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"slug": "a/b"}, "slug"),
        ({"model": " "}, "model"),
        ({"backend": "onnx"}, "backend"),
        ({"backend": "openai"}, "endpoints"),
        ({"endpoints": ("http://h:1",)}, "endpoints"),
        ({"backend": "openai", "endpoints": ("ftp://h",)}, "endpoints"),
        ({"dtype": "int3"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_retries": 0}, "max_retries"),
        ({"max_concurrency": 1.5}, "max_concurrency"),
        ({"tensor_parallel_size": True}, "tensor_parallel_size"),
        ({"max_model_len": -1}, "max_model_len"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"retry_backoff_s": -1}, "retry_backoff_s"),
        ({"chat_template": 3}, "chat_template"),
    ],
)
def test_spec_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    base = {"slug": "tiny", "model": "/m", "backend": "transformers"}
    with pytest.raises(InputError, match=field):
        ModelSpec(**{**base, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"stop": ("",)}, "stop"),
        ({"seed": -1}, "seed"),
    ],
)
def test_sampling_rejects_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        SamplingParams(**kwargs)


def test_sampling_normalizes_stop_and_broadcasts() -> None:
    assert SamplingParams(stop="<|end|>").stop == ("<|end|>",)
    assert SamplingParams(stop=["a", "b"]).stop == ("a", "b")
    one = SamplingParams(seed=1)
    assert expand_sampling(one, 3) == [one, one, one]
    with pytest.raises(InputError, match="2 SamplingParams for 3 requests"):
        expand_sampling([one, one], 3)


def test_renormalize_sums_to_one_per_prompt() -> None:
    out = renormalize(["A", "B", "Tie"], [-1.0, -2.0, -30.0, -5.0, -5.0, -5.0], [7, 9])
    for row in out:
        assert math.isclose(sum(math.exp(v) for v in row.logprobs.values()), 1.0, rel_tol=1e-12)
    assert math.isclose(out[1].logprobs["A"], math.log(1 / 3))
    assert out[0].logprobs["A"] - out[0].logprobs["B"] == pytest.approx(1.0)
    assert [row.prompt_tokens for row in out] == [7, 9]


def test_choice_tree_lists_each_shared_prefix_once() -> None:
    # "1]]" = [1, 9], "10]]" = [1, 0, 9], "2]]" = [2, 9]
    tree = choice_tree([[1, 9], [1, 0, 9], [2, 9]])
    assert tree == {(): {1, 2}, (1,): {9, 0}, (1, 0): {9}, (2,): {9}}
    with pytest.raises(InputError, match="no tokens"):
        choice_tree([[1], []])


def test_sum_choice_logprobs_walks_each_choice_through_the_tree() -> None:
    at = {(): {1: -0.5, 2: -1.0}, (1,): {9: -0.1, 0: -2.0}, (1, 0): {9: -0.3}, (2,): {9: -0.2}}
    got = sum_choice_logprobs([[1, 9], [1, 0, 9], [2, 9]], at)
    assert got == pytest.approx([-0.6, -2.8, -1.2])


def test_importing_the_package_loads_no_vllm_and_no_torch() -> None:
    code = "import sys, gpu_ops.llm; print('vllm' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_vllm_backend_without_vllm_gives_a_clear_error() -> None:
    pytest.importorskip("torch")
    if "vllm" in sys.modules or _has_vllm():
        pytest.skip("vllm is installed")
    from gpu_ops.llm import load_model

    with pytest.raises(InputError, match="vllm"):
        load_model(ModelSpec(slug="v", model="/nowhere", backend="vllm"))


def _has_vllm() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None
