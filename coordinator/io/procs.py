"""Finding, killing and reaping every process that belongs to one agent.

An agent is started in its own session, so its ordinary descendants share its process group and
a tree walk finds them. Two kinds escape the tree: a grandchild whose parent exited (re-parented
to init, or to us when we are a *child subreaper*) and one that double-forked and ``setsid``'d
away. Both still carry the ``COORDINATOR_TASK_ID``/``COORDINATOR_RUN_ID`` environment every
agent is given, so ``find_task_processes`` also scans ``/proc`` for them.

Reaping is the delicate part. As a subreaper we inherit orphans and must ``waitpid`` them or
they stay zombies; but ``waitpid`` on a pid that a ``subprocess.Popen`` (ours or another
module's, e.g. a git call) is about to wait for steals its exit status, and Popen then reports
0 for a killed process. So we never call ``waitpid(-1)`` and reap a zombie child only when it
provably was *not* forked by this process:

* a process we fork starts in our session and can only leave it through ``setsid()``, which
  makes it a session leader; so a child whose session is neither ours nor its own was
  re-parented to us, and no Popen in this process knows its pid; or
* it was identified, while still alive, by its ``COORDINATOR_*`` environment and is not one of
  the agents ``coordinator.io.agents`` launched (those are registered here and reaped by their
  own waiter thread).

A zombie orphan that is a session leader and died before any scan saw it alive cannot be told
apart from another module's ``start_new_session`` child; it is left alone (it holds only a pid
slot and disappears when the coordinator exits). The coordinator must not change its own
session after starting children, and must start processes with an agent's environment only
through ``start_agent``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator

import psutil

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

TASK_ENV = "COORDINATOR_TASK_ID"
RUN_ENV = "COORDINATOR_RUN_ID"

# psutil's wall-clock create_time adds /proc/stat's ``btime``, which moves with clock updates
# and jitters by a second; a pid cannot be recycled within that window in practice.
_SAME_START_SLACK = 1.0

_lock = threading.RLock()
_managed: set[int] = set()  # agent pids a Popen waiter thread will reap
_adopted: set[int] = set()  # orphans (our children) identified by environment while alive


@contextlib.contextmanager
def spawning() -> Iterator[None]:
    """Hold while starting an agent and calling ``register_child``, so no scan sees the new
    child (which already carries the agent environment) before it is known to be Popen's."""
    with _lock:
        yield


def register_child(pid: int) -> None:
    """Mark ``pid`` as reaped by its Popen waiter; nothing here will ever ``waitpid`` it."""
    with _lock:
        _managed.add(pid)


def unregister_child(pid: int) -> None:
    """Called by the waiter once ``Popen.wait`` has reaped ``pid``."""
    with _lock:
        _managed.discard(pid)


def become_subreaper() -> bool:
    """Make this process the child subreaper for its descendants (Linux ``prctl``).

    Orphaned descendants, including double-forked daemons, are then re-parented to us instead
    of init, so they stay visible in ``psutil.Process().children(recursive=True)``. The flag is
    process-wide and inherited by nothing, so call it once, early, in the coordinator process.
    Returns False where unsupported; the environment scan still finds escaped processes then.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    one, zero = ctypes.c_ulong(1), ctypes.c_ulong(0)
    return int(libc.prctl(PR_SET_CHILD_SUBREAPER, one, zero, zero, zero)) == 0


def is_subreaper() -> bool:
    """Whether ``become_subreaper`` is in effect for this process."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    flag = ctypes.c_int(0)
    zero = ctypes.c_ulong(0)
    rc = libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), zero, zero, zero)
    return int(rc) == 0 and flag.value != 0


def same_process(proc: psutil.Process, create_time: float | None) -> bool:
    """True unless ``create_time`` is given and shows the pid now names another process."""
    if create_time is None:
        return True
    try:
        return abs(proc.create_time() - create_time) <= _SAME_START_SLACK
    except psutil.Error:
        return False


