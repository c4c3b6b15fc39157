"""Session fixtures of the real-engine tests: one tiny 64-wide-head model, one in-process engine
run, two `vllm serve` servers; each built or started once per test session.

`make test` runs these tests in their own pytest process (no xdist: one engine per fixture for
the whole run) with WC_REQUIRE_VLLM=1, under which a skipped `vllm_engine` test fails instead:
there, the vLLM env is installed first, so a skip would only hide a broken setup.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.vllm_engine.engine import Server, require_vllm_env, run_driver


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under WC_REQUIRE_VLLM=1, a `vllm_engine` test that skips is reported as failed."""
    report: pytest.TestReport = yield
    required = os.environ.get("WC_REQUIRE_VLLM") == "1"
    if required and report.skipped and item.get_closest_marker("vllm_engine") is not None:
        reason = call.excinfo.exconly() if call.excinfo is not None else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but WC_REQUIRE_VLLM=1 (make test) forbids it: {reason}"
    return report


@pytest.fixture(scope="session")
def vllm_model_dir(tiny_tokenizer_dir: Path) -> Path:
    """A random tiny Llama whose heads are 64 wide (vLLM's CPU attention rejects 16)."""
    from wc_demo.tiny_model import build_tiny_model

    return build_tiny_model(
        tiny_tokenizer_dir.parent / "model64",
        tokenizer_dir=tiny_tokenizer_dir,
        hidden_size=128,
        num_heads=2,
        intermediate_size=256,
    )


@pytest.fixture(scope="session")
def vllm_offline(vllm_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """run_stages through backend vllm (vllm.LLM in the vLLM env), twice on one engine."""
    out = tmp_path_factory.mktemp("vllm_offline") / "stages.json"
    return run_driver("stages", str(vllm_model_dir), str(out))


@pytest.fixture(scope="session")
def vllm_servers(
    vllm_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    """Two `vllm serve` processes on 127.0.0.1 for the whole session, stopped at its end."""
    require_vllm_env()
    logs = tmp_path_factory.mktemp("vllm_serve")
    servers = [Server(vllm_model_dir, "tiny64", logs / f"server{i}.log") for i in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
