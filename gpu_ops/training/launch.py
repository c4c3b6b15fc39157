"""How the SFT child process starts: plain `python -m` for one process, `accelerate launch` for
several (DDP by default; FSDP or DeepSpeed ZeRO-3 through an accelerate config file).

The global batch is per-device batch x gradient accumulation x processes; SFTParams.num_processes
is the total over all machines, and the worker checks that the launcher started that many.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from gpu_ops.errors import InputError

WORKER_MODULE = "gpu_ops.training.sft_worker"


def free_port() -> int:
    """A TCP port free on this host now, for the rendezvous of a single-machine launch."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node_commands(
    job_path: str | Path, *, num_processes: int, num_machines: int, accelerate_config: str | None
) -> list[str]:
    """The command to start on each machine of a multi-node run (rank 0's host first)."""
    config = f"--config_file {accelerate_config} " if accelerate_config else "--multi_gpu "
    return [
        f"accelerate launch {config}--num_processes {num_processes} --num_machines {num_machines} "
        f"--machine_rank {rank} --main_process_ip HOST_OF_RANK_0 --main_process_port 29500 "
        f"-m {WORKER_MODULE} {job_path}"
        for rank in range(num_machines)
    ]


def worker_command(
    job_path: str | Path,
    python: str,
    *,
    num_processes: int = 1,
    num_machines: int = 1,
    accelerate_config: str | None = None,
    port: int | None = None,
) -> list[str]:
    """The argv that trains the job in `job_path` with `num_processes` processes on this host.

    Several machines cannot be started from here: the error lists the command for each node.
    """
    if num_processes < 1:
        raise InputError(f"num_processes must be >= 1, got {num_processes}")
    if num_machines > 1:
        commands = "\n  ".join(
            node_commands(
                job_path,
                num_processes=num_processes,
                num_machines=num_machines,
                accelerate_config=accelerate_config,
            )
        )
        raise InputError(
            f"SFT over {num_machines} machines is started on each machine, not from here; the "
            f"job file is {job_path}. Run, with the same paths on every node:\n  {commands}"
        )
    if num_processes == 1 and accelerate_config is None:
        return [python, "-m", WORKER_MODULE, str(job_path)]
    command = [python, "-m", "accelerate.commands.launch"]
    if accelerate_config is not None:
        if not Path(accelerate_config).is_file():
            raise InputError(f"accelerate config {accelerate_config} does not exist")
        command += ["--config_file", str(accelerate_config)]
    else:
        command += ["--multi_gpu", "--num_machines", "1", "--dynamo_backend", "no"]
    command += [
        "--num_processes",
        str(num_processes),
        "--main_process_port",
        str(port or free_port()),
        "-m",
        WORKER_MODULE,
        str(job_path),
    ]
    return command


def world_size() -> int:
    """Processes in this training run, as the launcher (torchrun / accelerate) announced them."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 writes files and prints the log; the other ranks only train."""
    return int(os.environ.get("RANK", "0")) == 0
