"""`make docs-build`'s command on the fixture warehouse: one static page that documents every
model and column, and that a plain static file server serves."""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.dbt.dbt_runner import run_dbt

pytestmark = pytest.mark.slow


def embedded_json(page: str, name: str) -> dict:
    """The manifest or catalog that `dbt docs generate --static` inlines in the page."""
    match = re.search(r'"' + name + r'":\s*(\{)', page)
    assert match, name
    decoder = json.JSONDecoder()
    value, _ = decoder.raw_decode(page, match.start(1))
    return value


def test_static_docs_describe_every_model_and_column(fixture_warehouse: Path, tmp_path: Path):
    copy = tmp_path / "docs_warehouse.duckdb"
    shutil.copy(fixture_warehouse, copy)  # as `make docs-build`: never the live file
    target = tmp_path / "dbt_docs"
    run_dbt(
        ["docs", "generate", "--static", "--target-path", str(target)],
        wc_home=fixture_warehouse.parent,
        warehouse=copy,
        work_dir=tmp_path,
    )
    page = (target / "static_index.html").read_text(encoding="utf-8")
    manifest = (target / "manifest.json").read_text(encoding="utf-8")
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    models = {
        node["name"]: node
        for node in json.loads(manifest)["nodes"].values()
        if node["resource_type"] == "model"
    }
    assert {
        "battle_votes",
        "battles",
        "pair_win_matrix",
        "rating_pair_counts",
        "leaderboard",
    } <= set(models)
    for name, node in models.items():
        assert node["description"].strip(), f"{name} has no description"
        undocumented = [c for c, column in node["columns"].items() if not column["description"]]
        assert not undocumented, f"{name}: columns without a description: {undocumented}"
        # every column the warehouse really has is documented in the yml
        built = catalog["nodes"].get(node["unique_id"])
        if built is not None:
            assert set(built["columns"]) <= set(node["columns"]), name
    assert set(embedded_json(page, "nodes")) >= {n["unique_id"] for n in models.values()}

    handler = partial(SimpleHTTPRequestHandler, directory=str(target))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/static_index.html"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert b"battle_votes" in response.read()
    finally:
        server.shutdown()
        server.server_close()
