"""Run model-written Python in a separate, isolated, resource-limited process.

This package is the only place where untrusted code is executed. Nothing is monkey-patched: each
execution is a fresh interpreter (``python -I -S``: stdlib only, no site-packages, no ``PYTHON*``
environment variables), started by ``exec`` for that run alone (no process, and no interpreter
state, is ever reused from one program to the next), under kernel-enforced limits. The isolation
tier is detected once per process (``sandbox_capabilities``), strongest first:

``full`` (root, util-linux ``unshare``, a writable cgroup v2 or v1 memory + pids hierarchy)
    new network, PID, mount, IPC and UTS namespaces; a private root holding only ``/usr``, the
    interpreter (site-packages hidden), empty private ``/tmp``, ``/run``, ``/dev/shm`` and the
    scratch directory ``/work`` (a tmpfs; see ``boot.py``), into which the run's files come on a
    descriptor (never through the host disk); a per-run cgroup bounding the memory
    of every kind (shm, memfd, tmpfs included) and the number of processes, and giving the run
    its own CPU share (``cpu.weight`` / v1 ``cpu.shares`` where the controller is writable), so
    one run's many processes cannot starve a concurrent run (``cgroup.py``); a
    fresh session keyring; a random unprivileged uid with no capabilities and ``no_new_privs``.
``namespaces``
    the same without the cgroup: memory is bounded per process only (RLIMIT_AS).
``bwrap`` (not root, bubblewrap works)
    ``bwrap --unshare-all`` with the same kind of private root, but the scratch directory is a
    host folder and there is no cgroup.
``process``
    a separate process with rlimits, a clean environment and (when root) a random uid; no
    namespace, the host file system is visible.

Only ``full`` is used unless the caller passes ``allow_weak_isolation=True``: otherwise a missing
feature raises ``SandboxUnavailable`` naming it (fail closed). Every result records its tier.

In every tier: RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE and RLIMIT_CORE are
set (soft = hard, but RLIMIT_CPU's hard limit is a second above its soft one, so running out of
CPU time ends the run with SIGXCPU, a final ``timeout``) before the user code runs; wall time is
enforced by the parent, which kills the whole process group (and with it the namespace); stdout
and stderr are capped while reading; stdin is a file without a path (a memfd) only the run holds.
The parent never raises for what the code did: cleanup is ``cleanup.remove_tree`` and a run whose
setup fails is a ``sandbox_error`` result.

Cost (issue 28, docs/BENCHMARKS.md): a ``full`` run costs about two bare interpreter starts. The
setup program is compiled once per parent process and travels marshal'd with its configuration
and the run's files on one memfd; it imports only ``posix``, ``resource`` and ``_ctypes``; PID 1
is ``/bin/sh`` (it reaps), not a fork of the interpreter; the view is computed once per process;
the supervisor sleeps on a pidfd and the pipes together; and the cgroup v1 migration's grace
period overlaps the interpreter's start (``cgroup.move_early``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gpu_ops.errors import InputError
from gpu_ops.sandbox.boot import (
    DEVICES,
    SANDBOX_WORK,
    SETUP_FAILED_EXIT,
    bind_sources,
    boot_launcher,
    boot_payload,
    boot_source,
    mount_plan,
    syscall_numbers,
)
from gpu_ops.sandbox.cgroup import (
    RunCgroup,
    cgroup_layout,
    create_run_cgroup,
    move_early,
    oom_killed,
    remove_run_cgroup,
)
from gpu_ops.sandbox.cleanup import remove_tree

log = logging.getLogger(__name__)
SANDBOX_STATUSES = ("ok", "error", "timeout", "memory", "killed", "output_limit", "sandbox_error")
TIERS = ("full", "namespaces", "bwrap", "process")  # strongest first
MAX_FILE_BYTES = 16 * 1024 * 1024  # RLIMIT_FSIZE: largest file the code may write
MAX_OPEN_FILES = 256
_UID_BASE = 1_900_000_000  # random per-run uids come from [_UID_BASE, _UID_BASE + 2**26)
_UID_SPAN = 2**26
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_KILL_GRACE_S = 2.0  # how long to keep reading after SIGKILL
_DRAIN_S = 0.5  # how long pipes may stay open after the leader exited
_CGROUP_SLACK_MB = 24  # unshare, PID 1 and the interpreter's own start count too
_CGROUP_EXTRA_PIDS = 3  # unshare and PID 1 may be in the group; RLIMIT_NPROC binds the code first
_SURROGATES = re.compile("[\ud800-\udfff]")
_SETUP_FAILED = "sandbox setup failed:"
_WALL_SLACK_S = 0.5  # how long past its CPU limit a run may take on the wall clock


class SandboxError(RuntimeError):
    """The sandbox itself could not be set up (not a failure of the executed code)."""


class SandboxUnavailable(SandboxError):
    """The required isolation tier is not available here; the message names what is missing."""


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one execution; ``status`` is one of SANDBOX_STATUSES, ``isolation`` the tier."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: str
    provisional: bool = False  # an outcome load could have caused (wall clock, sandbox error)


def safe_text(text: str) -> str:
    """``text`` with lone surrogates (no UTF-8 form) replaced by U+FFFD, so it can be written."""
    return _SURROGATES.sub("\ufffd", text)


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


_STAGING_CANDIDATES = ("/tmp", "/mnt", "/media", "/srv", "/opt", "/var/tmp", "/home")


@functools.cache
def _staging_root() -> str:
    """Where the namespace tiers build their private root: an existing host directory that a
    tmpfs covers in the run's own mount namespace only (the host's view of it never changes, so
    concurrent runs share it and no host folder is made per run). It must not hold, nor lie
    inside, anything the view binds from the host."""
    sources = [os.path.realpath(p) for p in bind_sources()]
    sources += [f"/dev/{device}" for device in DEVICES]
    for candidate in _STAGING_CANDIDATES:
        path = os.path.realpath(candidate)
        if path == "/" or not os.path.isdir(path):
            continue
        if all(s != path and not s.startswith(path + "/") and not path.startswith(s + "/")
               for s in sources):  # fmt: skip
            return path
    raise SandboxError(
        "no directory to build the private root on: each of "
        + ", ".join(_STAGING_CANDIDATES)
        + " is missing or holds the interpreter or /usr"
    )


def _anonymous_file(data: bytes) -> int:
    """A descriptor of a file holding ``data``, read from its start, that has no path (a memfd;
    an unlinked temporary file where there is none): no other run can open it."""
    try:
        fd = os.memfd_create("wc-sandbox", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        fd = os.dup((handle := tempfile.TemporaryFile()).fileno())  # noqa: SIM115
        handle.close()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _input_bundle(code: str, files: dict[str, str] | None) -> dict[str, bytes]:
    """The run's files (``main.py`` and ``files``) as {name: UTF-8 bytes}, for the setup code to
    write into the private ``/work`` (namespace tiers): they never touch the host disk."""
    bundle = {name: safe_text(text).encode("utf-8") for name, text in (files or {}).items()}
    bundle["main.py"] = safe_text(code).encode("utf-8")
    return bundle


@functools.cache
def _reaper() -> bool:
    """Whether PID 1 of the namespace tiers is a shell (``_reaper_command``) rather than the
    setup interpreter, which must then fork to leave PID 1's special signal rules."""
    return os.access("/bin/sh", os.X_OK)


