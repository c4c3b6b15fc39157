"""Config validation: the paper defaults, and bad configs that fail with a message naming the field."""

from pathlib import Path

import pytest

from wc_foundation.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def two_experts(**overrides) -> dict:
    config = {
        "experts": [
            {"slug": "alpha", "model": "/models/a"},
            {"slug": "beta", "model": "/models/b"},
        ]
    }
    config.update(overrides)
    return config


def test_defaults_equal_the_paper():
    config = parse_config(two_experts())
    assert (
        config.dedup.threshold == 0.5
        and config.dedup.num_perm == 128
        and config.dedup.shingle_size == 1
    )
    assert config.scoring.min_score == 6
    assert config.winners.alpha == 0.7
    assert config.ratings.elo_k == 40
    assert (config.responses.temperature, config.responses.top_p) == (1.0, 0.95)
    assert config.mining.max_new_tokens == 2048
    temperatures = [s.temperature for s in config.mining.sampling_grid]
    assert min(temperatures) == 1.0 and max(temperatures) == 1.2
    assert config.judging.both_orders is True


def test_sft_defaults_equal_the_paper():
    config = parse_config(two_experts(target={"slug": "target", "model": "/models/t"}))
    sft = config.target.sft
    assert (sft.learning_rate, sft.warmup_ratio, sft.lr_scheduler, sft.epochs, sft.max_seq_len) == (
        1e-5,
        0.2,
        "cosine",
        3,
        2048,
    )


@pytest.mark.parametrize(
    "path",
    sorted([*(REPO / "configs").glob("*.yaml"), *(REPO / "configs" / "ablation").glob("*.yaml")]),
    ids=lambda p: p.name,
)
def test_shipped_configs_validate(path, tmp_path):
    config = load_config(path, home=tmp_path)
    assert len(config.experts) >= 2


def test_judges_are_the_uninvolved_experts_plus_extras():
    config = parse_config(
        two_experts(judging={"extra_judges": [{"slug": "gamma", "model": "/m/g"}]})
    )
    assert [j.slug for j in config.judge_models()] == ["alpha", "beta", "gamma"]


def test_wc_home_is_substituted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "experts:\n  - {slug: a, model: '${WC_HOME}/models/a'}\n  - {slug: b, model: /m/b}\n"
    )
    assert load_config(path, home=tmp_path / "home").experts[0].model == f"{tmp_path}/home/models/a"


