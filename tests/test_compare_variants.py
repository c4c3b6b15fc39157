"""scripts/compare_variants.py: variants parsed and merged into the config, pairs compared on the
same tasks and seeds, reports of other seeds merged (the pipeline runs are the demo's, not here)."""

import json

import pytest
import yaml

from scripts.compare_variants import (
    compare,
    default_pairs,
    merge_reports,
    parse_variant,
    variant_config,
)
from wc_foundation.config import overlay
from wc_foundation.storage import Home

TASKS = [f"t{i}" for i in range(20)]


def run(variant: str, seed: int, sft_passes: int, preference_passes: int | None = None) -> dict:
    """A run whose SFT target passes the first `sft_passes` tasks (and its preference target
    the first `preference_passes`)."""
    outcomes = {"base": dict.fromkeys(TASKS, 0.0)}
    outcomes["sft"] = {t: float(i < sft_passes) for i, t in enumerate(TASKS)}
    if preference_passes is not None:
        outcomes["preference"] = {t: float(i < preference_passes) for i, t in enumerate(TASKS)}
    return {"variant": variant, "seed": seed, "outcomes": outcomes}


def test_a_variant_is_a_name_and_a_json_object():
    assert parse_variant('dpo={"target": {"preference": "dpo"}}') == (
        "dpo",
        {"target": {"preference": "dpo"}},
    )
    for bad, message in [("paper", "NAME=JSON"), ("x={not json", "not JSON"), ("x=[1]", "object")]:
        with pytest.raises(SystemExit, match=message):
            parse_variant(bad)


def test_overrides_merge_key_by_key():
    base = {"target": {"slug": "t", "sft": {"epochs": 3}}, "winners": {"alpha": 0.7}}
    merged = overlay(base, {"target": {"sft": {"seed": 2}}, "winners": {"alpha": 0.3}})
    assert merged == {
        "target": {"slug": "t", "sft": {"epochs": 3, "seed": 2}},
        "winners": {"alpha": 0.3},
    }
    assert base["target"]["sft"] == {"epochs": 3}  # the base is left as it was


def test_the_seed_reaches_sft_and_preference_and_conditions_are_off(tmp_path):
    config = tmp_path / "arena.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "experts": [{"slug": "a", "model": "${WC_HOME}/a"}, {"slug": "b", "model": "/b"}],
                "target": {"slug": "t", "model": "/t"},
            }
        )
    )
    home = Home.resolve(tmp_path / "home")
    out = variant_config(config, {"target": {"preference": "dpo"}}, 3, tmp_path / "v.yaml", home)
    data = yaml.safe_load(out.read_text())
    assert data["target"]["sft"]["seed"] == 3
    assert data["target"]["preference"] == {"method": "dpo", "seed": 3}
    assert data["evaluation"]["compare_conditions"] is False
    assert data["experts"][0]["model"] == f"{home.root}/a"


def test_pairs_compare_the_same_tasks_at_the_same_seeds():
    runs = [run("paper", 0, 10), run("paper", 1, 12), run("dpo", 0, 10, 6), run("dpo", 1, 12, 8)]
    assert default_pairs(runs, ["paper", "dpo"]) == [
        ("dpo/preference", "paper/sft"),
        ("dpo/sft", "paper/sft"),
    ]
    rows = {
        r["variant"] + "/" + r["model"]: r
        for r in compare(runs, default_pairs(runs, ["paper", "dpo"]))
    }
    worse = rows["dpo/preference"]
    assert worse["diff_per_seed"] == [-0.2, -0.2] and worse["seeds"] == [0, 1]
    assert worse["bootstrap"]["difference"] == pytest.approx(-0.2)
    assert worse["bootstrap"]["upper"] < 0 and worse["bootstrap"]["tasks"] == 20
    assert rows["dpo/sft"]["bootstrap"]["difference"] == 0  # the same SFT run in both variants
    # a seed that only one side ran is left out of the pair
    partial = compare([*runs, run("dpo", 2, 5, 5)], [("dpo/preference", "paper/sft")])
    assert partial[0]["seeds"] == [0, 1]


def test_reports_of_other_seeds_merge_and_the_same_seed_twice_is_refused(tmp_path):
    variants = {"paper": {}, "dpo": {"target": {"preference": "dpo"}}}
    first = {
        "config": "c",
        "variants": variants,
        "runs": [run("paper", 0, 10), run("dpo", 0, 10, 6)],
    }
    second = {
        "config": "c",
        "variants": variants,
        "runs": [run("paper", 1, 12), run("dpo", 1, 12, 8)],
    }
    paths = []
    for index, report in enumerate([first, second]):
        paths.append(tmp_path / f"r{index}.json")
        paths[-1].write_text(json.dumps(report))
    merge_reports(paths, tmp_path / "merged.json", [["dpo/preference", "paper/sft"]])
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["seeds"] == [0, 1] and merged["comparisons"][0]["diff_per_seed"] == [-0.2, -0.2]
    summary = json.loads((tmp_path / "merged.summary.json").read_text())
    assert "outcomes" not in summary["runs"][0] and summary["runs"][0]["pass_at_1"]["sft"] == 0.5
    with pytest.raises(SystemExit, match="same"):
        merge_reports([paths[0], paths[0]], tmp_path / "twice.json", None)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(second | {"variants": {"paper": {}}}))
    with pytest.raises(SystemExit, match="variants differ"):
        merge_reports([paths[0], other], tmp_path / "x.json", None)