def _reaper_command(stderr_fd: int) -> list[str]:
    """PID 1 of the namespace tiers: a shell that starts the setup program, reaps orphans and
    exits with its status (128 + signal when it was killed), costing less than a fork of the
    interpreter. The shell reports a killed child ("Killed") on its stderr, which is /dev/null
    while it waits; the program gets the real one on ``stderr_fd`` (``boot_launcher``)."""
    return ["/bin/sh", "-c", f'unset PWD; "$0" "$@" {stderr_fd}>&2 2>/dev/null; exit $?']


def _probe(isolation: str) -> str:
    """Run a trivial program through a tier; '' when it really works, else why not."""
    try:
        result = _execute("print(6 * 7)", isolation=isolation, timeout_s=10, memory_mb=256)
    except (OSError, SandboxError) as error:
        return f"{type(error).__name__}: {error}"
    if result.status == "ok" and result.stdout.strip() == "42":
        return ""
    return f"probe {result.status}: {result.stderr.strip()[-300:]}"


def _detect() -> tuple[str, list[str]]:
    """(strongest working tier, what is missing for ``full``)."""
    missing: list[str] = []
    is_root = os.geteuid() == 0
    unshare, bwrap = shutil.which("unshare"), shutil.which("bwrap")
    if not is_root:
        missing.append("root (namespaces, cgroups and the uid drop need it)")
    if not unshare:
        missing.append("util-linux unshare")
    if not syscall_numbers():
        missing.append("pivot_root/keyctl syscall numbers for this CPU")
    if cgroup_layout() is None:
        missing.append(
            "a writable cgroup v2 (memory+pids delegated) or v1 memory and pids hierarchy"
        )
    if not missing:
        reason = _probe("full")
        if not reason:
            return "full", []
        missing.append(f"the full tier failed its probe ({reason})")
    if is_root and unshare and syscall_numbers():
        reason = _probe("namespaces")
        if not reason:
            return "namespaces", missing
        missing.append(f"the namespaces tier failed its probe ({reason})")
    if not is_root and bwrap:
        reason = _probe("bwrap")
        if not reason:
            return "bwrap", missing
        missing.append(f"bwrap failed its probe ({reason})")
    return "process", missing


