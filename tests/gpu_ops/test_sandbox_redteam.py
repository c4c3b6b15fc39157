"""Hostile programs against the sandbox: each must be contained, and each outcome is reported.

Every test records (attack, status, observed outcome) in a table that is printed at the end of
the module and written to ``$WC_SANDBOX_REPORT`` (default: pytest's base temp dir).
The assertions check the host side (files, processes, the parent), not what the code claims.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gpu_ops.sandbox import MAX_FILE_BYTES, SandboxResult, run_code, run_many, sandbox_capabilities

REPO = Path(__file__).resolve().parents[2]
ROWS: list[tuple[str, str, str]] = []
STRONG = sandbox_capabilities()["isolation"] in ("full", "namespaces", "bwrap")
needs_isolation = pytest.mark.skipif(not STRONG, reason="needs namespace isolation")

# Hostile programs print their uid first so the test can look for leftover processes.
UID_LINE = "import os, sys; print('UID', os.getuid(), flush=True)\n"


def record(attack: str, result: SandboxResult, outcome: str) -> None:
    ROWS.append((attack, result.status, outcome))


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:110] if lines else ""


def sandbox_uid(result: SandboxResult) -> int:
    line = next(line for line in result.stdout.splitlines() if line.startswith("UID "))
    return int(line.split()[1])


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
        if int(uids.split()[1]) == uid:
            found.append(int(entry.name))
    return found


def assert_no_leftovers(result: SandboxResult) -> None:
    uid = sandbox_uid(result)
    if uid == os.getuid():  # unprivileged tiers without uid change: nothing to scan for
        return
    assert processes_of(uid) == [], f"processes of sandbox uid {uid} survived the run"


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    yield
    caps = sandbox_capabilities()
    width = max((len(row[0]) for row in ROWS), default=10)
    lines = [
        f"sandbox red-team report (isolation: {caps['isolation']})",
        f"{'attack':<{width}} | {'status':<12} | observed outcome",
        "-" * (width + 60),
        *(f"{a:<{width}} | {s:<12} | {o}" for a, s, o in ROWS),
    ]
    path = Path(
        os.environ.get("WC_SANDBOX_REPORT")
        or tmp_path_factory.getbasetemp() / "sandbox_redteam.txt"
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines) + f"\n(written to {path})")


@pytest.mark.slow
def test_fork_bomb_is_capped_and_leaves_nothing() -> None:
    code = UID_LINE + (
        "import time\n"
        "children = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60); os._exit(0)\n"
        "        children += 1\n"
        "except OSError as exc:\n"
        "    print('forks', children, type(exc).__name__, flush=True)\n"
        "while True:\n"
        "    try: os.fork()\n"
        "    except OSError: pass\n"
    )
    start = time.monotonic()
    result = run_code(code, timeout_s=2, max_processes=16)
    elapsed = time.monotonic() - start
    forks = int(next(x for x in result.stdout.splitlines() if x.startswith("forks")).split()[1])
    assert result.status == "timeout"
    assert forks < 16
    assert elapsed < 6
    assert_no_leftovers(result)
    record("fork bomb", result, f"forks stopped at {forks} (limit 16), killed after {elapsed:.1f}s")


@pytest.mark.slow
def test_concurrent_fork_bomb_does_not_starve_a_neighbour() -> None:
    bomb = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    neighbour = (
        "import subprocess, time\ntime.sleep(0.5)\n"
        "print(subprocess.run(['echo', 'fine'], capture_output=True, text=True).stdout.strip())\n"
    )
    bombed, calm = run_many([bomb, neighbour], workers=2, timeout_s=2, max_processes=16)
    assert bombed.status == "timeout"
    assert (calm.status, calm.stdout) == ("ok", "fine\n")
    record(
        "fork bomb beside a run that forks",
        calm,
        "neighbour forked fine: NPROC is counted per run (own uid)",
    )


def test_memory_bomb_hits_address_space_limit() -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n"
    result = run_code(code, timeout_s=5, memory_mb=256)
    assert result.status == "memory"
    record("memory bomb", result, last_line(result.stderr))


def test_single_huge_allocation_fails() -> None:
    result = run_code("x = bytearray(20 * 1024**3)\n", timeout_s=5, memory_mb=256)
    assert result.status == "memory"
    record("20 GiB allocation", result, last_line(result.stderr))


@pytest.mark.slow
def test_infinite_loop_times_out() -> None:
    result = run_code("while True:\n    pass\n", timeout_s=1.5)
    assert result.status == "timeout"
    assert result.wall_s < 4
    record("infinite loop", result, f"killed at wall {result.wall_s:.1f}s (limit 1.5s)")


@pytest.mark.slow
def test_ignoring_sigterm_does_not_help() -> None:
    code = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = run_code(code, timeout_s=1.5)
    assert result.status == "timeout"
    assert result.wall_s < 4
    record("ignore SIGTERM + loop", result, f"SIGKILLed at wall {result.wall_s:.1f}s")


@needs_isolation
def test_writes_outside_scratch_do_not_land(tmp_path: Path) -> None:
    token = os.urandom(4).hex()
    targets = [
        Path(f"/tmp/pwned-{token}"),
        REPO / f"pwned-{token}.txt",
        Path(os.path.expanduser("~")) / f"pwned-{token}",
        Path(f"/dev/shm/pwned-{token}"),
        Path(f"/var/tmp/pwned-{token}"),
    ]
    code = (
        "import os\nfor p in %r:\n    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e:\n        print('DENIED', p, e.strerror)\n"
        % [str(t) for t in targets]
    )
    result = run_code(code, timeout_s=5)
    landed = [t for t in targets if t.exists()]
    for t in landed:
        t.unlink()
    assert landed == []
    errors = sorted({line.split(" ", 2)[-1] for line in result.stdout.splitlines()})
    record(
        "write /tmp, repo, $HOME, /dev/shm",
        result,
        f"none landed on host; child saw: {', '.join(errors)}",
    )


def test_environment_secrets_are_not_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WC_FAKE_API_KEY", "sk-hunter2-secret")
    code = (
        "import os\nprint(','.join(sorted(os.environ)))\n"
        "print(open('/proc/self/environ','rb').read())\n"
    )
    result = run_code(code, timeout_s=5)
    assert result.status == "ok"
    assert "hunter2" not in result.stdout + result.stderr
    assert "WC_FAKE_API_KEY" not in result.stdout
    record(
        "read env secrets",
        result,
        "secret absent; child env keys: " + result.stdout.splitlines()[0],
    )


@needs_isolation
def test_no_connection_to_host_loopback_service() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('CONNECTED')\n"
        result = run_code(code, timeout_s=5)
    finally:
        server.close()
    assert "CONNECTED" not in result.stdout
    assert result.status == "error"
    record("connect 127.0.0.1 (host listener)", result, last_line(result.stderr))


@needs_isolation
def test_no_external_network() -> None:
    code = (
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\nprint('CONNECTED')\n"
    )
    result = run_code(code, timeout_s=5)
    assert "CONNECTED" not in result.stdout
    assert result.status == "error"
    record("connect 1.1.1.1:53", result, last_line(result.stderr))


@needs_isolation
def test_shell_spawn_cannot_touch_host() -> None:
    target = Path(f"/tmp/wc-shell-{os.urandom(4).hex()}")
    code = f"import os\nprint('rc', os.system('touch {target}'))\nprint('rc', os.system('echo from-shell'))\n"
    result = run_code(code, timeout_s=5)
    assert not target.exists()
    assert "from-shell" in result.stdout  # shells run, but inside the sandbox
    record("os.system('touch /tmp/x')", result, "shell ran inside; file absent on host")


@needs_isolation
def test_rmtree_of_world_writable_host_directory_fails() -> None:
    victim = Path(tempfile.mkdtemp(prefix="wc-precious-", dir="/tmp"))
    try:
        (victim / "data.txt").write_text("keep me")
        victim.chmod(0o777)  # file permissions alone would not stop the sandbox uid
        (victim / "data.txt").chmod(0o666)
        result = run_code(f"import shutil\nshutil.rmtree({str(victim)!r})\n", timeout_s=5)
        assert (victim / "data.txt").read_text() == "keep me"
    finally:
        shutil.rmtree(victim)
    assert result.status == "error"
    record("shutil.rmtree(world-writable host dir)", result, last_line(result.stderr))


def test_huge_stdout_is_capped() -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n"
    result = run_code(code, timeout_s=5, max_output_bytes=100_000)
    assert result.status == "output_limit"
    assert len(result.stdout) <= 100_000
    record("infinite stdout", result, f"captured {len(result.stdout)} bytes (cap 100000), killed")


def test_killing_the_parent_fails() -> None:
    victim = subprocess.Popen(["sleep", "30"])
    try:
        code = UID_LINE + (
            "import signal\n"
            f"for pid in (os.getppid(), {os.getpid()}, {victim.pid}):\n"
            "    try:\n"
            "        os.kill(pid, signal.SIGKILL); print('KILLED', pid)\n"
            "    except OSError as e:\n"
            "        print('FAILED', pid, type(e).__name__)\n"
            "try:\n"
            "    os.kill(-1, signal.SIGKILL); print('KILLED all')\n"
            "except OSError as e:\n"
            "    print('FAILED all', type(e).__name__)\n"
        )
        result = run_code(code, timeout_s=5)
        assert victim.poll() is None, "a root-owned host process was killed from the sandbox"
    finally:
        victim.kill()
        victim.wait()
    assert_no_leftovers(result)
    assert "KILLED" not in result.stdout.replace("KILLED all", "")
    outcomes = [" ".join(line.split()[::2]) for line in result.stdout.splitlines()[1:]]
    record("kill ppid / host pids / kill(-1)", result, "host alive; " + "; ".join(outcomes))


@pytest.mark.slow
def test_setsid_double_fork_cannot_escape() -> None:
    code = UID_LINE + (
        "import time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        signal_free = True\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "print('parent done')\n"
    )
    result = run_code(code, timeout_s=5)
    assert result.status == "ok"
    assert result.wall_s < 4
    time.sleep(0.2)
    assert_no_leftovers(result)
    record(
        "setsid + double fork daemon", result, f"run returned in {result.wall_s:.1f}s; daemon gone"
    )


def test_sleeping_child_left_behind_is_reaped() -> None:
    code = UID_LINE + "import subprocess\nsubprocess.Popen(['sleep', '60'])\nprint('bye')\n"
    result = run_code(code, timeout_s=5)
    assert result.status == "ok"
    assert result.wall_s < 4
    time.sleep(0.2)
    assert_no_leftovers(result)
    record("orphaned sleep 60 child", result, f"run returned in {result.wall_s:.1f}s; child gone")


def test_ctypes_segfault_is_contained() -> None:
    result = run_code("import ctypes\nctypes.string_at(0)\n", timeout_s=5)
    assert result.status == "killed"
    record("ctypes NULL dereference", result, f"returncode {result.returncode}, parent unaffected")


def test_huge_file_write_hits_size_limit() -> None:
    code = (
        "import os\nwith open('big.bin', 'wb') as f:\n"
        "    for _ in range(64):\n        f.write(b'x' * 1024 * 1024)\n"
    )
    result = run_code(code, timeout_s=5)
    assert result.status == "error"
    assert "File too large" in result.stderr
    record(
        "64 MiB file write",
        result,
        f"{last_line(result.stderr)} (limit {MAX_FILE_BYTES >> 20} MiB)",
    )


def test_reading_etc_shadow_is_denied() -> None:
    result = run_code("print(open('/etc/shadow').read()[:20])\n", timeout_s=5)
    assert result.status == "error"
    assert "root:" not in result.stdout
    record("read /etc/shadow", result, last_line(result.stderr))


@needs_isolation
def test_chmod_of_scratch_parent_is_denied() -> None:
    code = "import os\nparent = os.path.dirname(os.getcwd())\nos.chmod(parent, 0o777)\n"
    result = run_code(code, timeout_s=5)
    assert result.status == "error"
    record("os.chmod(scratch parent)", result, last_line(result.stderr))


def test_thread_bomb_is_capped() -> None:
    code = (
        "import threading, time\nn = 0\ntry:\n    while True:\n"
        "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1\n"
        "except RuntimeError as e:\n    print('threads', n, e)\n"
    )
    result = run_code(code, timeout_s=5, max_processes=8)
    assert result.status == "ok"
    started = int(result.stdout.split()[1])
    assert started < 8
    record(
        "thread bomb",
        result,
        f"{started} threads started (limit 8), then: {last_line(result.stdout)[-40:]}",
    )


def test_parent_still_healthy_after_attacks() -> None:
    result = run_code("print(sum(range(10)))\n", timeout_s=5)
    assert (result.status, result.stdout) == ("ok", "45\n")
    assert sys.executable  # the test process itself survived every attack above
    record("benign program afterwards", result, "prints 45: sandbox and parent healthy")
