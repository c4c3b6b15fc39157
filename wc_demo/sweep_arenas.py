"""One demo arena per cross-family share: writers that compete, an uninvolved judge.

At a share s every competitor is a writer (`wc_demo.experts`, phase 1 only) trained on its own
family and a share s of the others (`dataclasses.replace(expert, other_share=s)`, built by the
demo's own writer code: stamped, cached in `$WC_MODEL_CACHE`, and bundled with the package for
the sweep's shares, so a fresh clone trains no writer). The judges (default: the demo's general
judge, `wc_demo.experts.DEMO_JUDGE`) are `judging.extra_judges`: in no battle, so they judge
every battle, and the same at every share, so only the competitors' overlap varies.

Each share's arena is configs/demo.yaml with those models, run by the CLI's pipeline runner in
its own home (`<home>/sweeps/share-<s>`) up to the SFT export; the comparison of conditions is
`wc_demo.sweeps`'s.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from gpu_ops.errors import InputError
from wc_demo import experts
from wc_foundation.config import ArenaConfig
from wc_foundation.config.loading import overlay, parse_config, read_config_data
from wc_foundation.storage import Home

DEFAULT_SHARE = experts.DEMO_EXPERTS[0].other_share  # the demo's own experts' share
COMPETITOR_ROLES = ["miner", "scorer", "competitor"]  # no "judge": the extra judges judge
JUDGE_FAMILY = "demo-judges"
# Quick sweeps (tests, plumbing checks): the same models on a handful of instructions, problems
# and SFT steps.
QUICK_OVERRIDES: dict[str, Any] = {
    "mining": {"samples_per_setting": 4, "max_new_tokens": 64},
    "selection": {"k": 6},
    "responses": {"max_new_tokens": 64},
    "ratings": {"bootstrap_rounds": 20},
    "target": {"sft": {"epochs": 1}},
    "evaluation": {"max_problems": 6, "max_new_tokens": 48},
}


def share_label(share: float) -> str:
    return f"share-{share:.2f}"


def judge_slug(expert_slug: str) -> str:
    """The judge's slug in a sweep arena (a writer keeps the expert's slug; a judge's own slug
    is kept)."""
    if expert_slug.startswith("judge-"):
        return expert_slug
    return "judge-" + expert_slug.removeprefix("expert-")


def share_writers(models_dir: Path, share: float, *, use_bundle: bool = True) -> dict[str, Path]:
    """{slug: writer model dir} at ``share``, installed from the package's bundle (the sweep's
    shares ship there) or built (or reused) under <models>/demo/sweep/share-<s>/ (full-size: a
    quick build's writers mine nothing)."""
    if not 0.0 <= share <= 1.0:
        raise InputError(f"a cross-family share is in [0, 1], got {share}")
    specs = [replace(e, other_share=share) for e in experts.DEMO_EXPERTS]
    folder = Path("sweep") / share_label(share)
    return {
        spec.slug: experts.build_writer(models_dir, spec, folder=folder, use_bundle=use_bundle)
        for spec in specs
    }


def share_config(
    base: dict[str, Any],
    writers: dict[str, Path],
    judges: dict[str, Path],
    target: Path,
    *,
    quick: bool = False,
) -> dict[str, Any]:
    """The demo config's data with the writers competing and the judging experts judging.

    ``base``: configs/demo.yaml as read (`read_config_data`); its experts must be the writers'
    slugs. The result keeps every other setting (quick: `QUICK_OVERRIDES` laid over them).
    """
    data = copy.deepcopy(base)
    slugs = [e["slug"] for e in data["experts"]]
    if "target" not in data:
        raise InputError("the sweep fine-tunes the config's target: the config has no `target`")
    if sorted(slugs) != sorted(writers):
        raise InputError(
            f"the config's experts {slugs} are not the sweep's writers {sorted(writers)}"
        )
    for entry in data["experts"]:
        entry["model"] = str(writers[entry["slug"]])
        entry["roles"] = list(COMPETITOR_ROLES)
    judging = data.setdefault("judging", {})
    judging["extra_judges"] = [
        {
            "slug": judge_slug(slug),
            "model": str(path),
            "family": JUDGE_FAMILY,
            "batch_size": 32,
            "max_model_len": experts.MAX_POSITIONS,
        }
        for slug, path in sorted(judges.items())
    ]
    data["target"]["model"] = str(target)
    if quick:
        for section, values in QUICK_OVERRIDES.items():
            data[section] = overlay(data.get(section, {}), values)
    return data


def arena_only(data: dict[str, Any]) -> dict[str, Any]:
    """The config without its target: the pipeline stops at the SFT export (training and
    evaluation are the sweep's, at every seed)."""
    return {k: v for k, v in data.items() if k != "target"}


def run_share_arena(
    base_config: Path,
    home: Home,
    share: float,
    writers: dict[str, Path],
    judges: dict[str, Path],
    target: Path,
    *,
    quick: bool = False,
) -> tuple[Home, ArenaConfig]:
    """Run the arena of ``writers`` (`share_writers`) in <home>/sweeps/share-<s>/.

    Returns the share's home and its full config (target included, for the sweep's runs).
    The pipeline skips every step already done, so a rerun of the sweep costs seconds here."""
    from dagster_wc.orchestration.runner import run_pipeline

    root = home.root / "sweeps" / share_label(share)
    share_home = Home.resolve(root / "home")
    data = share_config(
        read_config_data(base_config, share_home.root), writers, judges, target, quick=quick
    )
    full = parse_config(data, source=f"{base_config} at {share_label(share)}")
    path = root / "arena.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(arena_only(data), sort_keys=False), encoding="utf-8")
    run_pipeline(path, share_home)
    return share_home, full