_detected: dict[str, object] = {}
_detect_lock = threading.Lock()


def _tier() -> tuple[str, list[str]]:
    with _detect_lock:
        if not _detected:
            _detected["tier"], _detected["missing"] = _detect()
        return str(_detected["tier"]), list(_detected["missing"])  # type: ignore[arg-type]


def sandbox_capabilities() -> dict[str, object]:
    """Which isolation is active on this machine (detected once per process) and what is missing
    for the ``full`` tier."""
    tier, missing = _tier()
    is_root = os.geteuid() == 0
    namespaced = tier in ("full", "namespaces", "bwrap")
    interpreter, drop_to = _interpreter().executable, 0
    if tier == "process":
        interpreter, drop_to = _process_tier_plan(0)
    dropped = not is_root or drop_to is not None
    layout = cgroup_layout() if tier == "full" else None
    return {
        "isolation": tier,
        "missing_for_full": missing,
        "is_root": is_root,
        "separate_process": True,
        "rlimits": ["CPU", "AS", "NPROC", "FSIZE", "NOFILE", "CORE"],
        "cgroup": f"v{layout.version}" if layout else None,
        "cpu_share": bool(layout and layout.cpu_parent),
        "clean_environment": True,
        "network_isolated": namespaced,
        "pid_namespace": namespaced,
        "private_root": namespaced,
        "fresh_keyring": True,
        "unprivileged_uid": dropped,  # root drops to a random uid; others run as themselves
        "nproc_enforced": dropped,
        "interpreter": interpreter,
        "tools": {name: shutil.which(name) for name in ("unshare", "bwrap")},
    }


def require_tier(allow_weak_isolation: bool) -> str:
    """The tier runs will use; raises SandboxUnavailable unless it is ``full`` or weaker tiers
    are explicitly allowed. A failed detection is forgotten, so the next call probes again."""
    tier, missing = _tier()
    if tier == "full" or allow_weak_isolation:
        return tier
    with _detect_lock:
        _detected.clear()
    raise SandboxUnavailable(
        f"sandbox isolation 'full' is not available (best here: {tier!r}); missing: "
        + "; ".join(missing)
        + ". Install what is missing, or accept the weaker tier explicitly"
        " (allow_weak_isolation / the config's allow_weak_isolation: true)."
    )


def _limits(timeout_s: float, memory_mb: int, max_processes: int, max_file_bytes: int) -> dict:
    return {
        "RLIMIT_CPU": max(1, int(timeout_s + 0.999)),
        "RLIMIT_AS": memory_mb * 1024 * 1024,
        "RLIMIT_NPROC": max_processes,
        "RLIMIT_FSIZE": max_file_bytes,
        "RLIMIT_NOFILE": MAX_OPEN_FILES,
        "RLIMIT_CORE": 0,
    }


