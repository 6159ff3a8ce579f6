"""What runs on a Ray node for one task: clone the base, run the agent, hand the work back.

This module never imports Ray (``coordinator.io.rayexec`` wraps ``run_task`` as a Ray task),
so it can be run and tested as plain Python. It keeps the package's doors: git only through
``GitRepo`` (a bare clone of the shipped bundle, the task's worktree linked to it exactly as
on the coordinator's machine, so ``collect_work`` applies unchanged) and processes only
through ``processes``/``procs``.

``run_task`` is a generator, which Ray streams back item by item: ``("started", node)`` the
moment the node has the task, ``("log", bytes)`` chunks as the agent writes its output (so
``coordinator logs -f`` follows a remote agent), with ``[worktree] setup`` configured
``("setup", (ok, detail, seconds))`` once it ran (a failed setup ends the task there, as
locally), and last ``("done", NodeResult)``. With ``sandbox`` the agent runs under bwrap,
confined to the node's clone as a sandboxed agent is to its clone locally. The node
writes nothing outside its temporary directory and removes it when the task ends.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from coordinator.core.argv import agent_env, render_argv
from coordinator.core.config import Identity
from coordinator.core.decisions import by_exit
from coordinator.core.refs import branch_ref
from coordinator.errors import GitError
from coordinator.io import processes, procs, sandbox
from coordinator.io.agents import launch_error
from coordinator.io.gitguard import DriverGuard
from coordinator.io.gitrepo import GitRepo
from coordinator.io.gitworktree import clone_bare
from coordinator.io.markers import MAX_MARKER_BYTES, read_marker
from coordinator.io.setupcmd import SetupResult, run_setup
from coordinator.io.workcheck import collect_work

POLL = 0.02  # seconds between looks at the agent and its marker
LOG_EVERY = 0.5  # seconds between log chunks sent back while the agent runs
MARKER_SETTLE = 0.2  # an empty marker must stay empty this long to mean "done"
EXIT_WAIT = 0.1  # seconds an agent gets to exit by itself after its done marker

NodeItem = tuple[str, object]


@dataclass(frozen=True)
class NodeJob:
    """Everything a node needs to run one attempt of a task, as plain values.

    ``values`` are the placeholder values as the coordinator rendered them; the paths among
    them (worktree, marker, spec, prompt file, python) are replaced by the node's own."""

    task_id: str
    run_id: str
    attempt: int
    branch: str
    base: str
    command: tuple[str, ...]
    extra_env: Mapping[str, str]
    values: Mapping[str, str]
    spec_text: str
    log_limit: int
    grace: float
    identity: Identity
    message_ok: str
    message_wip: str
    remote: str | None = None  # clone from here, the bundle then holds only what it lacks
    keep: bool = False  # keep the node's directory (debugging)
    sandbox: bool = False  # ``isolation = "sandbox"``: the agent runs under bwrap on the node
    setup: tuple[str, ...] = ()  # ``[worktree] setup``'s argv template, run before the agent
    setup_timeout: float = 600.0


@dataclass(frozen=True)
class NodeResult:
    """What comes back: the work as a bundle of the task branch (None: no new commit), the
    marker as the agent wrote it, and how the agent ended."""

    node: str
    returncode: int
    error: str  # set when the agent could not be started
    head: str
    bundle: bytes | None
    marker: bytes | None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class _Attempt:
    """What one attempt started on this node, for the cleanup that must follow it."""

    def __init__(self, job: NodeJob, node: str) -> None:
        self.job = job
        self.node = node
        self.started = time.perf_counter()
        self.home = Path(tempfile.mkdtemp(prefix=f"coordinator-{job.task_id}-"))
        self.log = self.home / "agent.log"
        self.agent: processes.Started | None = None
        self.setup_pids: list[int] = []
        self.reader: BinaryIO | None = None
        self.timings: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        """The time since the last lap, as ``phase``'s."""
        self.timings[phase] = time.perf_counter() - self.started - sum(self.timings.values())

    def chunk(self) -> Iterator[NodeItem]:
        """What the log gained since the last look, if anything."""
        assert self.reader is not None
        if data := _read_log(self.reader, self.job.log_limit):
            yield ("log", data)

    def cleanup(self) -> None:
        """Nothing of the agent may outlive its task, nor its clone."""
        job = self.job
        if self.agent is not None and self.agent.popen is not None:
            pid = self.agent.popen.pid if self.agent.popen.poll() is None else None
            procs.kill_task(job.task_id, job.run_id, pid, None, timeout=job.grace)
        elif self.setup_pids:  # cancelled during the setup
            procs.kill_task(job.task_id, job.run_id, self.setup_pids[0], None, timeout=job.grace)
        if self.reader is not None:
            self.reader.close()
        if not job.keep:
            shutil.rmtree(self.home, ignore_errors=True)


