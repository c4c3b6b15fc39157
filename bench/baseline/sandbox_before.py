"""FROZEN COPY of gpu_ops/sandbox.py as it was before issue 13 (commit 3eae98d), kept only as
the baseline of bench/bench_sandbox.py ("sandbox runs per second before vs after, same run").
Never import it from project code: it lacks the private root, cgroup, keyring and stdin fixes.

Run model-written Python in a separate, isolated, resource-limited process.

This module is the only place where untrusted code is executed. Nothing is monkey-patched: each
execution is a fresh interpreter (``python -I -S``: stdlib only, no site-packages, no ``PYTHON*``
environment variables) started in a new directory, under kernel-enforced limits. Which isolation
layers are used is detected once at run time (see ``sandbox_capabilities``), strongest first:

``namespaces`` (running as root with util-linux ``unshare``)
    new network, PID, mount, IPC and UTS namespaces; every mount re-mounted read-only except the
    scratch directory; the code runs under a random unprivileged uid/gid (so RLIMIT_NPROC is
    enforced, which the kernel skips for root) with no capabilities and ``no_new_privs``. A root
    init process is PID 1 of the namespace: when it or ``unshare`` dies, the kernel kills every
    process in the namespace, so nothing (double forks, ``setsid``) survives the run.
``bwrap`` (not root, bubblewrap works)
    ``bwrap --unshare-all`` (user, network, PID, IPC, UTS, cgroup namespaces), read-only bind of
    ``/``, a private ``/dev``, the scratch directory the only writable bind, ``--die-with-parent``.
``process`` (fallback)
    a separate process in its own session with the same rlimits, a stripped environment and the
    scratch directory as working directory; when root it still drops to a random uid. No network or filesystem isolation: see docs/RELIABILITY.md.

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
from pathlib import Path, PurePosixPath

from gpu_ops.errors import InputError

SANDBOX_STATUSES = ("ok", "error", "timeout", "memory", "killed", "output_limit")
MAX_FILE_BYTES = 16 * 1024 * 1024  # RLIMIT_FSIZE: largest file the code may write
MAX_OPEN_FILES = 256
SETUP_FAILED_EXIT = 125  # exit code of the boot code when a mount or privilege step fails
_UID_BASE = 1_900_000_000  # random per-run uids come from [_UID_BASE, _UID_BASE + 2**26)
_UID_SPAN = 2**26
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_KILL_GRACE_S = 2.0  # how long to keep reading after SIGKILL
_DRAIN_S = 0.5  # how long pipes may stay open after the leader exited

# Runs first inside the child interpreter. In the namespace tier it starts as root and PID 1 of
# fresh namespaces: it re-mounts every mount read-only except the scratch directory (fail closed),
# exposes the interpreter if it lives under a directory the sandbox uid cannot enter (e.g.
# /root/.pyenv) by hiding that directory behind a tmpfs, then forks. The root parent stays PID 1:
# it only reaps and reports the child's status, and when it exits the kernel kills everything
# left in the namespace. The child (and in the other tiers the only process) drops to the
# sandbox uid when started as root (no groups, empty capability bounding set, no_new_privs),
# sets the limits (soft = hard), and runs main.py as __main__.
_BOOT = """\
import os, resource, sys
_cfg = {cfg!r}
def _die(message):
    os.write(2, ("sandbox setup failed: " + message + "\\n").encode())
    os._exit(125)
