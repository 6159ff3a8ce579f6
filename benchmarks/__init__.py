"""Benchmarks of the scheduling policy and the planner (``scripts/bench``); not shipped."""
