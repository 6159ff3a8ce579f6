"""``coordinator review``: what landed on the target, read back from git itself.

Everything shown comes from the merge commits and their trailers (plus the agent's summary from
the store when there is one), and each entry prints the plain git commands that show the same,
so reviewing with git alone keeps working.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coordinator.core.refs import branch_ref
from coordinator.errors import InputError, Problem
from coordinator.io.gitdata import CommitInfo
from coordinator.io.gitobjects import ObjectReader
from coordinator.io.gitrepo import GitRepo
from coordinator.io.history import TRAILER_REVERT
from coordinator.io.merger import (
    SUMMARY_PREFIX,
    TRAILER_AGENT,
    TRAILER_RUN,
    TRAILER_TASK,
    TRAILER_VIOLATIONS,
)
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store
from coordinator.project import read_config


@dataclass(frozen=True)
class Landed:
    """One task merge on the target, oldest first in a review."""

    task_id: str
    commit: str
    first_parent: str
    task_head: str
    title: str
    agent: str
    run_id: str
    violations: tuple[str, ...]
    diffstat: str
    summary: str = ""
    patch: str = ""
    files: tuple[str, ...] = field(default=())
    reverted_by: str | None = None  # the revert commit on the target, if any

    def git_commands(self) -> list[str]:
        short = self.commit[:12]
        return [
            f"git show --stat {short}",
            f"git diff {short}^1 {short}",
            f"git log --oneline {short}^1..{short}^2",
        ]


def landed(
    repo: GitRepo,
    target: str,
    *,
    tasks: Sequence[str] = (),
    run_id: str | None = None,
    since: str | None = None,
    patch: bool = False,
    summaries: dict[str, str] | None = None,
) -> list[Landed]:
    """Task merges on ``target``'s first-parent history, oldest first, filtered as asked.

    ``since`` is a revision (what landed after it: ``git log --first-parent since..target``)
    or, when no revision has that name, a date as ``git log --since`` reads it.
    """
    ref = branch_ref(target)
    history: list[CommitInfo] = repo.first_parent_log(ref)
    reverts = _reverts(history)
    stop = repo.rev_parse(since) if since else None
    if stop is not None:
        commits = repo.first_parent_log(ref, stop_at=stop)
    elif since:
        cutoff = parse_date(repo, since)
        commits = [c for c in history if c.committed_at >= cutoff]
    else:
        commits = history
    with repo.reader() as reader:  # the files of every task, without a process per task
        return [_landed(repo, reader, info, reverts, patch, summaries)
                for info in reversed(commits) if _selected(info, tasks, run_id)]  # fmt: skip


def _selected(info: CommitInfo, tasks: Sequence[str], run_id: str | None) -> bool:
    """A task merge (two parents, a task trailer) of the tasks and run asked for."""
    task_id = info.trailers.get(TRAILER_TASK)
    if not task_id or len(info.parents) < 2 or (tasks and task_id not in tasks):
        return False
    return not run_id or info.trailers.get(TRAILER_RUN) == run_id


def _landed(
    repo: GitRepo, reader: ObjectReader, info: CommitInfo, reverts: dict[str, str], patch: bool,
    summaries: dict[str, str] | None,
) -> Landed:  # fmt: skip
    """One task merge as ``review`` shows it."""
    task_id = info.trailers[TRAILER_TASK]
    run = info.trailers.get(TRAILER_RUN, "")
    violations = info.trailers.get(TRAILER_VIOLATIONS, "").split(", ")
    first, second = info.parents[0], info.parents[1]
    return Landed(
        task_id=task_id,
        commit=info.sha,
        first_parent=first,
        task_head=second,
        title=info.subject,
        agent=info.trailers.get(TRAILER_AGENT, ""),
        run_id=run,
        violations=tuple(v.strip() for v in violations if v.strip()),
        diffstat=repo.diffstat(first, info.sha),
        summary=(summaries or {}).get(f"{run}/{task_id}", "") or _body_summary(info.body),
        patch=repo.diff(first, info.sha) if patch else "",
        files=tuple(reader.changed_paths(first, info.sha)),
        reverted_by=reverts.get(info.sha),
    )


_REVERTS_MERGE = re.compile(r"reverts merge commit ([0-9a-f]{40})")
_SUMMARY_LINE = re.compile(rf"^{re.escape(SUMMARY_PREFIX)}(.*)$", re.MULTILINE)


def _body_summary(body: str) -> str:
    """The agent's summary as the merge commit carries it, for a clone without the store."""
    match = _SUMMARY_LINE.search(body)
    return match.group(1).strip() if match else ""


