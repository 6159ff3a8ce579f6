"""Load a project from disk: the repository, its config and its spec files.

This is the I/O half of loading; the parsing it calls is pure. Every problem found becomes a
``Problem`` naming the file, so ``validate`` can list them all at once.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coordinator.core.argv import MAX_ARGUMENT_BYTES, placeholders_in
from coordinator.core.branchnames import BRANCH_FIX, branch_problem
from coordinator.core.config import Config, parse_config
from coordinator.core.estimates import DurationHistory
from coordinator.core.footprint import RepoPaths
from coordinator.core.gcpause import batch
from coordinator.core.models import TaskSpec
from coordinator.core.plan import Plan
from coordinator.core.planner import build_plan, check_specs
from coordinator.core.prediction import Predictor
from coordinator.core.prompt import DEFAULT_TEMPLATE, template_problem
from coordinator.core.refs import branch_ref
from coordinator.core.rules import validate_repo_path
from coordinator.core.specs import SPEC_SUFFIXES, field_label, parse_spec_file
from coordinator.errors import InputError, Problem
from coordinator.io.gitrepo import GitRepo
from coordinator.io.indexcache import load_predictor, needs_index
from coordinator.io.pastattempts import read_past_attempts
from coordinator.io.runfiles import store_path
from coordinator.io.worktrees import worktrees_path

CONFIG_FILE = "coordinator.toml"
SKIPPED_NAMES = frozenset({"readme.md", "readme.markdown"})


@dataclass(frozen=True)
class Project:
    """Everything read from disk that planning needs, captured once."""

    root: Path
    git_dir: Path
    config: Config
    config_source: str
    specs: tuple[TaskSpec, ...]
    base: str | None  # the commit footprints were predicted against (None: unborn repo)
    repo_paths: RepoPaths
    # Per agent type, the text its prompt is rendered from (``prompt_template`` or the default).
    prompt_templates: Mapping[str, str] = field(default_factory=dict)

    def prompt_template(self, agent: str) -> str:
        return self.prompt_templates.get(agent, DEFAULT_TEMPLATE)

    @functools.cached_property
    def predictor(self) -> Predictor | None:
        """The inferred sources' index (``footprint = "infer"``), read or built on first use,
        and only for valid specs: bad input must leave ``.git/coordinator/`` untouched."""
        if self.base is None or not needs_index(self.specs, self.config):
            return None
        try:
            check_specs(self.specs, self.config)  # a cycle too: the index reads the store
        except InputError:
            return None  # build_plan reports the problems
        with GitRepo.discover(self.root) as repo:
            return load_predictor(repo, self.base, self.config)

    @functools.cached_property
    def history(self) -> DurationHistory:
        """Past attempts' durations, for learned estimates; read after the specs pass: bad
        input must not touch the store (a SQLite reader writes its index beside it)."""
        check_specs(self.specs, self.config)  # raises what build_plan would
        return DurationHistory.of(read_past_attempts(store_path(self.git_dir)))

    def plan(self, instances: int | None = None) -> Plan:
        """The verified plan; with ``instances``, ordered by the best simulated start order."""
        caps = {name: self.config.agent_cap(name, instances) for name in self.config.agents}
        return build_plan(
            self.specs, self.config, self.repo_paths, instances=instances, caps=caps,
            predictor=self.predictor, history=self.history if instances is not None else None,
        )  # fmt: skip


def read_config(root: Path) -> tuple[Config, str]:
    """``coordinator.toml`` wins over ``[tool.coordinator]``; neither means defaults."""
    toml_path = root / CONFIG_FILE
    if toml_path.is_file():
        return parse_config(_read_toml(toml_path, CONFIG_FILE), CONFIG_FILE), CONFIG_FILE
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        section = _read_toml(pyproject, "pyproject.toml").get("tool", {}).get("coordinator")
        if isinstance(section, dict):
            return parse_config(section, "pyproject.toml [tool.coordinator]"), "pyproject.toml"
    return Config(), "(defaults)"


def _read_toml(path: Path, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(
            Problem(name, None, f"not UTF-8 (byte {exc.start})", "save it as UTF-8")
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            Problem(name, None, f"TOML syntax error: {exc}", "fix the TOML syntax")
        ) from None


def _check_dir_setting(root: Path, value: str, field: str, source: str) -> Path:
    """Config directories must be plain repo-relative paths that stay inside the repository."""
    problem = validate_repo_path(value)
    if problem is None:
        resolved = (root / value).resolve()
        if resolved != root.resolve() and root.resolve() not in resolved.parents:
            problem = "leads outside the repository (through a symlink)"
    if problem:
        raise InputError(
            Problem(source, field, f"{value!r} {problem}", "use a directory inside the repository")
        )
    return root / value


def iter_spec_files(specs_dir: Path, skip: Path | None = None) -> Iterator[tuple[Path, str]]:
    """Spec files under ``specs_dir``, recursively, in a stable (sorted path) order.

    Each comes with its path relative to ``specs_dir`` in POSIX form. Hidden entries, ``README``
    files and everything under ``skip`` (the worktrees directory, whose checkouts hold copies of
    committed specs) are left out; symlinked directories are not entered (see ``linked_dirs``).
    """
    found: list[tuple[list[str], Path]] = []
    pending: list[tuple[Path, list[str]]] = [(specs_dir, [])]
    while pending:
        here, parts = pending.pop()
        with os.scandir(here) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                # DirEntry's type checks cost no system call for plain files and directories
                if entry.is_dir(follow_symlinks=False):
                    path = here / name
                    if skip is None or path != skip:
                        pending.append((path, [*parts, name]))
                elif (
                    name.lower() not in SKIPPED_NAMES
                    and os.path.splitext(name)[1].lower() in SPEC_SUFFIXES
                    and entry.is_file()
                ):
                    found.append(([*parts, name], here / name))
    found.sort(key=lambda item: item[0])  # by path components, as sorting Path objects does
    for parts, path in found:
        yield path, "/".join(parts)


def linked_dirs(specs_dir: Path, skip: Path | None = None) -> list[Path]:
    """Symlinks to directories under ``specs_dir``: never searched, so a user who put specs
    behind one must be told when it leads out of the repository rather than see them ignored."""
    links: list[Path] = []
    for dirpath, dirnames, _ in os.walk(specs_dir):
        here = Path(dirpath)
        dirnames[:] = [n for n in dirnames if not n.startswith(".") and here / n != skip]
        links.extend(here / name for name in dirnames if (here / name).is_symlink())
    return sorted(links)


@batch
def read_specs(root: Path, config: Config, config_source: str) -> list[TaskSpec]:
    """Parse every spec file; collect every file's problems before raising.

    Every file and directory is checked to stay inside the repository: a spec (or a directory
    of them) that is a symlink to elsewhere is refused, never read.
    """
    specs_dir = _check_dir_setting(root, config.specs, "specs", config_source)
    skip = _lexical(root / config.worktrees)
    if not specs_dir.is_dir():
        what = "is not a directory" if specs_dir.exists() else "does not exist"
        raise InputError(
            Problem(
                config_source,
                "specs",
                f"the specs directory {config.specs!r} {what}",
                "create it and add specs, run `coordinator init`, or set specs to another "
                "directory",
            )
        )
    real_root = root.resolve()
    specs: list[TaskSpec] = []
    problems: list[Problem] = []
    for link in linked_dirs(specs_dir, skip):
        if not _inside(real_root, link.resolve()):
            problems.append(
                Problem(
                    link.relative_to(root).as_posix(),
                    None,
                    f"is a symlink to {link.resolve()}, outside the repository",
                    "move those specs into the repository; specs are never read from elsewhere",
                )
            )
    prefix = specs_dir.relative_to(root).as_posix()
    for path, under_specs in iter_spec_files(specs_dir, skip):
        rel = under_specs if prefix == "." else f"{prefix}/{under_specs}"
        # Directories that are symlinks are never entered (see linked_dirs), so only a file
        # that is itself a symlink can lead elsewhere.
        if path.is_symlink() and real_root not in path.resolve().parents:
            problems.append(
                Problem(rel, None, "is a symlink leading outside the repository", "replace it")
            )
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(rel, None, f"not UTF-8 (byte {exc.start})", "save as UTF-8"))
            continue
        try:
            specs.extend(parse_spec_file(text, rel, order_start=len(specs)))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    if not specs:
        raise InputError(
            Problem(
                config.specs,
                None,
                "no spec files found (*.md with front matter, or a workflow *.yaml)",
                "add a spec, or run `coordinator init` for an example",
            )
        )
    return specs


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def _lexical(path: Path) -> Path:
    """``path`` made absolute and normalised (``a/./b`` -> ``a/b``) without following links."""
    return Path(os.path.normpath(path.absolute()))


def check_worktrees_setting(
    root: Path, config: Config, source: str, tracked: Sequence[str]
) -> Path:
    """The worktrees directory, or ``InputError`` naming the config file.

    ``run`` creates directories there, lists it in ``.git/info/exclude`` and later removes
    worktrees from it, so every way it could reach the user's own files is refused up front
    (and by ``validate``), not when the first task starts: a symlink anywhere on the way (even
    one inside the repository), a file in its place, a directory holding tracked files (the
    exclude entry would hide their new siblings from ``git status``), and a specs directory
    inside it (a task id equal to its name would set the specs aside).
    """
    fix = 'use a plain directory of its own inside the repository, e.g. worktrees = "worktrees"'
    value = config.worktrees
    try:
        path = worktrees_path(root, value)
    except InputError as exc:
        raise InputError([replace(p, file=source) for p in exc.problems]) from None
    rel = path.relative_to(root.resolve()).as_posix()
    why = None
    if path.exists() and not path.is_dir():
        why = "exists and is not a directory"
    elif tracked_file := next((f for f in tracked if f.startswith(rel + "/")), None):
        why = f"holds tracked files such as {tracked_file!r}"
    elif _inside(_lexical(path), _lexical(root.resolve() / config.specs)):
        why = f"contains the specs directory {config.specs!r}"
    if why:
        raise InputError(Problem(source, "worktrees", f"{value!r} {why}", fix))
    return path


def repo_root(path: Path | None) -> Path:
    """The main working tree of the repository around ``path`` (default: here)."""
    with GitRepo.discover(path or Path.cwd()) as repo:
        return repo.root


def check_target(target: str | None) -> None:
    """``--target`` follows the config's branch rule, checked before anything is read or made."""
    if target is not None and (problem := branch_problem(target)):
        raise InputError(Problem(None, "--target", f"{target!r} {problem}", BRANCH_FIX))


