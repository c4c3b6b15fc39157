"""The one walk over a plan's steps, shared by `warriorcoder run` and the config sensor.

Both ask the same two things of it: which step is stale (its input version, from
`dagster_wc.orchestration.versions` and the outputs upstream, differs from the recorded one, or
its outputs changed), and what a finished run leaves behind (recorded when it succeeded,
forgotten when it failed). The runner executes each stale step in this process; the sensor
requests the first stale step (with its stale sibling partitions) as runs and settles them on a
later tick. The run tags that carry a step across that gap are named here, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster_wc.orchestration.plan import PipelineShape, Step, is_dbt_label
from dagster_wc.orchestration.step_state import Stamp, StepState
from dagster_wc.orchestration.versions import StepVersions
from wc_foundation.storage import Home

STAGE_TAG = "warriorcoder/stage"
STEP_TAG = "warriorcoder/step"
VERSION_TAG = "warriorcoder/input_version"
WAVE_TAG = "warriorcoder/wave"  # the sensor's runs requested together


def step_tags(step: Step, version: str) -> dict[str, str]:
    """The tags of a step's run: its stage, its label and the input version it runs with."""
    return {STAGE_TAG: step.stage, STEP_TAG: step.label, VERSION_TAG: version}


@dataclass
class PipelineWalk:
    """The steps of one plan against the step state of one home."""

    steps: list[Step]
    shape: PipelineShape
    versions: StepVersions
    home: Home
    state: StepState = field(init=False)

    def __post_init__(self) -> None:
        self.state = StepState(self.home)

    def stale_version(self, step: Step) -> str | None:
        """The step's input version if it must run, None if it is up to date."""
        version = self.state.step_version(step, self.shape, self.steps, self.versions.base(step))
        if self.state.is_fresh(step.label, version, dbt=step.kind == "dbt"):
            return None
        return version

    def next_wave(self, failed: dict[str, str]) -> list[tuple[Step, str]]:
        """The first stale step with its stale sibling partitions (independent, so they run
        together); nothing when that step already failed with these very inputs."""
        for index, step in enumerate(self.steps):
            version = self.stale_version(step)
            if version is None:
                continue
            if failed.get(step.label) == version:
                return []  # failed with these very inputs: wait for a change
            wave = [(step, version)]
            for sibling in self.steps[index + 1 :]:
                if sibling.asset_keys != step.asset_keys or sibling.partition_key is None:
                    break
                sibling_version = self.stale_version(sibling)
                if sibling_version is not None:
                    wave.append((sibling, sibling_version))
            return wave
        return []

    def settle(
        self,
        label: str,
        version: str,
        before: dict[str, Stamp],
        *,
        succeeded: bool,
        partition: str | None = None,
        save: bool = True,
    ) -> None:
        """Record a finished step (its version and what it wrote since `before`), or forget a
        failed one, so the next walk runs it again."""
        if succeeded:
            self.state.record(label, version, before, dbt=is_dbt_label(label), partition=partition)
        else:
            self.state.forget(label)
        if save:
            self.state.save()
