"""The inferred sources' index on real repositories: reading git, caching, past runs."""

from __future__ import annotations

import json
from pathlib import Path

from gitutil import commit_file, git, head

from coordinator.core.config import Config
from coordinator.core.footprint import RepoPaths
from coordinator.core.inference import symbol_hits
from coordinator.core.models import TaskSpec
from coordinator.core.prediction import predict
from coordinator.io.gitrepo import GitRepo
from coordinator.io.indexcache import index_dir, load_predictor, needs_index
from coordinator.io.runfiles import store_path
from coordinator.io.store import Store

CART = 'class Cart:\n    def add_item(self, sku):\n        """Add an item."""\n'


def shop(repo: Path) -> str:
    """A small history: cart.py always changes with its test and the changelog."""
    for n in range(3):
        commit_file(repo, "src/cart.py", CART + f"# {n}\n", f"cart change {n}")
        commit_file(repo, "tests/test_cart.py", f"def test_add(): pass  # {n}\n", f"test {n}")
        git(repo, "reset", "-q", "--soft", "HEAD~2")
        commit_file(repo, "CHANGES.md", f"- change {n}\n", f"Cart: change {n}")
    commit_file(repo, "src/pay.py", "def charge(card):\n    pass\n", "payments")
    return head(repo)


def spec(body: str) -> TaskSpec:
    return TaskSpec(id="t", agent="coder", body=body, source="specs/t.md", order=0)


def test_changes_blobs_and_renames_are_read_from_git(repo: Path) -> None:
    commit_file(repo, "docs/a.rst", "A\n", "docs")
    git(repo, "mv", "docs/a.rst", "docs/a.md")
    git(repo, "commit", "-qm", "rst to md")
    git(repo, "rm", "-q", "README.md")
    commit_file(repo, "README.rst", "Totally different\n", "readme in rst")
    with GitRepo.discover(repo) as git_repo:
        changes = git_repo.first_parent_changes("HEAD", 10)
        assert changes[0].renames == (("README.md", "README.rst"),)  # same stem, new suffix
        assert changes[1].renames == (("docs/a.rst", "docs/a.md"),)
        assert set(changes[1].files) == {"docs/a.rst", "docs/a.md"}
        assert changes[1].message.startswith("rst to md")
        blobs = git_repo.tree_blobs("HEAD")
        assert set(blobs) == {"docs/a.md", "README.rst"}
        contents = git_repo.read_blobs(list(blobs.values()), limit=1000)
        assert contents[blobs["docs/a.md"]] == b"A\n"
        assert git_repo.read_blobs(list(blobs.values()), limit=1) == {}


def test_cold_then_warm_index_predict_the_same(repo: Path) -> None:
    base = shop(repo)
    config = Config()
    with GitRepo.discover(repo) as git_repo:
        cold = load_predictor(git_repo, base, config)
        saved = index_dir(git_repo.git_dir) / base
        assert (saved / "state.json").is_file() and (saved / "files").is_dir()
        warm = load_predictor(git_repo, base, config)
    assert cold is not None and warm is not None
    assert warm.index.ranker_ is not None  # loaded, not rebuilt
    paths = RepoPaths.from_files(cold.index.paths)
    body = "Make `Cart.add_item` refuse unknown items"
    a, _ = predict(spec(body), paths, predictor=cold)
    b, _ = predict(spec(body), paths, predictor=warm)
    assert a == b
    assert {"src/cart.py", "tests/test_cart.py", "CHANGES.md"} <= set(a.patterns)


def test_a_new_base_reads_only_new_history_and_keeps_old_facts(repo: Path) -> None:
    first = shop(repo)
    with GitRepo.discover(repo) as git_repo:
        load_predictor(git_repo, first, Config())
        second = commit_file(repo, "src/pay.py", "def charge(card, amount):\n    pass\n", "amount")
        predictor = load_predictor(git_repo, second, Config())
    assert predictor is not None
    assert predictor.index.shas[0] == second
    assert predictor.index.shas[1] == first
    assert symbol_hits("`charge`", predictor.index) == {"src/pay.py": 0.9}
    state = json.loads((index_dir(repo / ".git") / second / "state.json").read_text())
    assert state["shas"][:2] == [second, first]


def test_a_damaged_cache_is_rebuilt(repo: Path) -> None:
    base = shop(repo)
    with GitRepo.discover(repo) as git_repo:
        load_predictor(git_repo, base, Config())
        (index_dir(git_repo.git_dir) / base / "state.json").write_text("{not json")
        (index_dir(git_repo.git_dir) / "facts.sqlite").write_bytes(b"garbage" * 100)
        predictor = load_predictor(git_repo, base, Config())
    assert predictor is not None
    assert symbol_hits("`add_item`", predictor.index) == {"src/cart.py": 0.9}


def test_only_a_few_bases_are_kept(repo: Path) -> None:
    with GitRepo.discover(repo) as git_repo:
        for n in range(5):
            base = commit_file(repo, "src/x.py", f"x = {n}\n", f"x {n}")
            load_predictor(git_repo, base, Config())
        kept = [p for p in index_dir(git_repo.git_dir).iterdir() if p.is_dir()]
    assert len(kept) == 3
    assert base in {p.name for p in kept}


def test_past_runs_add_change_sets_and_agent_habits(repo: Path) -> None:
    base = shop(repo)
    with Store(store_path(repo / ".git")) as store:
        store.create_run("r1", target="t", base=base, instances=1, started_at=1.0)
        for n in range(4):
            store.upsert_task(
                "r1", f"t{n}", agent="writer", state="merged",
                predicted_files=[f"src/m{n}.py"], changed_files=[f"src/m{n}.py", "src/pay.py"],
            )  # fmt: skip
    with GitRepo.discover(repo) as git_repo:
        predictor = load_predictor(git_repo, base, Config())
    assert predictor is not None
    assert predictor.index.habits["writer"] == {"src/pay.py": 1.0}
    assert len(predictor.index.runs) == 4


def test_no_index_when_no_task_infers_or_every_source_is_off() -> None:
    specs = [spec("x")]
    assert needs_index(specs, Config())
    assert not needs_index(specs, Config(footprint="mentioned"))
    off = Config.model_validate(
        {"predict": {"symbols": False, "retrieval": False, "history": False}}
    )
    assert not needs_index(specs, off)
