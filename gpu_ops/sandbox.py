"""Run model-written Python in a separate, isolated, resource-limited process.

This module is the only place where untrusted code is executed. Nothing is monkey-patched: each
execution is a fresh interpreter (``python -I -S``: stdlib only, no site-packages, no ``PYTHON*``
environment variables) started in a new directory, under kernel-enforced limits. Which isolation
layers are used is detected once at run time (see ``sandbox_capabilities``), strongest first:

``namespaces`` (running as root with util-linux ``unshare`` and ``setpriv``)
    new network, PID, mount, IPC and UTS namespaces; every mount re-mounted read-only except the
    scratch directory; the child runs under a random unprivileged uid/gid (so RLIMIT_NPROC is
    enforced, which the kernel skips for root) with no capabilities and ``no_new_privs``. A root
    shell is PID 1 of the namespace: when it or ``unshare`` dies, the kernel kills every process
    in the namespace, so nothing (double forks, ``setsid``) survives the run.
``bwrap`` (not root, bubblewrap works)
    ``bwrap --unshare-all`` (user, network, PID, IPC, UTS, cgroup namespaces), read-only bind of
    ``/``, a private ``/dev``, the scratch directory the only writable bind, ``--die-with-parent``.
``process`` (fallback)
    a separate process in its own session with the same rlimits, a stripped environment and the
    scratch directory as working directory; when root and ``setpriv`` exists it still drops to a
    random uid. No network or filesystem isolation: see docs/RELIABILITY.md.

In every tier: RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE and RLIMIT_CORE are
set (soft = hard) before the user code runs; wall time is enforced by the parent, which kills the
whole process group (and with it the namespace); stdout and stderr are capped while reading.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gpu_ops.errors import InputError

SANDBOX_STATUSES = ("ok", "error", "timeout", "memory", "killed", "output_limit")
MAX_FILE_BYTES = 16 * 1024 * 1024  # RLIMIT_FSIZE: largest file the code may write
MAX_OPEN_FILES = 256
SETUP_FAILED_EXIT = 125  # exit code of the namespace setup script when a mount step fails
_UID_BASE = 1_900_000_000  # random per-run uids come from [_UID_BASE, _UID_BASE + 2**26)
_UID_SPAN = 2**26
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_KILL_GRACE_S = 2.0

# Runs first inside the child interpreter: apply limits (soft = hard, so the code cannot raise
# them), make the scratch directory importable, then execute main.py as __main__.
_BOOT = """\
import os, resource, sys
_lim = {lim!r}
for _name, _value in _lim.items():
    resource.setrlimit(getattr(resource, _name), (_value, _value))
sys.path.insert(0, os.getcwd())
sys.argv = ["main.py"]
with open("main.py", encoding="utf-8") as _f:
    _code = compile(_f.read(), "main.py", "exec")
