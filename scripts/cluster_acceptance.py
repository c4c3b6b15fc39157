"""Issue 27's acceptance run: the demo on a real two-node Ray cluster, its worker node killed
mid-step, and every table equal to a local run of the same config.

`make demo-cluster`, or `python scripts/cluster_acceptance.py [--workdir DIR]`:

1. starts a head and one worker node from this environment's `ray` (each `--num-cpus 1` and
   its own temp dir: `gpu_ops.cluster.local.LocalCluster`);
2. runs `warriorcoder build-demo-experts` and `warriorcoder run --config configs/demo.yaml` in
   the home DIR/cluster with `WC_RAY_ADDRESS` set;
3. watches the run's live cluster report (`logs/cluster.live.json`) and SIGKILLs the worker node's whole process
   group once it has returned `--kill-after` sandbox tasks of an execution step to the driver
   (mid-step: the step's other programs are still running or queued);
4. lets the run finish on the head, then runs the same two commands in DIR/local without a
   Ray address (or reuses a finished local home, `--reference`);
5. compares the homes, table by table (`compare_homes`), checks `cluster.json`
   (`check_cluster_report`), prints a pass/fail report and writes it to
   DIR/cluster/reports/cluster_acceptance.json. The cluster is stopped at the end, also on
   failure. The exit status is 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from gpu_ops.cluster.ledger import LIVE_REPORT, REPORT
from gpu_ops.cluster.local import REPO, LocalCluster, node_env
from wc_foundation.storage import Home, read_lake_table

EXECUTION_STEP = "execution_results["  # the sandbox fan-out: one Ray task per program
SFT_FILE = "sft/sft_dataset.parquet"  # the SFT rows as exported for training
WAREHOUSE_MODELS = ("battle_votes", "leaderboard")  # the votes and ratings as dbt serves them
WRITE_STAMP = "first_seen_at"  # when a row reached this lake: not what it holds
HOME_DEPENDENT = {  # columns that differ between two homes by construction, never by compute
    "lake.expert_registry": ("config_hash",),  # hashes the expert's config: its model path
}
POLL_S = 0.2


class AcceptanceError(RuntimeError):
    """The acceptance run could not go on (a command failed, nothing to kill)."""


@dataclass
class Kill:
    """What the driver had received when the worker node was killed (its live cluster.json)."""

    step: str  # the execution step it was killed in
    after_s: float  # since the run started
    worker_tasks: int  # that step's tasks the worker had returned
    step_tasks: int  # that step's tasks returned by all nodes
    worker_steps: list[str]  # every step the worker had returned tasks of


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class TableDiff:
    """One table of both homes, as row hashes (order-independent, paths as ${WC_HOME})."""

    table: str
    rows_cluster: int
    rows_local: int
    only_cluster: int  # rows (with multiplicity) the local home lacks
    only_local: int

    @property
    def equal(self) -> bool:
        return self.rows_cluster == self.rows_local and not self.only_cluster + self.only_local


@dataclass
class Report:
    config: str
    ray_address: str = ""
    nodes: dict[str, str] = field(default_factory=dict)  # role -> Ray node id
    kill: Kill | None = None
    wall_s: dict[str, float] = field(default_factory=dict)  # cluster / local run
    tasks_per_node: dict[str, dict[str, int]] = field(default_factory=dict)
    tables: list[TableDiff] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def as_json(self) -> dict:
        out = asdict(self)
        out["passed"] = self.passed
        for table, diff in zip(out["tables"], self.tables, strict=True):
            table["equal"] = diff.equal
        return out

    def lines(self) -> list[str]:
        lines = [f"cluster acceptance ({self.config}, Ray at {self.ray_address or '-'}):"]
        lines += [f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in self.checks]
        for role, steps in self.tasks_per_node.items():
            shown = ", ".join(f"{step} {count}" for step, count in sorted(steps.items()))
            lines.append(f"  tasks on the {role}: {shown or 'none'}")
        unequal = [t.table for t in self.tables if not t.equal]
        lines.append(
            f"  tables compared: {len(self.tables)}, unequal: {', '.join(unequal) or 'none'}"
        )
        walls = ", ".join(f"{run} {seconds:.0f} s" for run, seconds in self.wall_s.items())
        lines.append(f"  wall: {walls}")
        lines.append("PASSED" if self.passed else "FAILED")
        return lines


# ------------------------------------------------------------------------------ comparing


def row_hashes(frame: pl.DataFrame, home: Home, table: str = "") -> Counter:
    """The table's rows as a multiset of hashes: without the write stamp and the table's
    HOME_DEPENDENT columns, with the home's own path written as ${WC_HOME} (model paths name
    their home), in any row order."""
    frame = frame.drop(WRITE_STAMP, *HOME_DEPENDENT.get(table, ()), strict=False)
    root = str(home.root)
    frame = frame.with_columns(
        pl.col(name).str.replace_all(root, "${WC_HOME}", literal=True)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )
    frame = frame.select(sorted(frame.columns))
    return Counter(frame.hash_rows(seed=0).to_list())


def table_sources(home: Home) -> dict[str, Callable[[], pl.DataFrame]]:
    """Every table a run leaves in a home: each lake table (all partitions), the exported SFT
    rows and the warehouse's vote and rating models."""
    from wc_foundation.warehouse import read_model, table_exists

    sources: dict[str, Callable[[], pl.DataFrame]] = {}
    if home.lake.is_dir():
        for folder in sorted(p for p in home.lake.iterdir() if p.is_dir()):
            if any(folder.glob("*.parquet")):
                sources[f"lake.{folder.name}"] = lambda t=folder.name: read_lake_table(home, t)
    sft = home.root / SFT_FILE
    if sft.exists():
        sources[SFT_FILE] = lambda: pl.read_parquet(sft)
    for model in WAREHOUSE_MODELS:
        if table_exists(home, model):
            sources[f"warehouse.{model}"] = lambda m=model: read_model(home, m)
    return sources


