"""``scripts/bench history``: reading a long history, plain git processes against GitPython.

Why: GitPython is on the project's card, and it should be used only where it is faster or
simpler than plain git. This measures both ways of every read the commands make, on a
generated repository shaped like a long-lived target branch (N task merges with the
coordinator's trailers, each changing one file of a 10,000-file tree):

* **whole history**: every first-parent commit with its trailers (what ``run``, the daemon and
  ``review`` read): one ``git log`` against GitPython walking the commits one by one.
* **one commit**: a single lookup (a ref, a commit's subject): a git process against a line
  written to the reader's long-lived ``cat-file``.
* **files of one merge**: what a task changed (``review`` shows it for every task): ``git
  diff-tree`` against comparing the two trees in process.
* **review**: the files of the last 100 landed tasks, the way ``review`` gets them.

Each figure is the median of several repetitions in one process; read the ratios.

``scripts/bench history --repo PATH`` is another benchmark: PATH's real history replayed as
tasks (``scripts/bench replay``, whose options it takes).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import bench_parser, emit, markdown_table
from benchmarks.run_bench import file_path, git, machine
from coordinator.io.gitobjects import ObjectReader
from coordinator.io.gitrepo import GitRepo

TARGET = "refs/heads/coordinator/integration"
REVIEWED = 100


def make_history(root: Path, merges: int, files: int) -> None:
    """``main`` with ``files`` files, then ``merges`` task merges on the target, via one
    ``git fast-import`` stream (seconds, not minutes, for thousands of commits)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    out = [b"commit refs/heads/main\nmark :1\ncommitter b <b@x> 1700000000 +0000\ndata 4\ninit\n"]
    for i in range(files):
        data = f"file {i}\n".encode()
        out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (file_path(i).encode(), len(data), data))
    out.append(b"\n")
    previous, mark = ":1", 2
    for t in range(merges):
        when = 1700000000 + t
        path = file_path((t * 37) % files).encode()
        data = f"task {t}\n".encode()
        change = b"M 100644 inline %s\ndata %d\n%s\n" % (path, len(data), data)
        out.append(f"commit refs/heads/bench/task\nmark :{mark}\ncommitter b <b@x> {when} +0000\n"
                   f"data 5\nwork\nfrom {previous}\n".encode() + change + b"\n")  # fmt: skip
        message = (
            f"Merge task t{t}: change {t}\n\nAgent summary: did {t}\n\nCoordinator-Task: t{t}\n"
            f"Coordinator-Agent: fake\nCoordinator-Run: r1\n"
        ).encode()
        out.append(f"commit {TARGET}\nmark :{mark + 1}\ncommitter b <b@x> {when} +0000\n".encode()
                   + b"data %d\n%s\nfrom %s\nmerge :%d\n" % (len(message), message,
                                                             previous.encode(), mark)
                   + change + b"\n")  # fmt: skip
        previous, mark = f":{mark + 1}", mark + 2
    git(root, "fast-import", "--quiet", data=b"".join(out))
    git(root, "gc", "--quiet")


def timed(action: Callable[[], object], reps: int) -> float:
    """Median milliseconds of ``action`` over ``reps`` runs."""
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def fresh(repo: GitRepo, action: Callable[[ObjectReader], object], reps: int) -> float:
    """Median milliseconds of ``action`` on a reader that has read nothing yet (its start is
    not counted): what one lookup costs without the reader's memory of earlier ones."""
    samples = []
    for _ in range(reps):
        with repo.reader() as reader:
            reader.resolve("HEAD")  # started and answering
            started = time.perf_counter()
            action(reader)
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(root: Path, reps: int) -> dict[str, Any]:
    rows: dict[str, dict[str, float]] = {}
    with GitRepo.discover(root) as repo, repo.reader() as reader:
        log = repo.first_parent_log(TARGET)
        merges = [c for c in log if len(c.parents) == 2]
        middle = merges[len(merges) // 2]

        def walk() -> int:
            commit, count = reader.commit(TARGET), 0
            while commit is not None:
                count += len(str(commit.message)) > 0
                commit = commit.parents[0] if commit.parents else None
            return count

        assert walk() == len(log)
        rows["whole history"] = {
            "git": timed(lambda: repo.first_parent_log(TARGET), reps),
            "gitpython": timed(walk, max(1, reps // 2)),
        }
        rows["one commit (subject)"] = {
            "git": timed(lambda: repo.subject_of(middle.sha), reps * 5),
            "gitpython": timed(lambda: reader.commit(middle.sha).summary, reps * 5),  # type: ignore[union-attr]
        }
        rows["one ref"] = {
            "git": timed(lambda: repo.rev_parse(TARGET), reps * 5),
            "gitpython": timed(lambda: reader.resolve(f"{TARGET}^{{commit}}"), reps * 5),
        }
        first = middle.parents[0]
        assert reader.changed_paths(first, middle.sha) == repo.changed_files(first, middle.sha)
        rows["files of one merge"] = {
            "git": timed(lambda: repo.changed_files(first, middle.sha), reps * 5),
            "gitpython": fresh(repo, lambda r: r.changed_paths(first, middle.sha), reps * 5),
        }
        last = merges[:REVIEWED]

        def review() -> None:
            with repo.reader() as fresh_reader:  # the reader's start counts
                for c in last:
                    fresh_reader.changed_paths(c.parents[0], c.sha)

        rows[f"review: files of {len(last)} merges"] = {
            "git": timed(lambda: [repo.changed_files(c.parents[0], c.sha) for c in last], reps),
            "gitpython": timed(review, reps),
        }
    for row in rows.values():
        row["ratio"] = row["git"] / row["gitpython"]
    return {"commits": len(log), "rows": rows}


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    rows = [
        [name, f"{row['git']:.3f}", f"{row['gitpython']:.3f}", f"x{row['ratio']:.2f}"]
        for name, row in result["rows"].items()
    ]
    return "\n".join(
        [
            f"## history: {result['commits']} first-parent commits, {result['files']:,} files",
            "",
            f"machine: nproc {m['nproc']}, {m['cpu']}, Python {m['python']}, git {m['git']}",
            "",
            markdown_table(
                ["read", "git processes ms", "GitPython reader ms", "git / GitPython"], rows
            ),
            "",
            "GitPython reader = GitPython's parsers over one long-lived `git cat-file "
            "--batch-command`; above 1 the reader is faster.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = bench_parser("scripts/bench history", __doc__, "500 merges on 2,000 files")
    parser.add_argument("--merges", type=int, help="task merges on the target (default 3000)")
    parser.add_argument("--files", type=int, help="files in the tree (default 10000)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per figure")
    args = parser.parse_args(argv)
    merges = args.merges or (500 if args.quick else 3000)
    files = args.files or (2000 if args.quick else 10_000)
    # In-process git (GitRepo) must see the same clean config as the generated repository.
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        del os.environ[key]
    os.environ.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    work = Path(tempfile.mkdtemp(prefix="coordinator-bench-history-"))
    try:
        started = time.perf_counter()
        make_history(work / "repo", merges, files)
        print(f"[bench history] {merges} merges on {files} files made in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)  # fmt: skip
        result = {"machine": machine(), "files": files, **measure(work / "repo", args.reps)}
        emit(result, render(result), args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