def _environment(home: str, tmp: str) -> dict[str, str]:
    """The whole environment the code sees: nothing inherited from the parent."""
    return {"PATH": _SAFE_PATH, "HOME": home, "TMPDIR": tmp, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


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


def _bwrap_args(run: Path) -> list[str]:
    """bubblewrap's version of the private root (no cgroup; the scratch folder is on the host)."""
    new = str(run / "root")
    plan = mount_plan(new, 0, 64)
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    for op in plan:
        kind, target = op[0], op[2][len(new) :] if op[2].startswith(new) else op[2]
        if kind == "symlink" and not target.startswith("/dev/"):
            args += ["--symlink", op[1], target]
        elif kind == "bind" or (kind == "file" and target.startswith("/etc/")):
            args += ["--ro-bind", op[1], target]
        elif kind == "tmpfs" and target not in ("", "/dev", "/dev/shm", SANDBOX_WORK):
            args += ["--tmpfs", target]
    return [
        *args, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm",
        "--bind", str(run / "work"), SANDBOX_WORK, "--chdir", SANDBOX_WORK,
    ]  # fmt: skip


def _setup_config(
    isolation: str, uid: int, limits: dict[str, int], cgroup: RunCgroup | None, memory_mb: int,
    files: dict[str, bytes] | None = None,
) -> dict:  # fmt: skip
    """What the setup program (``boot.BOOT``) does for one run."""
    namespaced = isolation in ("full", "namespaces")
    drop_to = uid if os.geteuid() == 0 and isolation != "bwrap" else None  # bwrap maps the user
    if isolation == "process":
        drop_to = _process_tier_plan(uid)[1]
    new_root = _staging_root() if namespaced else ""
    return {
        "plan": mount_plan(new_root, uid, memory_mb, with_inputs=True) if namespaced else [],
        "new_root": new_root,
        "work": SANDBOX_WORK,
        "files": files or {},
        "fork": namespaced and not _reaper(),
        "cgroups": cgroup.procs_files if cgroup else [],
        "syscalls": syscall_numbers(),
        "uid": drop_to,
        "limits": limits,
    }


def _command(isolation: str, run: Path | None, cfg: dict, payload_fd: int | None) -> list[str]:
    """The command line of one run. The namespace tiers get the setup program and its
    configuration on ``payload_fd`` (``boot_payload``); the others as ``-c`` source."""
    if isolation in ("full", "namespaces") and payload_fd is not None:
        stderr_fd = (9 if payload_fd != 9 else 8) if _reaper() else None
        return [
            "unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
            "--propagation", "private", "--",
            *(_reaper_command(stderr_fd) if stderr_fd is not None else []),
            _interpreter().executable, "-I", "-S", "-c", boot_launcher(payload_fd, stderr_fd),
        ]  # fmt: skip
    executable = _process_tier_plan(0)[0] if isolation == "process" else _interpreter().executable
    python = [executable, "-I", "-S", "-c", boot_source(cfg)]
    if isolation == "bwrap" and run is not None:
        return [*_bwrap_args(run), "--", *python]
    return python


def _check_file_names(files: dict[str, str] | None) -> None:
    for name in files or {}:
        parts = PurePosixPath(name).parts if isinstance(name, str) else ()
        if (
            not isinstance(name, str)
            or not name
            or name.startswith("/")
            or ".." in parts
            or name == "main.py"
            or "\0" in name
            or _SURROGATES.search(name)
        ):
            raise InputError(f"sandbox file name must be a relative path inside scratch: {name!r}")
        if not isinstance(files[name], str):
            raise InputError(
                f"sandbox file {name!r} must be text, got {type(files[name]).__name__}"
            )


def _write_inputs(folder: Path, code: str, files: dict[str, str] | None) -> None:
    for name, content in (files or {}).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(safe_text(content), encoding="utf-8")
    (folder / "main.py").write_text(safe_text(code), encoding="utf-8")


def _prepare_run_dir(code: str, files: dict[str, str] | None, uid: int, isolation: str) -> Path:
    """The host folder of one run of the ``bwrap`` and ``process`` tiers: ``work/``, the scratch
    directory itself (and ``root/``, bwrap's mount point). The namespace tiers have none: their
    files travel on a descriptor (``_input_bundle``) into the private ``/work`` tmpfs."""
    run = Path(tempfile.mkdtemp(prefix="wc-sandbox-", dir=_scratch_base()))
    try:
        run.chmod(0o755)  # not writable by the sandbox uid; traversable to reach work/
        work = run / "work"
        work.mkdir()
        _write_inputs(work, code, files)
        if os.geteuid() == 0 and isolation == "process":
            for path in [work, *work.rglob("*")]:
                os.chown(path, uid, uid, follow_symlinks=False)
        work.chmod(0o700)
    except BaseException:
        remove_tree(run)
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


def _exit_fd(proc: subprocess.Popen) -> int | None:
    """A pidfd that becomes readable when the leader exits (None where the kernel has none):
    the supervisor then sleeps on its streams and the exit together and never polls."""
    try:
        return os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return None


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
    exit_fd = _exit_fd(proc)
    if exit_fd is not None:
        selector.register(exit_fd, selectors.EVENT_READ, "exit")
    streams = 2
    reason = ""
    exited_at = killed_at = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and _has_exited(proc):
                exited_at = now
                if exit_fd is not None:
                    selector.unregister(exit_fd)
            if exited_at is not None and not streams:
                break
            if not reason and now >= deadline:
                reason = "timeout"
            stragglers = exited_at is not None and now - exited_at > _DRAIN_S
            if killed_at is None and (reason or stragglers):
                _kill_group(proc)
                killed_at = now
            if killed_at is not None and now - killed_at > _KILL_GRACE_S:
                break  # pipes held by something outside the group: stop reading
            if exited_at is not None:
                timeout = 0.05
            else:
                timeout = max(0.0, min(deadline - now, 0.25))
                if exit_fd is None and not streams:
                    timeout = min(timeout, 0.02)  # no pidfd: poll for the exit
            for key, _ in selector.select(timeout=timeout):
                if key.data == "exit":
                    continue  # seen by _has_exited at the top of the loop
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    streams -= 1
                    continue
                buffer = buffers[key.data]
                buffer.extend(chunk[: max(0, cap - len(buffer))])
                if len(buffer) >= cap and not reason:
                    reason = "output_limit"
    finally:
        selector.close()
        if exit_fd is not None:
            os.close(exit_fd)
    _kill_group(proc)  # leftovers of the group, while the leader's pid is still reserved
    returncode = proc.wait()
    return bytes(buffers["stdout"]), bytes(buffers["stderr"]), reason, returncode


def _terminating_signal(returncode: int, isolation: str) -> int | None:
    if returncode < 0:
        return -returncode
    if isolation in ("full", "namespaces") and 128 < returncode <= 128 + 64:
        return returncode - 128  # PID 1 of the namespace reports a signalled child as 128 + signal
    return None


def _classify(returncode: int, stderr: str, reason: str, isolation: str, oom: bool) -> str:
    if reason:
        return reason
    if returncode == 0:
        return "ok"
    sig = _terminating_signal(returncode, isolation)
    if sig == signal.SIGXCPU:
        return "timeout"
    if oom or "MemoryError" in stderr[-4000:]:
        return "memory"
    if returncode == SETUP_FAILED_EXIT and stderr.startswith(_SETUP_FAILED):
        return "sandbox_error"
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
    wall_timeout_s: float | None = None,
) -> SandboxResult:
    # The wall clock waits a little past the CPU limit (RLIMIT_CPU is whole seconds, rounded up):
    # a program that spends its CPU time meets SIGXCPU, a final verdict, before the wall clock,
    # whose kill is only provisional (load could have caused it).
    wall_s = max(int(timeout_s + 0.999) + _WALL_SLACK_S, wall_timeout_s or 0.0)
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
    layout = cgroup_layout() if isolation == "full" else None
    if isolation == "full" and layout is None:
        raise SandboxUnavailable("the full tier needs a writable cgroup hierarchy")
    namespaced = isolation in ("full", "namespaces")
    run = None if namespaced else _prepare_run_dir(code, files, uid, isolation)
    fds: list[int] = []  # stdin, then (namespace tiers) the setup program and its files
    cgroup = None
    try:
        fds.append(_anonymous_file(safe_text(stdin or "").encode("utf-8")))
        if layout is not None:
            cgroup = create_run_cgroup(
                layout,
                (memory_mb + _CGROUP_SLACK_MB) * 1024 * 1024,
                max_processes + _CGROUP_EXTRA_PIDS,
            )
        limits = _limits(timeout_s, memory_mb, max_processes, max_file_bytes)
        bundle = _input_bundle(code, files) if namespaced else None
        cfg = _setup_config(isolation, uid, limits, cgroup, memory_mb, bundle)
        if namespaced:
            fds.append(_anonymous_file(boot_payload(cfg)))
        command = _command(isolation, run, cfg, fds[1] if namespaced else None)
        private = isolation in ("full", "namespaces", "bwrap")
        work = SANDBOX_WORK if private or run is None else str(run / "work")
        start = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=fds[0],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd="/" if run is None else run / "work",
            env=_environment(work, "/tmp" if private else work),
            start_new_session=True,
            close_fds=True,
            pass_fds=fds[1:],
        )
        while fds:  # the child holds its own copies now
            os.close(fds.pop())
        if cgroup is not None:
            move_early(cgroup, proc.pid)
        out, err, reason, returncode = _supervise(proc, start + wall_s, max_output_bytes)
        wall = time.monotonic() - start
        stderr = err.decode("utf-8", "replace")
        oom = cgroup is not None and oom_killed(cgroup)
        status = _classify(returncode, stderr, reason, isolation, oom)
        return SandboxResult(
            status=status,
            returncode=returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=stderr,
            wall_s=wall,
            isolation=isolation,
            provisional=reason == "timeout" or status == "sandbox_error",
        )
    finally:
        for fd in fds:
            os.close(fd)
        if cgroup is not None and not remove_run_cgroup(cgroup):
            log.warning("sandbox cgroup %s could not be removed", cgroup.memory)
        if run is not None:
            remove_tree(run)


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