del _lim, _name, _value, _f
exec(_code, {{"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}})
"""

# PID 1 of the new namespaces (runs as root): make every mount read-only except the scratch
# directory, expose the interpreter if it lives under a directory the sandbox uid cannot enter
# (e.g. /root/.pyenv) by hiding that directory behind a tmpfs, then start the code unprivileged.
# Any failed mount step aborts (fail closed). PID 1 does not exec, so it stays root and keeps the
# parent-death signal from `unshare --kill-child`.
_NS_SETUP = r"""
set -eu
RUN=$1; PREFIX=$2; HIDE=$3; ID=$4; shift 4
fail() { echo "sandbox setup failed: $1" >&2; exit 125; }
mount --bind "$RUN/work" "$RUN/work" || fail "bind scratch"
if [ -n "$HIDE" ]; then mount --bind "$PREFIX" "$RUN/py" || fail "bind interpreter"; fi
awk '{print $5}' /proc/self/mountinfo | while read -r mp; do
  mount -o remount,bind,ro "$mp" 2>/dev/null || mount -o remount,bind,ro,nosuid,nodev "$mp" \
    || fail "read-only remount of $mp"
done
if [ -n "$HIDE" ]; then
  mount -t tmpfs -o mode=755,size=1m,nosuid,nodev sandbox-hide "$HIDE" || fail "hide $HIDE"
  mkdir -p "$PREFIX"
  mount --bind "$RUN/py" "$PREFIX" || fail "expose interpreter"
  mount -o remount,bind,ro "$PREFIX" || fail "interpreter read-only"
  mount -o remount,ro,nosuid,nodev "$HIDE" || fail "hide read-only"
fi
mount -o remount,bind,rw,nosuid,nodev "$RUN/work" || fail "scratch writable"
cd "$RUN/work"
set +e
setpriv --reuid="$ID" --regid="$ID" --clear-groups --no-new-privs --inh-caps=-all \
  --bounding-set=-all -- "$@"
exit $?
"""


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (not a failure of the executed code)."""


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one execution; ``status`` is one of SANDBOX_STATUSES."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: str


@dataclass(frozen=True)
class _Interpreter:
    executable: str  # real path of the base interpreter (not a venv shim)
    prefix: str  # sys.base_prefix, real path
    hide: str  # ancestor of prefix the sandbox uid cannot traverse ("" when none)


def _interpreter() -> _Interpreter:
    executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    hide = ""
    for parent in reversed(Path(prefix).parents):
        mode = os.stat(parent).st_mode
        if str(parent) != "/" and not mode & stat.S_IXOTH:
            hide = str(parent)
            break
    return _Interpreter(executable, prefix, hide)


def _scratch_base() -> str:
    """A directory every uid can traverse, to hold the per-run directories."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        path = Path(candidate)
        if path.is_dir() and all(os.stat(p).st_mode & stat.S_IXOTH for p in [path, *path.parents]):
            return str(path)
    raise SandboxError("no world-traversable temporary directory for sandbox scratch space")


def _probe(isolation: str) -> bool:
    """Run a trivial program through a tier; the tier is usable only if it really works."""
    try:
        result = _execute("print(6 * 7)", isolation=isolation, timeout_s=10, memory_mb=256)
    except (OSError, SandboxError):
        return False
    return result.status == "ok" and result.stdout.strip() == "42"


@functools.cache
def sandbox_capabilities() -> dict[str, object]:
    """Which isolation layers are active on this machine (detected once per process)."""
    is_root = os.geteuid() == 0
    tools = {name: shutil.which(name) for name in ("unshare", "setpriv", "bwrap")}
    tier = "process"
    if is_root and tools["unshare"] and tools["setpriv"] and _probe("namespaces"):
        tier = "namespaces"
    elif not is_root and tools["bwrap"] and _probe("bwrap"):
        tier = "bwrap"
    namespaced = tier in ("namespaces", "bwrap")
    return {
        "isolation": tier,
        "is_root": is_root,
        "separate_process": True,
        "rlimits": ["CPU", "AS", "NPROC", "FSIZE", "NOFILE", "CORE"],
        "clean_environment": True,
        "network_isolated": namespaced,
        "pid_namespace": namespaced,
        "readonly_filesystem": namespaced,
        "unprivileged_uid": not is_root or bool(tools["setpriv"]),
        "nproc_enforced": not is_root or bool(tools["setpriv"]),
        "interpreter": _interpreter().executable,
        "tools": tools,
    }


def _limits(timeout_s: float, memory_mb: int, max_processes: int, max_file_bytes: int) -> dict:
    return {
        "RLIMIT_CPU": max(1, int(timeout_s + 0.999)),
        "RLIMIT_AS": memory_mb * 1024 * 1024,
        "RLIMIT_NPROC": max_processes,
        "RLIMIT_FSIZE": max_file_bytes,
        "RLIMIT_NOFILE": MAX_OPEN_FILES,
        "RLIMIT_CORE": 0,
    }


def _environment(work: str) -> dict[str, str]:
    """The whole environment the code sees: nothing inherited from the parent."""
    return {
        "PATH": _SAFE_PATH,
        "HOME": work,
        "TMPDIR": work,
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
    }


def _command(isolation: str, run: Path, uid: int, boot: str) -> list[str]:
    interp = _interpreter()
    python = [interp.executable, "-I", "-S", "-c", boot]
    if isolation == "namespaces":
        return [
            "unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
            "--mount-proc", "--propagation", "private", "--",
            "/bin/sh", "-c", _NS_SETUP, "sandbox-setup", str(run), interp.prefix, interp.hide,
            str(uid), *python,
        ]  # fmt: skip
    if isolation == "bwrap":
        work = str(run / "work")
        return [
            "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--bind", work, work, "--chdir", work, "--", *python,
        ]  # fmt: skip
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return [
            "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--", *python,
        ]  # fmt: skip
    return python


def _prepare_run_dir(code: str, stdin: str | None, files: dict[str, str] | None, uid: int) -> Path:
    run = Path(tempfile.mkdtemp(prefix="wc-sandbox-", dir=_scratch_base()))
    run.chmod(0o755)  # root-owned and not writable by the sandbox uid
    work = run / "work"
    work.mkdir()
    (run / "py").mkdir()
    (run / "stdin").write_text(stdin or "", encoding="utf-8")
    for name, content in (files or {}).items():
        target = (work / name).resolve()
        if work.resolve() not in target.parents or name == "main.py":
            raise InputError(f"sandbox file name must be a relative path inside scratch: {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    (work / "main.py").write_text(code, encoding="utf-8")
    if os.geteuid() == 0:
        for path in [work, *work.rglob("*")]:
            os.chown(path, uid, uid, follow_symlinks=False)
    work.chmod(0o700)
    return run


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group; in namespace tiers this tears down the namespace."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _read_capped(proc: subprocess.Popen, deadline: float, cap: int) -> tuple[bytes, bytes, str]:
    """Read stdout and stderr until EOF; kill on deadline or cap. Returns (out, err, reason)."""
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
    selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
    reason = ""
    kill_deadline = None
    while selector.get_map():
        now = time.monotonic()
        if not reason and now >= deadline:
            reason = "timeout"
        if reason and kill_deadline is None:
            _kill_group(proc)
            kill_deadline = now + _KILL_GRACE_S
        if kill_deadline is not None and now >= kill_deadline:
            break  # pipes held open by something we could not kill: give up reading
        wait = (kill_deadline or deadline) - now
        for key, _ in selector.select(timeout=max(0.0, min(wait, 0.5))):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                continue
            buffer = buffers[key.data]
            buffer.extend(chunk[: max(0, cap - len(buffer))])
            if len(chunk) and len(buffer) >= cap and not reason:
                reason = "output_limit"
    selector.close()
    return bytes(buffers["stdout"]), bytes(buffers["stderr"]), reason


def _terminating_signal(returncode: int, isolation: str) -> int | None:
    if returncode < 0:
        return -returncode
    if isolation == "namespaces" and 128 < returncode <= 128 + 64:
        return returncode - 128  # the setup shell reports a signalled child as 128 + signal
    return None


def _classify(returncode: int, stderr: str, reason: str, isolation: str) -> str:
    if reason:
        return reason
    if returncode == 0:
        return "ok"
    sig = _terminating_signal(returncode, isolation)
    if sig == signal.SIGXCPU:
        return "timeout"
    if "MemoryError" in stderr[-4000:]:
        return "memory"
    if sig is not None:
        return "killed"
    return "error"


def _execute(
    code: str,
    *,
    isolation: str,
    stdin: str | None = None,
    timeout_s: float = 10,
    memory_mb: int = 512,
    max_processes: int = 32,
    max_output_bytes: int = 1_000_000,
    max_file_bytes: int = MAX_FILE_BYTES,
    files: dict[str, str] | None = None,
) -> SandboxResult:
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
    boot = _BOOT.format(lim=_limits(timeout_s, memory_mb, max_processes, max_file_bytes))
    run = _prepare_run_dir(code, stdin, files, uid)
    try:
        command = _command(isolation, run, uid, boot)
        stdin_file = open(run / "stdin", "rb")  # noqa: SIM115 - closed below
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                command,
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=run / "work",
                env=_environment(str(run / "work")),
                start_new_session=True,
                close_fds=True,
            )
        finally:
            stdin_file.close()
        out, err, reason = _read_capped(proc, start + timeout_s, max_output_bytes)
        try:
            returncode = proc.wait(timeout=_KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode = proc.wait()
        _kill_group(proc)  # stragglers in the process group (process tier)
        wall = time.monotonic() - start
        stderr = err.decode("utf-8", "replace")
        return SandboxResult(
            status=_classify(returncode, stderr, reason, isolation),
            returncode=returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=stderr,
            wall_s=wall,
            isolation=isolation,
        )
    finally:
        shutil.rmtree(run, ignore_errors=True)


def _check_args(
    timeout_s: float, memory_mb: int, max_processes: int, max_output_bytes: int
) -> None:
    if not timeout_s > 0:
        raise InputError(f"timeout_s must be positive, got {timeout_s}")
    if memory_mb < 64:
        raise InputError(
            f"memory_mb must be at least 64 (the interpreter needs it), got {memory_mb}"
        )
    if max_processes < 1:
        raise InputError(f"max_processes must be at least 1, got {max_processes}")
    if max_output_bytes < 1:
        raise InputError(f"max_output_bytes must be at least 1, got {max_output_bytes}")


def run_code(
    code: str,
    *,
    stdin: str | None = None,
    timeout_s: float = 10,
    memory_mb: int = 512,
    max_processes: int = 32,
    max_output_bytes: int = 1_000_000,
    files: dict[str, str] | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> SandboxResult:
    """Execute ``code`` as ``main.py`` in a fresh sandbox; never raises for bad code.

    ``files`` are extra text files written into the scratch directory first (relative names).
    ``max_output_bytes`` caps stdout and stderr each; ``max_processes`` counts threads too.
    """
    if not isinstance(code, str):
        raise InputError(f"code must be a string, got {type(code).__name__}")
    _check_args(timeout_s, memory_mb, max_processes, max_output_bytes)
    isolation = str(sandbox_capabilities()["isolation"])
    return _execute(
        code,
        isolation=isolation,
        stdin=stdin,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        max_processes=max_processes,
        max_output_bytes=max_output_bytes,
        max_file_bytes=max_file_bytes,
        files=files,
    )


def run_many(codes: Sequence[str], *, workers: int | None = None, **kwargs) -> list[SandboxResult]:
    """Run several programs concurrently (threads waiting on sandboxed processes), in order."""
    if isinstance(codes, str):
        raise InputError("run_many takes a sequence of programs, not one string")
    if not codes:
        return []
    workers = workers or max(1, min(len(codes), os.cpu_count() or 1))
    sandbox_capabilities()  # detect once before the threads start
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda code: run_code(code, **kwargs), codes))