def compare_homes(ours: Home, reference: Home) -> list[TableDiff]:
    """Each table of either home against the other's; a table one home lacks counts as empty
    there (so it is unequal)."""
    mine, theirs = table_sources(ours), table_sources(reference)
    diffs = []
    for table in sorted(set(mine) | set(theirs)):
        a = row_hashes(mine[table](), ours, table) if table in mine else Counter()
        b = row_hashes(theirs[table](), reference, table) if table in theirs else Counter()
        diffs.append(TableDiff(table, a.total(), b.total(), (a - b).total(), (b - a).total()))
    return diffs


# ------------------------------------------------------------------------------ cluster.json


def tasks_by_role(report: dict, roles: dict[str, str]) -> dict[str, dict[str, int]]:
    """cluster.json's tasks per step, keyed by "head"/"worker" (a node of another id: its id)."""
    return {roles.get(node["node_id"], node["node_id"]): node["tasks"] for node in report["nodes"]}


def killed_step(report: dict, worker: str, kill_after: int) -> Kill | None:
    """The kill to make, from a live cluster.json: once the worker has returned at least
    `kill_after` tasks of an execution step (`after_s` left 0); None before that."""
    for node in report.get("nodes", []):
        if node["node_id"] != worker:
            continue
        for step, count in sorted(node["tasks"].items()):
            if step.startswith(EXECUTION_STEP) and count >= kill_after:
                total = sum(n["tasks"].get(step, 0) for n in report["nodes"])
                return Kill(step, 0.0, count, total, sorted(node["tasks"]))
    return None