def _alive(proc: psutil.Process) -> bool:
    """Running and not yet a zombie; a zombie has released everything but its pid."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _protected() -> set[int]:
    """This process and its ancestors: a scan must never kill the coordinator itself."""
    pids = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        pids.update(p.pid for p in psutil.Process().parents())
    return pids


def find_task_processes(task_id: str | None, run_id: str) -> list[psutil.Process]:
    """Every live process whose environment says it belongs to ``task_id`` in ``run_id`` (any
    task of the run when ``task_id`` is None), and all their descendants (which may have
    rewritten their environment).

    Scans all processes readable by our user, not only our descendants, so processes that
    escaped to init are found even without ``become_subreaper``. Zombies cannot be matched:
    their environment is gone. Matches that are our own children (re-parented orphans) are
    remembered so that ``reap_orphans`` can reap them once they die.
    """
    protected = _protected()
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter():
        if proc.pid in protected or proc.pid in found:
            continue
        try:
            env = proc.environ()
        except psutil.Error:  # another user's process, a zombie, or gone
            continue
        if env.get(RUN_ENV) != run_id or (task_id is not None and env.get(TASK_ENV) != task_id):
            continue
        found[proc.pid] = proc
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                if child.pid not in protected:
                    found.setdefault(child.pid, child)
    _adopt(found.values())
    return list(found.values())


def _adopt(procs: Iterable[psutil.Process]) -> None:
    """Remember matched processes that are our direct, non-Popen children, so that once they
    die ``reap_orphans`` may reap them even if they are session leaders.

    The pid stays valid in ``_adopted`` until we reap it: a child of ours cannot disappear
    (and its pid cannot be recycled) before we ``waitpid`` it, and nobody else here does.
    """
    me = os.getpid()
    with _lock:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.pid not in _managed and proc.ppid() == me:
                    _adopted.add(proc.pid)


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session) from ``/proc/<pid>/stat``; readable for zombies too."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[3])


def reap_orphans() -> list[int]:
    """Reap zombie children that were re-parented to us; returns the reaped pids.

    Safe to call from any thread at any time (agent waiter threads call it after each exit):
    it only touches pids that no Popen can be waiting for, see the module docstring. A no-op
    unless this process is a subreaper (otherwise orphans go to init).
    """
    if not sys.platform.startswith("linux"):
        return []
    me, my_session = os.getpid(), os.getsid(0)
    reaped: list[int] = []
    with _lock:
        try:
            children = [p.pid for p in psutil.Process(me).children()]
        except psutil.Error:
            return []
        for pid in children:
            info = _stat(pid)
            if info is None or info[1] != me or pid in _managed:
                continue
            state, _ppid, session = info
            if state != "Z":
                continue
            if pid in _adopted or session not in (my_session, pid):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                    reaped.append(pid)
        _adopted.intersection_update(set(children) - set(reaped))
    return reaped


def _signal_all(procs: list[psutil.Process], groups: set[int], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    for pgid in groups:
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)


def _foreign_groups(procs: Iterable[psutil.Process]) -> set[int]:
    """Process groups of ``procs`` that lie in sessions other than ours.

    Signalling the whole group also reaches members forked after the tree was collected. A
    group in our own session could hold the coordinator or its shell pipeline, so those are
    only signalled process by process; so are the groups of our ancestors.
    """
    my_session = os.getsid(0)
    groups: set[int] = set()
    for proc in procs:
        with contextlib.suppress(OSError):
            if os.getsid(proc.pid) != my_session:
                groups.add(os.getpgid(proc.pid))
    for pid in _protected():
        with contextlib.suppress(OSError):
            groups.discard(os.getpgid(pid))
    groups.difference_update({0, 1})
    return groups


def _wait_dead(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited (zombie or gone); return the survivors.

    Not ``psutil.wait_procs``: that ``waitpid``s our children, which would steal an agent's
    exit status from its Popen waiter. This loop only observes; reaping is ``reap_orphans``'s.
    """
    deadline = time.monotonic() + timeout
    interval = 0.001
    pending = [p for p in procs if _alive(p)]
    while pending and time.monotonic() < deadline:
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 2, 0.025)
        pending = [p for p in pending if _alive(p)]
    return pending


def terminate_processes(procs: Iterable[psutil.Process], timeout: float = 3.0) -> list[int]:
    """SIGTERM (and SIGCONT, so stopped processes act on it) every process and their foreign
    process groups, wait up to ``timeout``, SIGKILL the survivors and wait again.

    Returns the pids that were alive when signalled, sorted.
    """
    unique = {p.pid: p for p in procs}
    alive = [p for p in unique.values() if _alive(p)]
    groups = _foreign_groups(unique.values())
    if not alive and not groups:
        return []
    _signal_all(alive, groups, signal.SIGTERM)
    _signal_all(alive, groups, signal.SIGCONT)
    survivors = _wait_dead(alive, timeout)
    if survivors:
        _signal_all(survivors, _foreign_groups(survivors), signal.SIGKILL)
        _wait_dead(survivors, timeout)
    return sorted(p.pid for p in alive)


def _tree(pid: int, create_time: float | None) -> list[psutil.Process]:
    """``pid`` and its descendants, collected before anything is signalled, or ``[]`` if the
    pid is gone or now belongs to another process."""
    if pid <= 0 or pid == os.getpid():
        raise ValueError(f"refusing to kill process tree of pid {pid}")
    try:
        root = psutil.Process(pid)
        if not same_process(root, create_time):
            return []
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def kill_tree(pid: int, create_time: float | None, timeout: float = 3.0) -> list[int]:
    """Kill ``pid`` and all its descendants; returns the pids that had to be killed.

    A ``pid`` whose ``create_time`` differs is not ours and is left alone.
    """
    killed = terminate_processes(_tree(pid, create_time), timeout)
    reap_orphans()
    return killed


def kill_task(
    task_id: str,
    run_id: str,
    pid: int | None = None,
    create_time: float | None = None,
    timeout: float = 3.0,
) -> list[int]:
    """Kill everything belonging to one task: the tree under ``pid`` (the agent, if given)
    plus every process carrying the task's environment, wherever it was re-parented.

    Call it whenever a task ends, not only on timeout, so daemons an agent left behind do not
    outlive it. Collection is repeated (up to three rounds) to catch processes forked while the
    previous round was being terminated. Returns the killed pids, sorted.
    """
    killed: set[int] = set()
    for _round in range(3):
        procs = _tree(pid, create_time) if pid is not None else []
        procs += find_task_processes(task_id, run_id)
        if not any(_alive(p) for p in procs):
            break
        killed.update(terminate_processes(procs, timeout))
    reap_orphans()
    return sorted(killed)


def kill_run(run_id: str, timeout: float = 3.0) -> list[int]:
    """Kill every process carrying ``run_id`` in its environment, whatever task it served:
    what a coordinator killed mid-run left behind, even of tasks whose end it had recorded."""
    killed: set[int] = set()
    for _round in range(3):
        procs = find_task_processes(None, run_id)
        if not any(_alive(p) for p in procs):
            break
        killed.update(terminate_processes(procs, timeout))
    reap_orphans()
    return sorted(killed)