def run_task(job: NodeJob, bundle: bytes | None, node: str) -> Iterator[NodeItem]:
    """Run one attempt of ``job`` on this node; see the module docstring for what it yields."""
    yield ("started", node)
    attempt = _Attempt(job, node)
    try:
        yield from _run(attempt, bundle)
    except BaseException:  # cancelled or failed: the cleanup before the task ends
        attempt.cleanup()
        raise
    # Done (the agent's own tree is stopped already): the look for strays that left it and
    # the clone's removal run after the task ends, so the node's slot is free for the next
    # task at once rather than after a scan of every process on the node.
    threading.Thread(target=attempt.cleanup, name=f"cleanup-{job.task_id}", daemon=True).start()


def _run(at: _Attempt, bundle: bytes | None) -> Iterator[NodeItem]:
    job = at.job
    repo, worktree = _checkout(job, bundle, at.home)
    # The agent writes this clone's config (committing needs it): a filter or merge driver it
    # defines must not run when the node commits its leftovers, as on the coordinator's machine.
    guard = DriverGuard(repo)
    guard.snapshot()
    repo.guard = guard.overrides
    at.lap("clone")
    values = _node_values(job, at.home, worktree)
    argv = render_argv(list(job.command), values)
    env = agent_env(os.environ, values, job.extra_env)
    at.log.touch()
    at.reader = at.log.open("rb")
    if job.setup:
        setup = yield from _setup(job, values, env, worktree, at)
        at.timings["setup"] = setup.seconds
        yield ("setup", (setup.ok, setup.detail, setup.seconds))
        if not setup.ok:  # as locally: the agent never runs, nothing is collected
            yield from at.chunk()
            repo.close()
            yield ("done", NodeResult(at.node, 1, "", job.base, None, None, (),
                                      time.perf_counter() - at.started, at.timings))  # fmt: skip
            return
        with at.log.open("ab") as log:
            log.write(f"[coordinator] ---- agent: {shlex.join(argv)} ----\n".encode())
    if job.sandbox:
        argv, env = _confine(argv, env, at.home, worktree)
    with at.log.open("ab") as log:
        at.agent = agent = processes.start(argv, cwd=worktree, env=env, stdout=log,
                                           stderr=processes.STDOUT, new_session=True,
                                           die_with_parent=True)  # fmt: skip
    error = ""
    if agent.popen is None:
        code = agent.returncode if agent.returncode is not None else 127
        error = launch_error(argv[0], agent.strerror or agent.error)
        yield ("log", f"[coordinator] {agent.error}\n".encode())
    else:
        yield from _follow(agent.popen, at.reader, Path(values["marker"]), job.log_limit)
        code = _stop(job, agent.popen)
    yield from at.chunk()
    at.lap("agent")
    marker = Path(values["marker"])
    ok = by_exit(read_marker(marker), code, error).ok
    check = collect_work(
        repo, worktree=worktree, branch=job.branch, base=job.base, identity=job.identity,
        message=job.message_ok if ok else job.message_wip,
    )  # fmt: skip
    data = None
    if check.head != job.base:
        out = at.home / "result.bundle"
        if repo.bundle_create(out, branch_ref(job.branch), exclude=(job.base,)):
            data = out.read_bytes()
    notes = check.notes if check.ok else (*check.notes, check.reason)
    at.lap("collect")
    result = NodeResult(at.node, code, error, check.head, data, _marker_bytes(marker), notes,
                        time.perf_counter() - at.started, at.timings)  # fmt: skip
    repo.close()
    yield ("done", result)


def _checkout(job: NodeJob, bundle: bytes | None, home: Path) -> tuple[GitRepo, Path]:
    """A bare clone holding the base (from the bundle, or the remote plus the bundle) and
    the task's worktree on a new task branch at the base."""
    bare = home / "repo.git"
    source = job.remote
    if bundle is not None:
        (home / "base.bundle").write_bytes(bundle)
        if source is None:
            source = str(home / "base.bundle")
    if source is None:
        raise RuntimeError(f"task {job.task_id}: neither a bundle nor a remote to clone from")
    clone_bare(source, bare)
    repo = GitRepo(bare, bare)
    if job.remote is not None and bundle is not None:
        repo.bundle_unbundle(home / "base.bundle")
    worktree = home / "worktree"
    try:  # (a bundle is shared by the tasks of one base: it may hold another task's branch)
        repo.worktree_add_reset(worktree, job.branch, job.base)
    except GitError as exc:
        raise RuntimeError(f"task {job.task_id}: cannot check out the base {job.base[:12]} "
                           f"from {source}: {exc}") from exc  # fmt: skip
    return repo, worktree