def check_cluster_report(report: dict, roles: dict[str, str], kill: Kill | None) -> list[Check]:
    """What the final cluster.json must show: work on both nodes; the killed step carried on
    after the kill; and no step the worker had not started before the kill has work from it."""
    by_role = tasks_by_role(report, roles)
    worked = {role: sum(steps.values()) for role, steps in by_role.items()}
    both = (
        bool(report.get("complete")) and worked.get("head", 0) > 0 and worked.get("worker", 0) > 0
    )
    checks = [
        Check(
            "cluster.json shows work on both nodes",
            both,
            f"complete={report.get('complete')}, tasks "
            + ", ".join(f"{role} {count}" for role, count in sorted(worked.items())),
        )
    ]
    if kill is None:
        return [*checks, Check("worker node killed mid-step", False, "no kill happened")]
    step_after = sum(steps.get(kill.step, 0) for steps in by_role.values())
    worker = by_role.get("worker", {})
    later = sorted(set(worker) - set(kill.worker_steps))
    checks.append(
        Check(
            "worker node killed mid-step, the step finished without it",
            step_after > kill.step_tasks and not later,
            f"{kill.step}: {kill.step_tasks} tasks returned at the kill ({kill.worker_tasks} by "
            f"the worker), {step_after} at the end ({worker.get(kill.step, 0)} by the worker)"
            + (f"; the worker has tasks of steps begun after its kill: {later}" if later else ""),
        )
    )
    return checks


# ------------------------------------------------------------------------------ running