def _setup_failure(isolation: str, error: Exception) -> SandboxResult:
    """A run whose host-side setup failed: its own result, so a batch goes on."""
    message = f"{_SETUP_FAILED} {type(error).__name__}: {error}"
    log.warning("%s", message)
    return SandboxResult("sandbox_error", None, "", message, 0.0, isolation, provisional=True)


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
    allow_weak_isolation: bool = False,
    wall_timeout_s: float | None = None,
) -> SandboxResult:
    """Execute ``code`` as ``main.py`` in a fresh sandbox; never raises for what the code does.

    ``timeout_s`` is CPU time (RLIMIT_CPU, whole seconds rounded up; running out is the final
    status ``timeout``); the wall clock allows that plus half a second (or ``wall_timeout_s`` when
    longer), and its kill is ``timeout`` with ``provisional=True``, like a ``sandbox_error``: load
    could have caused it.
    ``files`` are extra text files written into the scratch directory first (relative names).
    ``max_output_bytes`` caps stdout and stderr each; ``max_processes`` counts threads too;
    ``memory_mb`` bounds each process (RLIMIT_AS) and, in the ``full`` tier, the whole run.
    Raises InputError for bad arguments and SandboxUnavailable when the ``full`` tier is missing
    and ``allow_weak_isolation`` is False.
    """
    if not isinstance(code, str):
        raise InputError(f"code must be a string, got {type(code).__name__}")
    if stdin is not None and not isinstance(stdin, str):
        raise InputError(f"stdin must be a string, got {type(stdin).__name__}")
    _check_args(timeout_s, memory_mb, max_processes, max_output_bytes)
    _check_file_names(files)
    isolation = require_tier(allow_weak_isolation)
    try:
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
            wall_timeout_s=wall_timeout_s,
        )
    except (OSError, SandboxError, ValueError) as error:
        return _setup_failure(isolation, error)


