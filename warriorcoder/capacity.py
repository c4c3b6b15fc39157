"""What an arena run costs: LLM calls per stage from the config, tokens and GPU-hours from rates.

Calls follow from the config alone (experts and their roles, languages, the sampling grid,
samples_per_setting, k, pairing, judges, presentation orders), except the instructions left
after cleaning and dedup, which a run measures. Tokens and GPU-hours need per-call lengths and a
serving throughput: `Rates` holds them with their source, either the stated assumptions below
or the lengths a finished run measured (`Rates.measured`, from the `stage_token_costs` mart).
`scripts/capacity_table.py` renders the one capacity table of docs/OPERATIONS.md from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import comb

from wc_foundation.config import ArenaConfig

STAGES = ("mining", "scoring", "responses", "judging")


@dataclass(frozen=True)
class Rates:
    """Per-call token lengths, the share of mined instructions left after cleaning and dedup,
    and the throughput of one serving replica."""

    source: str = (
        "assumed: typical lengths of a mined question, a rubric rationale, an answer and a "
        "verdict; a 70B-class expert at tensor parallel 4 on H100s under vLLM continuous "
        "batching (2,500 generated, 10,000 prompt tokens/s per replica); 60% of mined "
        "instructions survive cleaning and dedup"
    )
    survival: float = 0.6
    prompt_tokens: dict[str, float] = field(
        default_factory=lambda: {"mining": 60, "scoring": 400, "responses": 200, "judging": 1300}
    )
    generated_tokens: dict[str, float] = field(
        default_factory=lambda: {"mining": 150, "scoring": 120, "responses": 500, "judging": 300}
    )
    decode_tokens_per_s: float = 2500.0  # per replica
    prefill_tokens_per_s: float = 10000.0  # per replica
    gpus_per_replica: int = 4

    def measured(self, lengths: dict[str, tuple[float, float | None]], where: str) -> Rates:
        """These rates with the per-call (prompt, generated) means a run measured per stage;
        a generated mean of None (logprob mode) keeps the assumed length for generate mode."""
        prompt, generated = dict(self.prompt_tokens), dict(self.generated_tokens)
        for stage, (prompt_mean, generated_mean) in lengths.items():
            prompt[stage] = prompt_mean
            if generated_mean is not None:
                generated[stage] = generated_mean
        source = f"token lengths measured in {where}; throughput and survival: {self.source}"
        return replace(self, prompt_tokens=prompt, generated_tokens=generated, source=source)


@dataclass(frozen=True)
class StageCost:
    stage: str
    calls: int
    prompt_tokens: float
    generated_tokens: float
    gpu_hours: float


def _gpu_hours(rates: Rates, prompt: float, generated: float) -> float:
    seconds = prompt / rates.prefill_tokens_per_s + generated / rates.decode_tokens_per_s
    return rates.gpus_per_replica * seconds / 3600


def stage_calls(config: ArenaConfig, rates: Rates) -> dict[str, int]:
    """LLM calls per stage of one full run of `config` (the module docstring says what is read)."""
    miners = [e.slug for e in config.experts_with_role("miner")]
    mined = (
        len(miners)
        * len(config.mining.languages)
        * len(config.mining.sampling_grid)
        * config.mining.samples_per_setting
    )
    survivors = round(mined * rates.survival)
    scorers = set(config.scorer_slugs())
    own_share = sum(m in scorers for m in miners) / max(len(miners), 1)  # a scorer skips its own
    competitors = [e.slug for e in config.experts_with_role("competitor")]
    k = _absolute_k(config)
    n = len(competitors)
    pairs = comb(n, 2) if config.responses.pairing == "all" else n - 1
    judges = {j.slug for j in config.judge_models()}
    # judges of a battle: every judge but the two competitors in it
    in_pair = 2 * len(judges & set(competitors)) / max(n, 1)
    orders = 2 if config.judging.both_orders else 1
    return {
        "mining": mined,
        "scoring": round(survivors * (len(scorers) - own_share)),
        "responses": n * k,
        "judging": round(k * pairs * (len(judges) - in_pair) * orders),
    }


def stage_costs(config: ArenaConfig, rates: Rates) -> list[StageCost]:
    """Calls, tokens and GPU-hours per stage; logprob- and likelihood-mode stages generate nothing."""
    calls = stage_calls(config, rates)
    logprob = {
        "scoring": config.scoring.mode == "logprob",
        "judging": config.judging.mode != "generate",
    }
    costs = []
    for stage in STAGES:
        prompt = calls[stage] * rates.prompt_tokens[stage]
        generated = 0.0 if logprob.get(stage) else calls[stage] * rates.generated_tokens[stage]
        costs.append(
            StageCost(stage, calls[stage], prompt, generated, _gpu_hours(rates, prompt, generated))
        )
    return costs


def _absolute_k(config: ArenaConfig) -> int:
    if config.selection.k < 1:  # a share of the kept pool: known only after scoring
        raise ValueError("selection.k is a fraction: the capacity needs an absolute k")
    return int(config.selection.k)


def battles(config: ArenaConfig) -> int:
    n = len(config.experts_with_role("competitor"))
    pairs = comb(n, 2) if config.responses.pairing == "all" else n - 1
    return _absolute_k(config) * pairs


def added_expert(config: ArenaConfig) -> ArenaConfig:
    """`config` with one more expert in every role (a copy of the last one, new slug)."""
    extra = config.experts[-1].model_copy(update={"slug": "added-expert"})
    return config.model_copy(update={"experts": (*config.experts, extra)})


def increment_calls(config: ArenaConfig, rates: Rates) -> dict[str, int]:
    """LLM calls of adding one expert (every role) to a finished run of `config`, k unchanged:
    it mines its share, scores the old pool and is scored by the others, answers the k
    instructions, meets every competitor on each (judged by the uninvolved), and judges the
    existing battles (`judging.new_expert_judges_existing: on`). Execution results are cached:
    the sandbox runs only the new expert's k responses (and new tests on old responses)."""
    before, after = stage_calls(config, rates), stage_calls(added_expert(config), rates)
    n = len(config.experts_with_role("competitor"))
    k = _absolute_k(config)
    orders = 2 if config.judging.both_orders else 1
    judges = len(config.judge_models())
    return {
        "mining": after["mining"] - before["mining"],
        "scoring": after["scoring"] - before["scoring"],
        "responses": k,
        "judging": orders * (k * n * (judges + 1 - 2) + k * comb(n, 2)),
    }