def command(name: str) -> str:
    """This environment's console script `name` (the project's own `warriorcoder`)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise AcceptanceError(f"{path} is missing: run `make install` first")
    return str(path)


def run_env(home: Home, ray_address: str | None) -> dict[str, str]:
    env = node_env() | {"WC_HOME": str(home.root)}  # node_env drops any WC_RAY_ADDRESS
    env.pop("WC_FAILPOINTS", None)
    if ray_address:
        env["WC_RAY_ADDRESS"] = ray_address
    return env


def build_experts(home: Home, env: dict[str, str], log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run(
            [command("warriorcoder"), "build-demo-experts"], env=env, stdout=out, stderr=out
        )
    if done.returncode:
        raise AcceptanceError(f"`warriorcoder build-demo-experts` failed in {home.root}: {log}")


def start_run(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen(
            [command("warriorcoder"), "run", "--config", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(process: subprocess.Popen, what: str, log: Path, timeout_s: float) -> None:
    try:
        rc = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AcceptanceError(f"{what} still running after {timeout_s:.0f} s: {log}") from None
    if rc:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise AcceptanceError(f"{what} failed (exit {rc}); the end of {log}:\n{tail}")


def read_live(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # not written yet (or replaced right now)


def watch_and_kill(
    process: subprocess.Popen,
    cluster: LocalCluster,
    worker: str,
    home: Home,
    kill_after: int,
    timeout_s: float,
) -> Kill:
    """Kill the worker node once it has returned `kill_after` tasks of an execution step."""
    started = time.monotonic()
    live = home.root / LIVE_REPORT
    while time.monotonic() - started < timeout_s:
        kill = killed_step(read_live(live), worker, kill_after)
        if kill:
            cluster.kill(cluster.nodes[1])
            kill.after_s = round(time.monotonic() - started, 1)
            return kill
        if process.poll() is not None:
            raise AcceptanceError(
                f"the cluster run ended (exit {process.returncode}) before the worker node "
                f"returned {kill_after} tasks of an execution step: nothing was killed "
                f"({live}: {read_live(live).get('nodes')})"
            )
        time.sleep(POLL_S)
    raise AcceptanceError(f"no execution step reached the worker node in {timeout_s:.0f} s")


REQUIRED = (  # the verdicts, the ratings, the winners and the SFT rows
    "lake.execution_results",
    "lake.judgments",
    "warehouse.battle_votes",
    "lake.expert_ratings",
    "lake.sft_winners",
    SFT_FILE,
)


def accept(args: argparse.Namespace, report: Report) -> None:
    """The whole acceptance run, filling `report`; the cluster is stopped whatever happens."""
    workdir = Path(args.workdir).resolve()
    ours, local = Home.resolve(workdir / "cluster"), Home.resolve(workdir / "local")
    reference = Home.resolve(args.reference) if args.reference else local
    if not Path(args.config).is_file():
        raise AcceptanceError(f"no config file at {args.config} (--config)")
    for home in (ours, *(() if args.reference else (local,))):
        if home.root.exists() and any(home.root.iterdir()):
            raise AcceptanceError(
                f"{home.root} is not empty: remove it (the run needs a fresh home)"
            )
    ours.ensure()
    print("starting a two-node Ray cluster (head + worker, 1 CPU each) ...", flush=True)
    cluster = LocalCluster().start(nodes=2, num_cpus=1)
    try:
        report.ray_address = cluster.address
        roles = cluster.node_roles()
        report.nodes = {role: node for node, role in roles.items()}
        if sorted(roles.values()) != ["head", "worker"]:
            raise AcceptanceError(f"expected a head and a worker node, the cluster has {roles}")
        env = run_env(ours, cluster.address)
        log = workdir / "cluster-run.log"
        print(f"cluster run in {ours.root} (WC_RAY_ADDRESS={cluster.address}), log {log}")
        build_experts(ours, env, log)
        started = time.monotonic()
        process = start_run(args.config, env, log)
        try:
            report.kill = watch_and_kill(
                process, cluster, report.nodes["worker"], ours, args.kill_after, args.timeout
            )
            print(f"killed the worker node after {report.kill.after_s} s: {report.kill}")
            finish(process, "the cluster run", log, args.timeout)
        finally:
            if process.poll() is None:
                process.kill()
        report.wall_s["cluster"] = round(time.monotonic() - started, 1)
        left = cluster.alive_nodes()
        report.checks.append(
            Check("the run finished on the node that remained", left == 1, f"{left} node(s) alive")
        )
    finally:
        print("stopping the cluster", flush=True)
        cluster.stop()
    final = json.loads((ours.root / REPORT).read_text())
    report.tasks_per_node = tasks_by_role(final, roles)
    report.checks += check_cluster_report(final, roles, report.kill)
    if not args.reference:
        env = run_env(local, None)
        log = workdir / "local-run.log"
        print(f"local run in {local.root} (no Ray address), log {log}", flush=True)
        local.ensure()
        build_experts(local, env, log)
        started = time.monotonic()
        finish(start_run(args.config, env, log), "the local run", log, args.timeout)
        report.wall_s["local"] = round(time.monotonic() - started, 1)
    if not (reference.lake / "sft_winners").is_dir():
        raise AcceptanceError(f"the reference {reference.root} holds no finished run")
    report.tables = compare_homes(ours, reference)
    report.checks.append(equality_check(report.tables, reference))


def equality_check(tables: list[TableDiff], reference: Home) -> Check:
    """Every table equal, the REQUIRED ones among them."""
    missing = sorted(set(REQUIRED) - {t.table for t in tables})
    unequal = [t for t in tables if not t.equal]
    detail = f"{len(tables)} tables, {sum(t.rows_cluster for t in tables)} rows"
    if missing:
        detail += f"; missing: {', '.join(missing)}"
    if unequal:
        detail += "; unequal (rows only here/only there): " + ", ".join(
            f"{t.table} ({t.only_cluster}/{t.only_local})" for t in unequal
        )
    return Check(
        "every table equals the local run's",
        not missing and not unequal,
        f"{detail} (against {reference.root})",
    )


def interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    home = Path(os.environ.get("WC_HOME") or REPO / ".warriorcoder")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "demo.yaml")
    parser.add_argument(
        "--workdir",
        default=home / "cluster-acceptance",
        help="holds the fresh homes `cluster` and `local` and the runs' logs",
    )
    parser.add_argument(
        "--reference", help="a finished local run's home of the same config: skip the local run"
    )
    parser.add_argument(
        "--kill-after",
        type=int,
        default=20,
        help="kill the worker node once it has returned this many tasks of an execution step",
    )
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per run")
    args = parser.parse_args(argv)
    report = Report(config=str(args.config))
    signal.signal(signal.SIGTERM, interrupted)  # `kill PID` stops the cluster too
    try:
        accept(args, report)
    except (AcceptanceError, RuntimeError, TimeoutError, OSError) as error:
        report.checks.append(Check("the acceptance run itself", False, str(error)))
    except KeyboardInterrupt:
        report.checks.append(Check("the acceptance run itself", False, "interrupted"))
    out = Home.resolve(Path(args.workdir) / "cluster").reports / "cluster_acceptance.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.as_json(), indent=2) + "\n")
    print("\n".join(report.lines()))
    print(f"report: {out}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