def read_prompt_templates(root: Path, config: Config, source: str) -> dict[str, str]:
    """Each agent type's ``prompt_template`` file, read and checked: one problem per bad one.

    Read from the working tree, as the config is; a file that leads out of the repository
    (through a symlink) is refused, never read.
    """
    templates: dict[str, str] = {}
    problems: list[Problem] = []
    real_root = root.resolve()
    for name, agent in sorted(config.agents.items()):
        if agent.prompt_template is None:
            continue
        where = f"agents.{name}.prompt_template"
        path = root / agent.prompt_template
        fix = "create it, or remove prompt_template to use the default prompt"
        why: str | None = None
        if not _inside(real_root, path.resolve()):
            why, fix = "leads outside the repository (through a symlink)", "use a file inside it"
        elif not path.is_file():
            why = "does not exist" if not path.exists() else "is not a file"
        else:
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                why, fix = f"is not UTF-8 (byte {exc.start})", "save it as UTF-8"
            else:
                why = template_problem(text)
                fix = f"fix {agent.prompt_template}"
                templates[name] = text
        if why:
            problems.append(Problem(source, where, f"{agent.prompt_template!r} {why}", fix))
    if problems:
        raise InputError(problems)
    return templates


def argument_problems(
    specs: Sequence[TaskSpec], config: Config, templates: Mapping[str, str] | None = None
) -> list[Problem]:
    """Prompts too long for the one argument ``{prompt}`` makes of them (see ``argv``).

    The prompt is the agent type's template around the body; the lists it adds at launch
    (predicted files, what dependencies changed) are short and capped, so body plus template
    is what is checked here.
    """
    problems = []
    for spec in specs:
        agent = config.agents.get(spec.agent)
        if agent is None or "prompt" not in placeholders_in(agent.command):
            continue
        size = len(spec.body.encode("utf-8"))
        template = (templates or {}).get(spec.agent, DEFAULT_TEMPLATE)
        total = size + len(template.encode("utf-8"))
        if total > MAX_ARGUMENT_BYTES:
            label = field_label(spec, "task")
            problems.append(
                Problem(
                    spec.source,
                    "body" if label == "task" else label,
                    f"is {size} bytes ({total} in the prompt), more than the "
                    f"{MAX_ARGUMENT_BYTES} one argument may hold, and agent {spec.agent!r} gets "
                    "it as {prompt}",
                    "shorten it, or pass {prompt_file} to that agent instead of {prompt}",
                )
            )
    return problems


