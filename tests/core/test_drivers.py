"""Which drivers run: the user's as they were at the snapshot, no other (pure, no git)."""

from __future__ import annotations

from coordinator.core import drivers
from coordinator.core.decisions import TAMPERED, Completion, after_collect, tampered
from coordinator.core.models import TaskState


def test_definitions_keep_names_with_dots_and_the_last_value() -> None:
    entries = [
        ("filter.lfs.clean", "a"), ("filter.lfs.clean", "git-lfs clean -- %f"),
        ("filter.my.x.smudge", "s"), ("merge.ours.driver", "true"),
        ("diff.evil.textconv", "t"), ("core.fsmonitor", "x"), ("filter.bad", "y"),
    ]  # fmt: skip
    defs = drivers.definitions(entries)
    assert defs == {
        ("filter", "lfs"): frozenset({("clean", "git-lfs clean -- %f")}),
        ("filter", "my.x"): frozenset({("smudge", "s")}),
        ("merge", "ours"): frozenset({("driver", "true")}),
    }


def test_new_and_changed_drivers_are_untrusted_unchanged_ones_are_not() -> None:
    trusted = drivers.definitions([("filter.lfs.process", "git-lfs filter-process")])
    now = drivers.definitions([("filter.lfs.process", "git-lfs filter-process"),
                               ("merge.evil.driver", "x")])  # fmt: skip
    assert drivers.untrusted(now, trusted) == [("merge", "evil")]
    changed = drivers.definitions([("filter.lfs.process", "evil")])
    assert drivers.untrusted(changed, trusted) == [("filter", "lfs")]


def test_disabling_overrides_every_program_of_a_driver() -> None:
    pairs = drivers.disabling([("filter", "f"), ("merge", "m")])
    assert pairs == [("filter.f.clean", ""), ("filter.f.smudge", ""), ("filter.f.process", ""),
                     ("filter.f.required", "false"), ("merge.m.driver", "false")]  # fmt: skip


def test_tampered_work_never_lands() -> None:
    verdict = after_collect(Completion(True, "exit 0"), work_ok=True, work_reason="",
                            violations=[], on_violation="warn", tampered=True)  # fmt: skip
    assert (verdict.action, verdict.state, verdict.reason) == ("end", TaskState.FAILED, TAMPERED)
    assert tampered().reason == TAMPERED and not tampered().ok
