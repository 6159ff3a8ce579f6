"""Which filter and merge drivers the coordinator's git commands may run: the user's, as they
were when the run started, and no other.

A driver is a program named in git's configuration (``filter.<name>.clean``/``smudge``/
``process``, ``merge.<name>.driver``) and selected by an attribute (``filter=<name>``,
``merge=<name>``). The user's own drivers (Git LFS is the common one) must keep working: a
checkout without its smudge filter writes pointer files. A driver an agent defined or changed
during the run must not run, whatever attributes name it. Git cannot unset a key from the
command line, but it can override it: an empty ``clean``/``smudge``/``process`` is no filter
(and ``required=false`` lets that pass), and a merge driver ``false`` reports a conflict
instead of merging. Pure: entries in, overrides out (``coordinator.io.gitguard`` reads them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

KINDS = ("filter", "merge")
# The variables that make up a driver's definition, per kind (others do not run anything).
_VARIABLES = {
    "filter": frozenset({"clean", "smudge", "process", "required"}),
    "merge": frozenset({"driver", "name", "recursive"}),
}
DriverKey = tuple[str, str]  # (kind, name)
Definitions = Mapping[DriverKey, frozenset[tuple[str, str]]]


def split_key(key: str) -> tuple[str, str, str] | None:
    """``filter.my.lfs.clean`` -> ``("filter", "my.lfs", "clean")``; None without a name."""
    section, _, rest = key.partition(".")
    name, _, variable = rest.rpartition(".")
    if not name or not variable:
        return None
    return section.lower(), name, variable.lower()


def definitions(entries: Iterable[tuple[str, str]]) -> dict[DriverKey, frozenset[tuple[str, str]]]:
    """Every filter and merge driver in ``entries`` (config ``key, value`` pairs, in the order
    git reads them) -> its definition: the variables that are set, with their last value."""
    found: dict[DriverKey, dict[str, str]] = {}
    for key, value in entries:
        parts = split_key(key)
        if parts is None:
            continue
        kind, name, variable = parts
        if kind in _VARIABLES and variable in _VARIABLES[kind]:
            found.setdefault((kind, name), {})[variable] = value
    return {driver: frozenset(values.items()) for driver, values in found.items()}


def untrusted(now: Definitions, trusted: Definitions) -> list[DriverKey]:
    """Drivers defined now that were not defined the same way when the run started."""
    return sorted(driver for driver, spec in now.items() if trusted.get(driver) != spec)


def disabling(drivers: Iterable[DriverKey]) -> list[tuple[str, str]]:
    """Config overrides under which none of ``drivers`` runs a program."""
    pairs: list[tuple[str, str]] = []
    for kind, name in drivers:
        if kind == "filter":
            pairs += [(f"filter.{name}.{var}", "") for var in ("clean", "smudge", "process")]
            pairs.append((f"filter.{name}.required", "false"))
        elif kind == "merge":
            pairs.append((f"merge.{name}.driver", "false"))
    return pairs