def load_project(
    path: Path | None = None, *, base: str | None = None, target: str | None = None
) -> Project:
    """Discover the repository around ``path`` and read its config and specs.

    ``base`` is the revision footprints are predicted against: by default the target branch
    when it exists (that is where tasks will start), else HEAD.
    """
    check_target(target)
    with GitRepo.discover(path or Path.cwd()) as repo:
        config, source = read_config(repo.root)
        _check_dir_setting(repo.root, config.worktrees, "worktrees", source)
        specs = read_specs(repo.root, config, source)
        templates = read_prompt_templates(repo.root, config, source)
        if problems := argument_problems(specs, config, templates):
            raise InputError(problems)
        existing = repo.rev_parse(branch_ref(target or config.target))
        # Checked even when the target exists and ``base`` goes unused: a typo is still a typo.
        # ``^{commit}``: a tree or blob (``HEAD:README.md``) is no place to start the target.
        base_commit = repo.rev_parse(f"{base}^{{commit}}") if base is not None else None
        if base is not None and base_commit is None:
            raise InputError(
                Problem(None, "--base", f"{base!r} is not a commit", "name a branch or commit")
            )
        if base_commit is not None and existing is None:
            commit: str | None = base_commit
        else:
            branch = target or config.target
            commit = repo.rev_parse(branch_ref(branch)) or repo.rev_parse("HEAD")
        files = repo.tracked_files(commit) if commit else []
        check_worktrees_setting(repo.root, config, source, files)
        return Project(
            root=repo.root,
            git_dir=repo.git_dir,
            config=config,
            config_source=source,
            specs=tuple(specs),
            base=commit,
            repo_paths=RepoPaths.from_files(files),
            prompt_templates=templates,
        )