def gpu_hours_of(config: ArenaConfig, calls: dict[str, int], rates: Rates) -> float:
    """GPU-hours of some calls per stage, at `rates`, in `config`'s decoding modes."""
    logprob = {
        "scoring": config.scoring.mode == "logprob",
        "judging": config.judging.mode != "generate",
    }
    return sum(
        _gpu_hours(
            rates,
            calls[stage] * rates.prompt_tokens[stage],
            0.0 if logprob.get(stage) else calls[stage] * rates.generated_tokens[stage],
        )
        for stage in STAGES
    )


def capacity_table(configs: dict[str, ArenaConfig], rates: Rates) -> str:
    """The markdown table: one row per stage and a total, calls and GPU-hours per config."""
    costs = {name: stage_costs(config, rates) for name, config in configs.items()}
    header = "| stage | " + " | ".join(f"{n}: calls | {n}: GPU-hours" for n in costs) + " |"
    lines = [header, "| --- |" + " --- | --- |" * len(costs)]
    for index, stage in enumerate(STAGES):
        cells = [f"{c[index].calls:,} | {c[index].gpu_hours:,.1f}" for c in costs.values()]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    totals = [
        f"**{sum(s.calls for s in c):,}** | **{sum(s.gpu_hours for s in c):,.0f}**"
        for c in costs.values()
    ]
    lines.append("| all LLM calls | " + " | ".join(totals) + " |")
    facts = "; ".join(
        f"{name}: {battles(config):,} battles, judging "
        f"{config.judging.mode}, {2 if config.judging.both_orders else 1} order(s), "
        f"sandbox runs {len(config.experts_with_role('competitor')) * _absolute_k(config):,}"
        for name, config in configs.items()
    )
    growth = []
    for name, config in configs.items():
        new = increment_calls(config, rates)
        full = stage_calls(added_expert(config), rates)
        growth.append(
            f"{name}: {sum(new.values()):,} new calls ({gpu_hours_of(config, new, rates):,.0f} "
            f"GPU-hours) against {sum(full.values()):,} ({gpu_hours_of(config, full, rates):,.0f}) "
            f"for a full run with one more expert; judging {new['judging']:,} against "
            f"{full['judging']:,}"
        )
    return (
        "\n".join(lines)
        + f"\n\n{facts}.\n\nAdding a sixth expert (k unchanged): {'; '.join(growth)}.\n\n"
        + f"Rates: {rates.source}.\n"
    )