def run_many(
    codes: Sequence[str],
    *,
    workers: int | None = None,
    files_per_run: Sequence[dict[str, str] | None] | None = None,
    on_result: Callable[[int, SandboxResult], None] | None = None,
    **kwargs,
) -> list[SandboxResult]:
    """Run several programs concurrently (threads waiting on sandboxed processes), in order.

    ``files_per_run`` gives each program its own extra files. One program's failure, whatever
    it is, is its own result; the others still run. ``on_result(position, result)`` is called
    in the caller's thread as each program finishes (so the caller can commit it at once)."""
    if isinstance(codes, str):
        raise InputError("run_many takes a sequence of programs, not one string")
    if files_per_run is not None and len(files_per_run) != len(codes):
        raise InputError(
            f"files_per_run has {len(files_per_run)} entries for {len(codes)} programs"
        )
    if not codes:
        return []
    workers = workers or max(1, min(len(codes), os.cpu_count() or 1))
    require_tier(bool(kwargs.get("allow_weak_isolation", False)))  # fail closed before starting
    files = (
        list(files_per_run)
        if files_per_run is not None
        else [kwargs.pop("files", None)] * len(codes)
    )
    results: list[SandboxResult | None] = [None] * len(codes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = {
            pool.submit(run_code, code, files=extra, **kwargs): position
            for position, (code, extra) in enumerate(zip(codes, files, strict=True))
        }
        for future in as_completed(running):
            position = running[future]
            results[position] = future.result()
            if on_result is not None:
                on_result(position, results[position])
    return results  # type: ignore[return-value]  # every position is filled
