"""``isolation = "sandbox"``: the agent's process runs under bubblewrap (``bwrap``).

Inside, the whole filesystem is read-only except the task's own directory (its clone), its
marker directory and a private ``/tmp``; the agent has its own process namespace (it sees and
can signal only its own processes) and the network stays on (agents call model APIs). Whatever
the agent tries, the only files it can change are its task's.

Not used here: ``--die-with-parent`` (a coordinator killed outright leaves its agents to the
next run's recovery, as in the other modes) and ``--new-session`` (the agent already leads its
own session, whose process group the coordinator signals; stdin is ``/dev/null`` and no
terminal is passed in).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from coordinator.errors import InputError, Problem
from coordinator.io import processes

PACKAGE = "bubblewrap"
_FIX = (f'install the Debian package {PACKAGE} (apt install {PACKAGE}), or use isolation = '
        '"clone"')  # fmt: skip
PRIVATE_TMP = Path("/tmp")  # noqa: S108 (inside the sandbox: a private, empty tmpfs)


def require(source: str | None = None) -> None:
    """Refuse (exit 2, one line) when no sandbox can be made here: ``bwrap`` missing, or the
    kernel does not let it create namespaces."""
    if shutil.which("bwrap") is None:
        raise InputError(Problem(source, "isolation", '"sandbox" needs bwrap, which is not '
                                 "installed (not found on PATH)", _FIX))  # fmt: skip
    probe = processes.run(["bwrap", "--ro-bind", "/", "/", "--unshare-pid", "--", "true"],
                          timeout=30)  # fmt: skip
    if not probe.ok:
        said = (probe.stderr or probe.stdout).decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else probe.reason()
        raise InputError(Problem(
            source, "isolation", f'"sandbox" cannot create a sandbox here: bwrap says "{why}" '
            "(user namespaces unavailable?)", f"allow unprivileged user namespaces, or {_FIX}",
        ))  # fmt: skip


def wrap(
    argv: Sequence[str], *, task_dir: Path, writable: Sequence[Path], root: Path
) -> list[str]:
    """``argv`` run under bwrap: ``task_dir`` (its cwd) and ``writable`` can be written, the
    rest of the filesystem is read-only, ``/tmp`` is private and empty.

    Paths the agent must read that lie under ``/tmp`` (the repository ``root``, whose objects
    a clone borrows and where its prompt lives; the agent's program, as named and as its
    symlinks resolve) are mounted back read-only on top of the private ``/tmp``, each by its
    top directory there: a program in a virtualenv under ``/tmp`` needs the whole environment
    (``pyvenv.cfg`` beside its ``bin/``), not just the file named.
    """
    real = [os.path.realpath(p) for p in (task_dir, *writable)]
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", str(PRIVATE_TMP)]  # fmt: skip
    named = [root, *(Path(a) for a in argv if os.path.isabs(a) and os.path.exists(a))]
    readable = {top for path in named for top in _tmp_tops(path)}
    for top in sorted(readable):
        args += ["--ro-bind", top, top]
    for writable_path in real:
        args += ["--bind", writable_path, writable_path]
    args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--chdir", real[0], "--"]
    return [*args, *argv]


def _tmp_tops(path: Path) -> list[str]:
    """The top directories under ``/tmp`` that ``path`` (as given, and resolved) lies in."""
    tops = []
    for candidate in (os.path.abspath(path), os.path.realpath(path)):
        if Path(candidate).is_relative_to(PRIVATE_TMP) and Path(candidate) != PRIVATE_TMP:
            first = Path(candidate).relative_to(PRIVATE_TMP).parts[0]
            tops.append(str(PRIVATE_TMP / first))
    return tops
