"""Which refs a look compares: only those whose value, or wanted value, changed since the last."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.refdelta import RefDelta
from coordinator.core.shared import plan_refs

TARGET = "refs/heads/coordinator/integration"


def listing(refs: dict[str, str]) -> str:
    return "".join(f"{sha} {ref}\n" for ref, sha in sorted(refs.items()))


def test_an_unchanged_ref_is_not_compared_again() -> None:
    refs = {f"refs/heads/coordinator/task/t{i}": "a" * 40 for i in range(1000)}
    refs["refs/heads/main"] = "b" * 40
    delta = RefDelta(listing(refs))
    first = delta.look(listing(refs), {}, (TARGET,))
    assert first.relevant == {TARGET} and first.now == {}
    moved = {**refs, "refs/heads/main": "c" * 40}
    del moved["refs/heads/coordinator/task/t5"]
    moved["refs/tags/new"] = "d" * 40
    second = delta.look(listing(moved), {"refs/heads/coordinator/task/t7": "a" * 40}, (TARGET,))
    assert second.relevant == {TARGET, "refs/heads/main", "refs/heads/coordinator/task/t5",
                               "refs/tags/new", "refs/heads/coordinator/task/t7"}  # fmt: skip
    assert second.now == {"refs/heads/main": "c" * 40, "refs/tags/new": "d" * 40,
                          "refs/heads/coordinator/task/t7": "a" * 40}  # fmt: skip
    assert delta.look(listing(moved), {"refs/heads/coordinator/task/t7": "a" * 40},
                      (TARGET,)).relevant == {TARGET}  # fmt: skip


def test_a_ref_that_could_not_be_put_back_is_compared_every_time() -> None:
    refs = {"refs/heads/coordinator/old/x": "a" * 40}
    delta = RefDelta(listing(refs))
    delta.again(["refs/heads/coordinator/old/x"])
    assert "refs/heads/coordinator/old/x" in delta.look(listing(refs), {}, ()).relevant
    delta.again([])
    assert delta.look(listing(refs), {}, ()).relevant == frozenset()


_REFS = st.sampled_from([TARGET, "refs/heads/main", "refs/tags/v1",
                         "refs/heads/coordinator/task/a", "refs/heads/coordinator/task/b",
                         "refs/heads/coordinator/old/c"])  # fmt: skip
_STATES = st.dictionaries(_REFS, st.sampled_from(["1" * 40, "2" * 40, "3" * 40]))


@settings(max_examples=300, deadline=None)
@given(_STATES, st.lists(st.tuples(_STATES, _STATES), min_size=1, max_size=6))
def test_comparing_what_changed_finds_what_comparing_everything_finds(
    start: dict[str, str], looks: list[tuple[dict[str, str], dict[str, str]]]
) -> None:
    """Looks with refs and values at rest in any order of states: the refs the full comparison
    would restore or report are among those compared, with the same values, every time; and
    a ref left out gives the same answer it gave at the last look."""
    task_refs = {"refs/heads/coordinator/task/a"}
    delta = RefDelta(listing(start))
    last = plan_refs(start, start, target=(TARGET, "1" * 40), at_rest={}, task_refs=task_refs)
    for now, at_rest in looks:
        rest = {r: v for r, v in at_rest.items() if r != TARGET}
        full = plan_refs(start, now, target=(TARGET, "1" * 40), at_rest=rest, task_refs=task_refs)
        d = delta.look(listing(now), rest, (TARGET,))
        part = plan_refs({r: v for r, v in start.items() if r in d.relevant}, d.now,
                         target=(TARGET, "1" * 40),
                         at_rest={r: v for r, v in rest.items() if r in d.relevant},
                         task_refs=task_refs)  # fmt: skip
        assert dict(part.restore) == {r: c for r, c in full.restore.items() if r in d.relevant}
        assert set(full.restore) - d.relevant <= set(last.restore)
        user_full = {c for c in full.user if c.ref in d.relevant}
        assert set(part.user) == user_full
        assert {c for c in full.user if c.ref not in d.relevant} <= set(last.user)
        delta.again(list(full.restore))  # as if no restore worked: compared again next time
        last = full