def _node_values(job: NodeJob, home: Path, worktree: Path) -> dict[str, str]:
    """The placeholder values with this node's paths; the prompt and spec files written."""
    spec = home / "spec.md"
    prompt = home / "prompt.md"
    spec.write_text(job.spec_text, encoding="utf-8")
    prompt.write_text(job.values.get("prompt", ""), encoding="utf-8")
    (home / "markers").mkdir()
    return {
        **job.values,
        "worktree": str(worktree),
        "marker": str(home / "markers" / f"{job.task_id}.json"),
        "spec": str(spec),
        "prompt_file": str(prompt),
        "python": sys.executable,
    }


def _setup(
    job: NodeJob, values: Mapping[str, str], env: Mapping[str, str], worktree: Path, at: _Attempt
) -> Generator[NodeItem, None, SetupResult]:
    """``[worktree] setup`` in the node's fresh clone, as locally (its output in the log, under
    its header), on a thread so that its output streams back while it runs."""
    argv = render_argv(list(job.setup), values)
    done: list[SetupResult] = []

    def work() -> None:
        result = run_setup(argv, cwd=worktree, env=env, log=at.log, timeout=job.setup_timeout,
                           on_start=at.setup_pids.append)  # fmt: skip
        done.append(result)

    thread = threading.Thread(target=work, name=f"setup-{job.task_id}", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(LOG_EVERY)
        yield from at.chunk()
    return done[0] if done else SetupResult(False, "setup did not finish", 0.0)


def _confine(
    argv: list[str], env: dict[str, str], home: Path, worktree: Path
) -> tuple[list[str], dict[str, str]]:
    """The agent under bwrap, as a sandboxed agent runs locally: it may write its worktree,
    the clone's git directory that worktree commits into, and its marker directory, all
    under ``home``; everything else is read-only and ``/tmp`` is private."""
    wrapped = sandbox.wrap(argv, task_dir=worktree,
                           writable=[home / "repo.git", home / "markers"], root=home)  # fmt: skip
    return wrapped, {**env, "TMPDIR": str(sandbox.PRIVATE_TMP)}


def _follow(
    popen: processes.Popen[bytes], log: BinaryIO, marker: Path, limit: int
) -> Iterator[NodeItem]:
    """Until the agent exits or its done marker is there: its log, a chunk now and then."""
    sent = time.monotonic()
    empty_since: float | None = None
    while popen.poll() is None:
        content = read_marker(marker)
        if content is not None and content.valid:
            if not _is_empty(marker):
                break
            now = time.monotonic()
            empty_since = empty_since or now
            if now - empty_since >= MARKER_SETTLE:
                break
        else:
            empty_since = None
        if time.monotonic() - sent >= LOG_EVERY:
            sent = time.monotonic()
            if chunk := _read_log(log, limit):
                yield ("log", chunk)
        time.sleep(POLL)


def _stop(job: NodeJob, popen: processes.Popen[bytes]) -> int:
    """Stop the agent's process tree (it may have exited already) and return its exit code.

    Strays that left the tree are looked for after the result is sent (``run_task``'s
    ``finally``): the work is collected from the worktree, which they no longer matter to,
    and that scan of every process is too slow to wait for."""
    try:
        return popen.wait(timeout=EXIT_WAIT)  # an agent that exits after its marker
    except processes.TimeoutExpired:
        procs.kill_tree(popen.pid, None, timeout=job.grace)
    try:
        return popen.wait(timeout=job.grace + 5)
    except processes.TimeoutExpired:
        return -9


def _read_log(log: BinaryIO, limit: int) -> bytes:
    """What the agent wrote since the last read, within ``limit`` bytes in all."""
    room = limit - log.tell()
    if room <= 0:
        return b""
    return log.read(room)


def _marker_bytes(marker: Path) -> bytes | None:
    try:
        with marker.open("rb") as fh:
            return fh.read(MAX_MARKER_BYTES + 1)
    except OSError:
        return None


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False
