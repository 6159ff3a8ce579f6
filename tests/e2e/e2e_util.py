"""End-to-end helpers: a real repository in tmp_path and the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

AGENTS = Path(__file__).resolve().parents[1] / "agents"
SCRIPTED = AGENTS / "scripted.py"


@dataclass
class E2EProject:
    root: Path

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.root, check=True, capture_output=True, text=True
        ).stdout

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def config(self, text: str) -> None:
        self.write("coordinator.toml", text)

    def spec(
        self,
        task_id: str,
        body: str,
        *,
        agent: str = "fake",
        deps: Sequence[str] = (),
        files: Sequence[str] = (),
        extra: str = "",
    ) -> None:
        front = [f"id: {task_id}", f"agent: {agent}"]
        if deps:
            front.append(f"depends_on: [{', '.join(deps)}]")
        if files:
            front.append("files: [" + ", ".join(json.dumps(f) for f in files) + "]")
        if extra:
            front.append(extra)
        self.write(f"specs/{task_id}.md", "---\n" + "\n".join(front) + "\n---\n" + body + "\n")

    def cli(
        self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | (env or {})
        return subprocess.run(
            [sys.executable, "-m", "coordinator.cli", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """The CLI started in the background (a run another command meets halfway)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        return subprocess.Popen(
            [sys.executable, "-m", "coordinator.cli", *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def tasks(self) -> dict[str, dict[str, Any]]:
        return {t["id"]: t for t in self.status()["tasks"]}


FAKE_CONFIG = f"""
instances = 3
grace = "1s"

[agents.fake]
command = ["{{python}}", "{SCRIPTED}", "{{prompt_file}}"]
timeout = "60s"
"""


def alive(pid: int) -> bool:
    """A process that still runs: gone, or a zombie nobody reaped yet, does not count."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``check`` until it holds: for what another process does on its own (a file it
    writes), where the test has no event to wait on."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


README_ONLY: Mapping[str, str] = {"README.md": "# test repo\n"}


def new_project(root: Path, config: str, files: Mapping[str, str] = README_ONLY) -> E2EProject:
    """A real repository at ``root`` (made here if missing): branch ``main``, a local user,
    ``files`` in one initial commit, and ``config`` as its ``coordinator.toml``."""
    root.mkdir(parents=True, exist_ok=True)
    project = E2EProject(root)
    project.git("init", "-q", "-b", "main")
    project.git("config", "user.name", "Test User")
    project.git("config", "user.email", "test@example.com")
    for rel, text in files.items():
        project.write(rel, text)
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "initial")
    project.config(config)
    return project


# Crash tests stop agents often: half the usual grace keeps them quick.
QUICK_GRACE_CONFIG = FAKE_CONFIG.replace('grace = "1s"', 'grace = "0.5s"')


def conflicting_pair(e2e: E2EProject) -> None:
    """Tasks ``x`` and ``y`` that both rewrite the middle line of ``f.txt`` (committed here):
    ``y`` declares another file, so it runs beside ``x``, and its first attempt ends only once
    ``x`` has merged, so its merge always conflicts."""
    e2e.write("f.txt", "top\noriginal\nbottom\n")
    e2e.git("add", "f.txt")
    e2e.git("commit", "-q", "-m", "add f")
    e2e.spec("x", "@write f.txt top\n@append f.txt from x\n@append f.txt bottom", files=["f.txt"])
    e2e.spec(
        "y",
        "@write f.txt top\n@append f.txt from y\n@append f.txt bottom\n"
        "@if-attempt 1 @wait-merged x 30",
        files=["g.txt"],
        extra="footprint: declared",
    )