if _cfg["namespaces"]:
    import ctypes, re
    _libc = ctypes.CDLL(None, use_errno=True)
    def _mount(source, target, fstype, flags, what):
        if _libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags, None) != 0:
            _die(what + " " + target + ": " + os.strerror(ctypes.get_errno()))
    _RO, _NOSUID, _NODEV, _REMOUNT, _BIND = 1, 2, 4, 32, 4096
    _run, _prefix, _hide = _cfg["run"], _cfg["prefix"], _cfg["hide"]
    _work = _run + "/work"
    _mount(_work, _work, None, _BIND, "bind scratch")
    if _hide:
        _mount(_prefix, _run + "/py", None, _BIND, "bind interpreter")
    with open("/proc/self/mountinfo") as _f:
        _points = [re.sub(r"\\\\([0-7]{{3}})", lambda m: chr(int(m.group(1), 8)), l.split()[4]) for l in _f]
    for _point in _points:
        _mount(None, _point, None, _REMOUNT | _BIND | _RO | _NOSUID | (0 if _point == "/dev" else _NODEV), "read-only")
    if _hide:
        _mount("sandbox-hide", _hide, "tmpfs", _NOSUID | _NODEV, "hide")
        os.makedirs(_prefix, exist_ok=True)
        _mount(_run + "/py", _prefix, None, _BIND, "expose interpreter")
        _mount(None, _prefix, None, _REMOUNT | _BIND | _RO | _NOSUID | _NODEV, "interpreter read-only")
        _mount(None, _hide, None, _REMOUNT | _RO | _NOSUID | _NODEV, "hide read-only")
    _mount(None, _work, None, _REMOUNT | _BIND | _NOSUID | _NODEV, "scratch writable")
    os.chdir(_work)
    _child = os.fork()
    if _child:
        while True:
            _pid, _status = os.waitpid(-1, 0)
            if _pid == _child:
                _code = os.waitstatus_to_exitcode(_status)
                os._exit(_code if _code >= 0 else 128 - _code)
if _cfg["uid"] is not None:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
    _cap = 0
    while _libc.prctl(24, _cap, 0, 0, 0) == 0:  # PR_CAPBSET_DROP every capability
        _cap += 1
    if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        _die("no_new_privs")
    os.setgroups([])
    os.setresgid(_cfg["uid"], _cfg["uid"], _cfg["uid"])
    os.setresuid(_cfg["uid"], _cfg["uid"], _cfg["uid"])
    if os.getuid() == 0 or os.geteuid() == 0:
        _die("still root")
    _libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: own /proc/self again, as after an exec
for _name, _value in _cfg["limits"].items():
    resource.setrlimit(getattr(resource, _name), (_value, _value))
sys.path.insert(0, os.getcwd())
sys.argv = ["main.py"]
with open("main.py", encoding="utf-8") as _f:
    _code = compile(_f.read(), "main.py", "exec")
