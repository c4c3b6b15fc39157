"""Session fixture: the warehouse dbt builds from the synthetic fixture lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbt.dbt_runner import build_fixture_warehouse


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session (shared with tests/test_models_sql.py through the same folder)."""
    return build_fixture_warehouse(tmp_path_factory.getbasetemp() / "wc_dbt_fixture")
