"""The merge queue's document for ``status --json`` and the live view's notes (no git)."""

from __future__ import annotations

from typing import Any

from coordinator.core.queueview import (
    RoundState,
    empty_document,
    queue_document,
    queue_notes,
    settled,
)


def _doc(**kw: object) -> dict[str, Any]:
    args: dict[str, object] = {
        "parallel": 3, "batch": 2, "gate": True, "waiting": (), "round_": None,
        "bisecting": (), "merging": (), "resolving": (), "counts": {},
    }  # fmt: skip
    args.update(kw)
    return queue_document(**args)  # type: ignore[arg-type]


def test_a_round_shows_its_groups_speculation_and_gate_results_and_the_rest_waits() -> None:
    round_ = RoundState([("a", "b"), ("c",), ("d", "e")], [("a", "b"), ("c",), ("d", "e")],
                        {0: True, 2: False}, probe=False)  # fmt: skip
    doc = _doc(waiting=["a", "b", "c", "d", "e", "f", "g"], round_=round_,
               counts={"rounds": 4, "gate_runs": 9, "probes": 1})  # fmt: skip
    assert doc["phase"] == "gating"
    assert doc["waiting"] == ["f", "g"]
    assert doc["round"] == [
        {"tasks": ["a", "b"], "speculative": False, "gate": "passed"},
        {"tasks": ["c"], "speculative": True, "gate": "running"},
        {"tasks": ["d", "e"], "speculative": True, "gate": "failed"},
    ]
    assert (doc["rounds"], doc["gate_runs"], doc["probes"]) == (4, 9, 1)
    notes = queue_notes(doc)
    assert notes["a"] == "gate 1 of 3 (batch a+b, on target): passed"
    assert notes["c"] == "speculative gate 2 of 3 (on top of a+b): running"
    assert notes["f"] == "queued, 1st in line"
    assert notes["g"] == "queued, 2nd in line"


def test_a_round_being_built_then_landing_and_an_entry_left_out_by_a_conflict() -> None:
    building = _doc(round_=RoundState([("a",), ("b", "c")], None, {}, probe=False))
    assert building["phase"] == "building"
    assert [g["gate"] for g in building["round"]] == ["building", "building"]
    # c conflicted while the chain was built: its group goes on without it
    landing = _doc(round_=RoundState([("a",), ("b", "c")], [("a",), ("b",)],
                                     {0: True, 1: True}, probe=False))  # fmt: skip
    assert landing["phase"] == "landing"
    assert [g["tasks"] for g in landing["round"]] == [["a"], ["b"]]


def test_a_bisection_probe_names_the_batch_and_the_probe() -> None:
    doc = _doc(round_=RoundState([("a", "b")], [("a", "b")], {}, probe=True),
               bisecting=["a", "b", "c", "d"], waiting=["a", "b", "c", "d"])  # fmt: skip
    assert doc["probe"] is True
    assert doc["bisecting"] == ["a", "b", "c", "d"]
    assert doc["waiting"] == ["c", "d"]
    assert queue_notes(doc)["a"] == "bisecting a+b+c+d: probe a+b, gate running"


def test_without_a_gate_the_lane_merges_one_task_and_resolvers_show() -> None:
    doc = _doc(gate=False, waiting=["a", "b"], merging=["a"], resolving=["z"])
    assert doc["phase"] == "merging"
    assert doc["waiting"] == ["b"]
    assert doc["resolving"] == ["z"]
    assert queue_notes(doc)["a"] == "merging now"
    assert _doc(resolving=["z"])["phase"] == "resolving"


def test_a_finished_run_keeps_its_settings_and_counts_only() -> None:
    doc = _doc(waiting=["x"], bisecting=["x", "y"], counts={"rounds": 2})
    done = settled(doc)
    assert done["waiting"] == [] and done["bisecting"] == [] and done["phase"] == "idle"
    assert done["rounds"] == 2 and done["batch"] == 2
    assert set(empty_document()) == set(doc)
