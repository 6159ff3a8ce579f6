"""A task's predicted footprint under each ``footprint`` mode; what the planner calls.

* ``declared``: ``files:`` and the ``## Files`` list only.
* ``mentioned``: plus repository paths written in the body exactly as they are (the behaviour
  before inference had other sources; ``footprint.predict``).
* ``infer`` (the default): written paths read the way people write them (``[M]``, see
  ``mentions``), plus the inferred sources symbols ``[S]``, retrieval ``[R]`` and history
  ``[H]`` when a ``Predictor`` (the repository's index) is at hand and they are switched on.

Every claim carries its source and a confidence; a path several sources name is kept once,
under the strongest source.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core import footprint
from coordinator.core.footprint import RepoPaths, files_section, unknown_warning
from coordinator.core.inference import Settings, infer
from coordinator.core.mentions import resolve_mentions
from coordinator.core.models import (
    Footprint,
    FootprintMode,
    FootprintSource,
    PathClaim,
    TaskSpec,
    UnknownFootprint,
)
from coordinator.core.repoindex import RepoIndex


@dataclass(frozen=True)
class Predictor:
    """The repository index at the base commit and the settings of the inferred sources."""

    index: RepoIndex
    settings: Settings


def predict(
    spec: TaskSpec,
    repo: RepoPaths,
    *,
    mode: FootprintMode = "infer",
    unknown: UnknownFootprint = "exclusive",
    predictor: Predictor | None = None,
) -> tuple[Footprint, list[str]]:
    """The footprint of one task, plus warnings for the user (see the module docstring)."""
    effective = spec.footprint_mode or mode
    if effective != "infer":
        legacy: FootprintMode = "infer" if effective == "mentioned" else "declared"
        return footprint.predict(spec, repo, mode=legacy, unknown=unknown)
    section, warnings = files_section(spec.body)
    claims: dict[str, PathClaim] = {}
    for path in (*spec.files, *section):
        source = FootprintSource.DECLARED if path in spec.files else FootprintSource.FILES_SECTION
        claims.setdefault(path, PathClaim(path, source))
    for path, confidence in resolve_mentions(spec.body, repo):
        claims.setdefault(path, PathClaim(path, FootprintSource.MENTIONED, round(confidence, 2)))
    if predictor is not None:
        seeds = {c.pattern: c.confidence for c in claims.values()}
        for found in infer(spec.body, seeds, predictor.index, predictor.settings, agent=spec.agent):
            claims.setdefault(
                found.path, PathClaim(found.path, found.source, round(found.confidence, 2))
            )
    if claims:
        return Footprint(tuple(claims.values())), warnings
    empty = Footprint(exclusive=unknown == "exclusive")
    return empty, [*warnings, _unknown_warning(unknown, predictor is not None)]


def _unknown_warning(unknown: UnknownFootprint, indexed: bool) -> str:
    looked = "no files:, no ## Files list, no repository path in the body" + (
        ", and no name or word of it matched the repository" if indexed else ""
    )
    return unknown_warning(unknown, looked)