def _reverts(history: Sequence[CommitInfo]) -> dict[str, str]:
    """Merge commit -> the ``coordinator revert`` commit that undid it."""
    out: dict[str, str] = {}
    for info in history:
        if info.trailers.get(TRAILER_REVERT):
            match = _REVERTS_MERGE.search(info.body)
            if match:
                out.setdefault(match.group(1), info.sha)
    return out


def parse_date(repo: GitRepo, text: str) -> float:
    """Let git read the date (``yesterday``, ``2026-11-20``, ``3 days ago``) as it would.

    git reads anything, and reads what it cannot understand as "now", which would silently
    list nothing; so text that comes out as now without saying so is refused (exit 2).
    """
    asked = time.time()
    out = repo.since_option(text)
    try:
        when = float(out.removeprefix("--max-age="))
    except ValueError:
        when = asked
    saying_now = any(word in text.lower() for word in ("now", "today", "ago"))
    if abs(when - asked) <= 2 and not saying_now:
        raise InputError(
            Problem(
                None,
                "--since",
                f"{text!r} is neither a revision nor a date git understands",
                "give a commit, a branch, or a date such as 2026-11-20 or '3 days ago'",
            )
        )
    return when


def store_summaries(git_dir: Path) -> dict[str, str]:
    """``run/task`` -> the agent's summary, when the store has one."""
    path = store_path(git_dir)
    if not path.exists():
        return {}
    with Store.open_readonly(path) as store:
        out = {}
        for run_id in store.run_ids():
            for record in store.tasks(run_id):
                if record.summary:
                    out[f"{run_id}/{record.task_id}"] = record.summary
        return out


def review_target(path: Path | None, target: str | None) -> tuple[GitRepo, str]:
    repo = GitRepo.discover(path or Path.cwd())
    config, _ = read_config(repo.root)
    return repo, target or config.target


def render_text(items: Sequence[Landed], target: str) -> str:
    """One block per task: merge, task/agent/run, summary, violations, diffstat, git commands."""
    if not items:
        return f"nothing landed on {target} for this selection"
    lines: list[str] = []
    for item in items:
        lines.append(f"{item.commit[:12]} {item.title}")
        lines.append(f"    task {item.task_id}  agent {item.agent}  run {item.run_id}")
        if item.reverted_by:
            lines.append(f"    reverted by {item.reverted_by[:12]}")
        if item.summary:
            lines.append(f"    summary: {_one_line(item.summary)}")
        if item.violations:
            lines.append(f"    footprint violations: {', '.join(item.violations)}")
        stat = item.diffstat.rstrip() or " (no changes)"
        lines.extend("   " + line for line in stat.splitlines())
        lines.append("    inspect:")
        lines.extend(f"      {command}" for command in item.git_commands())
        if item.patch:
            lines.append(item.patch.rstrip())
        lines.append("")
    lines.append(f"all of it with git alone: git log --first-parent {target}")
    return "\n".join(lines)


def render_markdown(items: Sequence[Landed], target: str) -> str:
    """A digest a person or a pull-request description can use: a table of every task, then
    per task its summary, files, diffstat, violations and the git commands to inspect it."""
    lines = [f"# Review digest: {len(items)} tasks landed on {_code(target)}", ""]
    if not items:
        return "\n".join([*lines, "Nothing landed for this selection.", ""])
    lines.append("| task | agent | merge | files | violations |")
    lines.append("| --- | --- | --- | --- | --- |")
    for item in items:
        cells = [
            item.task_id + (" (reverted)" if item.reverted_by else ""),
            item.agent,
            _code(item.commit[:12]),
            str(len(item.files)),
            ", ".join(item.violations) or "-",
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for item in items:
        lines += ["", f"## {item.title}", ""]
        lines += [
            f"Task {_code(item.task_id)}, agent {_code(item.agent)}, run {_code(item.run_id)}."
        ]
        if item.reverted_by:
            lines += ["", f"Reverted by {_code(item.reverted_by[:12])}."]
        if item.summary:
            lines += ["", *[f"> {line}" for line in item.summary.strip().splitlines()]]
        if item.violations:
            lines += ["", "Footprint violations (changed outside the predicted files):"]
            lines += [f"- {_code(v)}" for v in item.violations]
        lines += ["", "Files:", *[f"- {_code(f)}" for f in item.files]]
        lines += ["", "```", item.diffstat.rstrip() or "(no changes)", "```", ""]
        lines += ["Inspect:", "```sh", *item.git_commands(), "```"]
        if item.patch:
            lines += ["", "```diff", item.patch.rstrip(), "```"]
    lines += ["", "All of it with git alone:", "```sh", f"git log --first-parent {target}", "```"]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _code(text: str) -> str:
    """An inline code span that survives backticks in the text."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")
