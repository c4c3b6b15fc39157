"""Remove a run directory whatever the code under test left in it; never raises.

``shutil.rmtree`` recurses once per directory level (a 3,000-deep tree raised ``RecursionError``
out of the scoring call) and builds full paths (deeper than PATH_MAX fails). This walks the tree
with one open directory at a time, relative to its parent's descriptor (``dir_fd``), never follows
a symlink (``O_NOFOLLOW``: a link to a host folder is unlinked, not entered) and restores the
owner's permissions on directories the code locked (mode 000) before entering them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat

log = logging.getLogger(__name__)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_STEPS = 2_000_000  # bounds the work on a pathological tree


def _clear_files(fd: int) -> list[str]:
    """Unlink every non-directory in the open directory; return its subdirectory names."""
    with os.scandir(fd) as entries:
        listed = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    for name, is_dir in listed:
        if not is_dir:
            os.unlink(name, dir_fd=fd)
    return [name for name, is_dir in listed if is_dir]


def _open_child(parent: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:
        os.chmod(name, stat.S_IRWXU, dir_fd=parent, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _remove_contents(top: int) -> None:
    """Empty the directory open as ``top``, depth first, holding one descriptor at a time."""
    fd = os.dup(top)
    stack: list[tuple[str, list[str]]] = [("", [])]  # (directory name, subdirectories left)
    try:
        stack[0] = ("", _clear_files(fd))
        for _ in range(_MAX_STEPS):
            name, pending = stack[-1]
            if pending:
                child_name = pending.pop()
                child = _open_child(fd, child_name)
                os.close(fd)
                fd = child
                stack.append((child_name, _clear_files(fd)))
                continue
            if len(stack) == 1:
                return
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            stack.pop()
            os.rmdir(name, dir_fd=fd)
        raise OSError(f"gave up after {_MAX_STEPS} steps")
    finally:
        os.close(fd)


def remove_tree(path: str | os.PathLike[str]) -> bool:
    """Delete ``path`` and everything below it; returns False (and logs) instead of raising."""
    path = os.fspath(path)
    try:
        if os.path.islink(path) or not os.path.isdir(path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return True
        top = os.open(path, _DIR_FLAGS)
        try:
            _remove_contents(top)
        finally:
            os.close(top)
        os.rmdir(path)
        return True
    except Exception as error:
        log.warning("could not remove sandbox run directory %s: %s", path, error)
        return False
