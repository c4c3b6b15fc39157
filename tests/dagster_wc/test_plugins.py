"""Plugins' Dagster definitions join the product's: the demo's `demo_effect` when it is installed."""

from pathlib import Path

import dagster as dg

import dagster_wc.definitions as definitions

PAPER = Path(__file__).resolve().parents[2] / "configs" / "paper.yaml"


def test_the_installed_demo_brings_demo_effect_into_the_evaluation_group(tmp_path):
    defs = definitions.build_definitions(PAPER, str(tmp_path))
    node = defs.resolve_asset_graph().get(dg.AssetKey("demo_effect"))
    assert node.group_name == "evaluation"
    assets_def = defs.resolve_assets_def("demo_effect")
    assert assets_def.op.compute_fn.decorated_fn.__module__ == "wc_demo.assets"


def test_without_plugins_the_product_has_no_demo_asset(tmp_path, monkeypatch):
    monkeypatch.setattr(definitions, "entry_points", lambda group: [])
    keys = (
        definitions.build_definitions(PAPER, str(tmp_path))
        .resolve_asset_graph()
        .get_all_asset_keys()
    )
    assert dg.AssetKey("evaluation") in keys
    assert dg.AssetKey("demo_effect") not in keys