exec(_code, {{"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}})
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
    tools = {name: shutil.which(name) for name in ("unshare", "bwrap")}
    tier = "process"
    if is_root and tools["unshare"] and _probe("namespaces"):
        tier = "namespaces"
    elif not is_root and tools["bwrap"] and _probe("bwrap"):
        tier = "bwrap"
    namespaced = tier in ("namespaces", "bwrap")
    interpreter, drop_to = _interpreter().executable, 0
    if tier == "process":
        interpreter, drop_to = _process_tier_plan(0)
    dropped = not is_root or drop_to is not None
    return {
        "isolation": tier,
        "is_root": is_root,
        "separate_process": True,
        "rlimits": ["CPU", "AS", "NPROC", "FSIZE", "NOFILE", "CORE"],
        "clean_environment": True,
        "network_isolated": namespaced,
        "pid_namespace": namespaced,
        "readonly_filesystem": namespaced,
        "unprivileged_uid": dropped,  # root drops to a random uid; others run as themselves
        "nproc_enforced": dropped,
        "interpreter": interpreter,
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


def _world_usable(path: str) -> bool:
    """Whether any uid can execute ``path`` (every ancestor traversable, the file executable)."""
    real = Path(os.path.realpath(path))
    return real.is_file() and all(os.stat(p).st_mode & stat.S_IXOTH for p in [real, *real.parents])


@functools.cache
def _public_interpreter() -> str | None:
    """For the ``process`` tier as root: a python3 a dropped uid can run when the base one is
    hidden (no mount namespace to expose it). Same minor version first."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for name in (version, "python3"):
        for folder in ("/usr/bin", "/usr/local/bin", "/bin"):
            candidate = os.path.join(folder, name)
            if _world_usable(candidate):
                return os.path.realpath(candidate)
    return None


def _process_tier_plan(uid: int) -> tuple[str, int | None]:
    """(interpreter, uid to drop to) for the ``process`` tier."""
    interp = _interpreter()
    if os.geteuid() != 0:
        return interp.executable, None
    if not interp.hide:
        return interp.executable, uid
    public = _public_interpreter()
    return (public, uid) if public else (interp.executable, None)  # last resort: stays root


def _command(isolation: str, run: Path, uid: int, limits: dict[str, int]) -> list[str]:
    interp = _interpreter()
    executable, drop_to = interp.executable, uid if os.geteuid() == 0 else None
    if isolation == "bwrap":
        drop_to = None  # the user namespace already maps the calling user
    if isolation == "process":
        executable, drop_to = _process_tier_plan(uid)
    cfg = {
        "namespaces": isolation == "namespaces",
        "run": str(run),
        "prefix": interp.prefix,
        "hide": interp.hide,
        "uid": drop_to,
        "limits": limits,
    }
    python = [executable, "-I", "-S", "-c", _BOOT.format(cfg=cfg)]
    if isolation == "namespaces":
        return [
            "unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
            "--mount-proc", "--propagation", "private", "--", *python,
        ]  # fmt: skip
    if isolation == "bwrap":
        work = str(run / "work")
        return [
            "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--bind", work, work, "--chdir", work, "--", *python,
        ]  # fmt: skip
    return python


def _check_file_names(files: dict[str, str] | None) -> None:
    for name in files or {}:
        parts = PurePosixPath(name).parts
        if not name or name.startswith("/") or ".." in parts or name == "main.py":
            raise InputError(f"sandbox file name must be a relative path inside scratch: {name!r}")


def _prepare_run_dir(code: str, stdin: str | None, files: dict[str, str] | None, uid: int) -> Path:
    run = Path(tempfile.mkdtemp(prefix="wc-sandbox-", dir=_scratch_base()))
    try:
        run.chmod(0o755)  # root-owned and not writable by the sandbox uid
        work = run / "work"
        work.mkdir()
        (run / "py").mkdir()
        (run / "stdin").write_text(stdin or "", encoding="utf-8")
        for name, content in (files or {}).items():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        (work / "main.py").write_text(code, encoding="utf-8")
        if os.geteuid() == 0:
            for path in [work, *work.rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
        work.chmod(0o700)
    except BaseException:
        shutil.rmtree(run, ignore_errors=True)
        raise
    return run


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group; in namespace tiers this tears down the namespace.

    Called only while the leader is not yet reaped, so its pid (the group id) cannot be reused.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _has_exited(proc: subprocess.Popen) -> bool:
    """Whether the leader exited, without reaping it (WNOWAIT keeps its pid reserved)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _supervise(proc: subprocess.Popen, deadline: float, cap: int) -> tuple[bytes, bytes, str, int]:
    """Read stdout and stderr (each capped) until the process is done; kill on deadline or cap.

    Returns (stdout, stderr, reason, returncode); reason is "timeout", "output_limit" or "".
    Processes still holding the pipes shortly after the leader exited (possible only in the
    ``process`` tier) are killed with the group.
    """
    buffers = {"stdout": bytearray(), "stderr": bytearray()}
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
    selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
    reason = ""
    exited_at = killed_at = None
    while True:
        now = time.monotonic()
        if exited_at is None and _has_exited(proc):
            exited_at = now
        if exited_at is not None and not selector.get_map():
            break
        if not reason and now >= deadline:
            reason = "timeout"
        stragglers = exited_at is not None and now - exited_at > _DRAIN_S
        if killed_at is None and (reason or stragglers):
            _kill_group(proc)
            killed_at = now
        if killed_at is not None and now - killed_at > _KILL_GRACE_S:
            break  # pipes held by something outside the group: stop reading
        if not selector.get_map():
            time.sleep(min(0.02, max(0.0, deadline - now)))
            continue
        for key, _ in selector.select(
            timeout=0.05 if exited_at else max(0.0, min(deadline - now, 0.25))
        ):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                selector.unregister(key.fileobj)
                continue
            buffer = buffers[key.data]
            buffer.extend(chunk[: max(0, cap - len(buffer))])
            if len(buffer) >= cap and not reason:
                reason = "output_limit"
    selector.close()
    _kill_group(proc)  # leftovers of the group, while the leader's pid is still reserved
    returncode = proc.wait()
    return bytes(buffers["stdout"]), bytes(buffers["stderr"]), reason, returncode


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
    run = _prepare_run_dir(code, stdin, files, uid)
    try:
        command = _command(
            isolation, run, uid, _limits(timeout_s, memory_mb, max_processes, max_file_bytes)
        )
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
        out, err, reason, returncode = _supervise(proc, start + timeout_s, max_output_bytes)
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
    _check_file_names(files)
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
