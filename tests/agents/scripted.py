"""A fake agent for end-to-end tests, driven by directives in its prompt file (argv[1]).

One directive per line; other lines are ignored, so a prompt can mix prose and directives:

    @write PATH TEXT         write TEXT and a newline to PATH (relative to the worktree)
    @append PATH TEXT        append TEXT and a newline to PATH
    @touch ABSPATH           create an absolute file (a barrier or a signal for the test)
    @wait ABSPATH SECONDS    wait until ABSPATH exists (exit 9 after SECONDS)
    @sleep SECONDS
    @marker done|failed [SUMMARY]   write the JSON completion marker
    @marker-empty            write an empty marker (means done)
    @marker-raw TEXT         write TEXT verbatim as the marker
    @commit MESSAGE          git add -A and commit, as an agent that commits itself
    @spawn SECONDS ABSPATH   start a child that sleeps SECONDS; its pid is appended to ABSPATH
    @pid ABSPATH             append this agent's pid to ABSPATH
    @note ABSPATH TEXT       append TEXT and a newline to ABSPATH (outside the worktree)
    @wait-merged TASK SECS   wait until TASK's merge commit is on the target branch
    @if-attempt N DIRECTIVE  run DIRECTIVE only on attempt N (COORDINATOR_ATTEMPT)
    @hang                    sleep forever (until killed)
    @exit CODE               exit with CODE now
    @git ARGS...             run git with ARGS (split like a shell) as the agent; fail if it fails
    @rmtree PATH             delete a directory tree; "." is the worktree itself (the cwd)
    @gitdir-touch NAME       create NAME in the worktree's own git dir (e.g. index.lock)
    @keep-editing PATH       append a line to PATH every 20 ms, forever (until killed)
    @env ABSPATH             write the COORDINATOR_* environment, the cwd and argv as JSON
    @stamp ABSPATH           append the time now (seconds since the epoch) to ABSPATH
    @ignore-term             ignore SIGTERM from now on (only SIGKILL stops it)
    @spew BYTES              write BYTES bytes of output lines to stdout as fast as it can
    @signal NAME             kill itself with that signal (SEGV, ABRT, KILL...): a crash
    @fork-away ABSPATH       start a daemon (fork, setsid, fork) that keeps stdout open and
                             sleeps forever; its pid is appended to ABSPATH
    @try DIRECTIVE           run DIRECTIVE and go on if it fails (an attack that may be refused)

and the attack directives of ``_attack`` (symlinks, writes outside the worktree, ...).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def _marker(text: str) -> None:
    path = Path(os.environ["COORDINATOR_MARKER"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _wait(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(9)
        time.sleep(0.01)


def _merged(task: str) -> bool:
    out = subprocess.run(
        ["git", "log", "--format=%B", "coordinator/integration"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return f"Coordinator-Task: {task}" in out


def _common_dir() -> Path:
    out = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return Path(out.strip())


def _attack(verb: str, rest: str) -> bool:
    """The directives of the attack corpus (tests/security); False for any other verb.

    @symlink TARGET LINK      make LINK (in the worktree) a symlink to TARGET
    @write-abs ABSPATH TEXT   write TEXT to an absolute path, outside the worktree
    @common-write REL TEXT    write TEXT (\\n: newline) to REL in the git common dir, executable
    @fill PATH BYTES          write a file of BYTES zero bytes
    @git ARGS...              as below (here so that @try can wrap it)
    """
    if verb == "@symlink":
        target, _, link = rest.partition(" ")
        Path(link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    elif verb == "@write-abs":
        path, _, text = rest.partition(" ")
        Path(path).write_text(text + "\n", encoding="utf-8")
    elif verb == "@common-write":
        rel, _, text = rest.partition(" ")
        planted = _common_dir() / rel
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.write_text(text.replace("\\n", "\n"), encoding="utf-8")
        planted.chmod(0o755)
    elif verb == "@fill":
        name, _, size = rest.partition(" ")
        with open(name, "wb") as fh:
            fh.truncate(0)
            fh.write(b"\0" * int(size))
    elif verb == "@git":
        who = ["-c", "user.name=agent", "-c", "user.email=agent@example.com"]
        subprocess.run(["git", *who, *shlex.split(rest)], check=True)
    else:
        return False
    return True


def _fork_away(pidfile: str) -> None:
    """A classic daemon: out of the agent's tree, session and process group at once."""
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        with open(pidfile, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
        while True:
            time.sleep(3600)
    os.waitpid(middle, 0)


def _spew(size: int) -> None:
    line = b"x" * 79 + b"\n"
    block = line * 1024
    out = sys.stdout.buffer
    while size > 0:
        chunk = block[:size]
        out.write(chunk)
        size -= len(chunk)
    out.flush()


def main() -> int:
    lines = Path(sys.argv[1]).read_text(encoding="utf-8").splitlines()
    for line in lines:
        if not line.startswith("@"):
            continue
        verb, _, rest = line.partition(" ")
        if verb == "@if-attempt":
            wanted, _, line = rest.partition(" ")
            if os.environ.get("COORDINATOR_ATTEMPT") != wanted:
                continue
            verb, _, rest = line.partition(" ")
        if verb == "@try":
            verb, _, rest = rest.partition(" ")
            try:
                _attack(verb, rest)
            except (OSError, subprocess.CalledProcessError) as exc:
                print(f"@try {verb}: {exc}", flush=True)
            continue
        if _attack(verb, rest):
            continue
        if verb in {"@write", "@append"}:
            rel, _, text = rest.partition(" ")
            target = Path(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a" if verb == "@append" else "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        elif verb == "@touch":
            Path(rest).touch()
        elif verb == "@stamp":
            with Path(rest).open("a", encoding="utf-8") as fh:
                fh.write(f"{time.time()}\n")
        elif verb == "@wait":
            path, _, seconds = rest.rpartition(" ")
            _wait(Path(path), float(seconds))
        elif verb == "@sleep":
            time.sleep(float(rest))
        elif verb == "@marker":
            status, _, summary = rest.partition(" ")
            _marker(json.dumps({"status": status, "summary": summary}))
        elif verb == "@marker-empty":
            _marker("")
        elif verb == "@marker-raw":
            _marker(rest)
        elif verb == "@commit":
            subprocess.run(["git", "add", "-A"], check=True)
            subprocess.run(
                [
                    "git",
                    "-c",
                    "user.name=agent",
                    "-c",
                    "user.email=agent@example.com",
                    "commit",
                    "-q",
                    "-m",
                    rest,
                ],
                check=True,
            )
        elif verb == "@spawn":
            seconds, _, pidfile = rest.partition(" ")
            child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
            with open(pidfile, "a", encoding="utf-8") as fh:
                fh.write(f"{child.pid}\n")
        elif verb == "@note":
            path, _, text = rest.partition(" ")
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        elif verb == "@pid":
            with open(rest, "a", encoding="utf-8") as fh:
                fh.write(f"{os.getpid()}\n")
        elif verb == "@wait-merged":
            task, _, seconds = rest.partition(" ")
            deadline = time.monotonic() + float(seconds)
            while not _merged(task):
                if time.monotonic() > deadline:
                    sys.exit(9)
                time.sleep(0.02)
        elif verb == "@hang":
            while True:
                time.sleep(3600)
        elif verb == "@exit":
            return int(rest)
        elif verb == "@git":
            who = ["-c", "user.name=agent", "-c", "user.email=agent@example.com"]
            subprocess.run(["git", *who, *shlex.split(rest)], check=True)
        elif verb == "@rmtree":
            shutil.rmtree(os.getcwd() if rest == "." else rest)
        elif verb == "@gitdir-touch":
            gitdir = subprocess.run(
                ["git", "rev-parse", "--absolute-git-dir"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            Path(gitdir, rest).touch()
        elif verb == "@env":
            seen = {k: v for k, v in os.environ.items() if k.startswith("COORDINATOR_")}
            record = {"env": seen, "cwd": os.getcwd(), "argv": sys.argv}
            Path(rest).write_text(json.dumps(record), encoding="utf-8")
        elif verb == "@ignore-term":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        elif verb == "@spew":
            _spew(int(rest))
        elif verb == "@signal":
            os.kill(os.getpid(), getattr(signal, f"SIG{rest.strip()}"))
            time.sleep(1)  # a signal that only stops it: it is still not done
        elif verb == "@fork-away":
            _fork_away(rest)
        elif verb == "@keep-editing":
            n = 0
            while True:
                n += 1
                with open(rest, "a", encoding="utf-8") as fh:
                    fh.write(f"edit {n}\n")
                time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