BAD_CONFIGS = [
    (
        "duplicate slugs",
        {"experts": [{"slug": "a", "model": "x"}, {"slug": "a", "model": "y"}]},
        ["experts", "duplicate slugs ['a']"],
    ),
    (
        "slug not usable as a partition key",
        {"experts": [{"slug": "Qwen/72B", "model": "x"}, {"slug": "b", "model": "y"}]},
        ["experts.0.slug", "not usable as a partition key", "'Qwen/72B'"],
    ),
    (
        "alpha outside [0, 1]",
        two_experts(winners={"alpha": 1.5}),
        ["winners.alpha", "outside [0, 1]", "1.5"],
    ),
    (
        "preference margin of zero keeps undecided battles",
        two_experts(preference={"min_margin": 0}),
        ["preference.min_margin", "outside (0, 1]", "0"],
    ),
    (
        "an SFT term on KTO, which has no chosen answer to add it to",
        two_experts(
            target={"slug": "t", "model": "/m/t", "preference": {"method": "kto", "sft_weight": 1}}
        ),
        ["target.preference", "sft_weight (1.0)", "needs method: dpo, not kto"],
    ),
    (
        "openai backend without endpoint",
        {
            "experts": [
                {"slug": "a", "model": "x", "backend": "openai"},
                {"slug": "b", "model": "y"},
            ]
        },
        ["experts.0", "no endpoints"],
    ),
    (
        "unknown scorer",
        two_experts(scoring={"scorers": ["alpha", "zeta"]}),
        ["scoring.scorers", "unknown expert(s) ['zeta']", "allowed"],
    ),
    (
        "unknown backend",
        {"experts": [{"slug": "a", "model": "x", "backend": "tgi"}, {"slug": "b", "model": "y"}]},
        ["experts.0.backend", "'transformers', 'vllm' or 'openai'", "'tgi'"],
    ),
    (
        "one expert only",
        {"experts": [{"slug": "a", "model": "x"}]},
        ["at least two enabled competitors"],
    ),
    (
        "unknown field",
        two_experts(dedupe={"threshold": 0.4}),
        ["dedupe", "Extra inputs are not permitted"],
    ),
    (
        "threshold out of range",
        two_experts(dedup={"threshold": 0}),
        ["dedup.threshold", "greater than 0"],
    ),
    (
        "extra judge named like an expert",
        two_experts(judging={"extra_judges": [{"slug": "alpha", "model": "z"}]}),
        ["judging.extra_judges", "clash"],
    ),
    (
        "fractional k above one",
        two_experts(selection={"k": 2.5}),
        ["selection.k", "fraction in (0, 1)"],
    ),
    (
        "reserving world not installed",
        two_experts(mining={"reserved_worlds": ["nowhere"]}),
        ["mining.reserved_worlds", "'nowhere' names no installed world"],
    ),
    (
        "endpoint not a URL",
        {
            "experts": [
                {"slug": "a", "model": "x", "backend": "openai", "endpoints": ["localhost:8000"]},
                {"slug": "b", "model": "y"},
            ]
        },
        ["experts.0.endpoints", "not an http(s) URL"],
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "fragments"), BAD_CONFIGS, ids=[b[0] for b in BAD_CONFIGS]
)
def test_bad_config_fails_naming_the_field(name, data, fragments):
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source="test.yaml")
    message = str(caught.value)
    assert message.startswith("invalid config test.yaml")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("experts: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(scalar)


def test_extends_lays_a_file_over_another(tmp_path):
    """`extends`: mappings merge key by key, lists are replaced; loops and missing bases are
    clear errors."""
    from wc_foundation.config import read_config_data

    base = tmp_path / "base.yaml"
    base.write_text(
        "name: base\nexperts: [{slug: a, model: x}, {slug: b, model: y}]\n"
        "judging: {both_orders: false, top_p: 0.9}\n"
    )
    child = tmp_path / "sub" / "child.yaml"
    child.parent.mkdir()
    child.write_text("extends: ../base.yaml\nname: child\njudging: {top_p: 0.5}\n")
    data = read_config_data(child, home=tmp_path)
    assert data["name"] == "child" and data["judging"] == {"both_orders": False, "top_p": 0.5}
    assert [e["slug"] for e in data["experts"]] == ["a", "b"]
    config = load_config(child, home=tmp_path)
    assert config.judging.top_p == 0.5 and config.judging.both_orders is False
    child.write_text("extends: ../base.yaml\nexperts: [{slug: c, model: z}, {slug: d, model: w}]\n")
    assert [e.slug for e in load_config(child, home=tmp_path).experts] == ["c", "d"]
    base.write_text("extends: sub/child.yaml\nname: base\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(child, home=tmp_path)
    child.write_text("extends: ../missing.yaml\n")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(child, home=tmp_path)


def test_a_reserving_world_must_reserve_something(monkeypatch):
    """Naming a world without `reserved_reason` would silently keep nothing out of the arena."""
    import gpu_ops.worlds as worlds

    class Plain:
        name = "plain"

        def hidden_tests(self, instruction):
            return []

        def benchmark_problems(self, max_problems=None):
            return []

        def benchmark_task_id(self, instruction):
            return None

    monkeypatch.setattr(worlds, "installed_worlds", lambda: {"plain": Plain()})
    with pytest.raises(ConfigError, match=r"mining.reserved_worlds[\s\S]*keep no instruction out"):
        parse_config(two_experts(mining={"reserved_worlds": ["plain"]}), source="test.yaml")
    assert parse_config(two_experts(), source="test.yaml").mining.reserved_worlds == ()
