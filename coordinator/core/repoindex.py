"""Everything the inferred footprint sources know about the repository at one base commit.

Built from plain data the io layer read (file facts per path, first-parent changes, past runs)
and turned back into plain data (``state``) for the cache under ``.git/coordinator/``. The
BM25 rankers are the one part that is not plain data: they are handed over as built engines
(``retrieval.Ranker``) so that a warm ``plan`` loads them instead of re-indexing every file.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from coordinator.core.cochange import CoChange, Namesakes, core_stem, is_test
from coordinator.core.retrieval import Ranker
from coordinator.core.symbols import FileFacts
from coordinator.core.terms import Identifier, words

STATE_VERSION: Final = 1
MAX_NAMED_DEFINERS: Final = 3  # a name defined in more files says nothing of whose test it is


@dataclass
class RepoIndex:
    """Definitions, options and strings by file, the rankers, and history (newest first)."""

    paths: tuple[str, ...]
    defs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    strings: Sequence[tuple[str, str]] = ()  # (lower-cased literal, path)
    terms: Mapping[str, Sequence[tuple[str, int]]] = field(default_factory=dict)
    shas: Sequence[str] = ()
    changes: Sequence[Sequence[str]] = ()
    messages: Sequence[str] = ()
    renames: Sequence[Sequence[tuple[str, str]]] = ()
    habits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    runs: Sequence[Sequence[str]] = ()  # files changed by this coordinator's past tasks
    ranker_: Ranker | None = None
    past_: Ranker | None = None
    _cochange: CoChange | None = field(init=False, repr=False, default=None)
    _namesakes: tuple[Namesakes, ...] | None = field(init=False, repr=False, default=None)
    _named_tests: dict[str, list[str]] | None = field(init=False, repr=False, default=None)

    @classmethod
    def from_facts(
        cls, paths: Sequence[str], facts: Mapping[str, FileFacts], **history: Any
    ) -> RepoIndex:
        """The index of files with known facts; ``history`` as the fields of the same names."""
        defs: dict[str, list[str]] = defaultdict(list)
        options: dict[str, list[str]] = defaultdict(list)
        strings: list[tuple[str, str]] = []
        for path in paths:
            known = facts.get(path)
            if known is None:
                continue
            for name in known.defs:
                defs[name].append(path)
            for text in known.strings:
                for word in text.replace("/", " ").split():
                    if word.startswith("--") and len(word) > 3:
                        options[word].append(path)
                strings.append((text.casefold(), path))
        return cls(
            tuple(paths),
            {k: tuple(dict.fromkeys(v)) for k, v in defs.items()},
            {k: tuple(dict.fromkeys(v)) for k, v in options.items()},
            strings,
            {p: f.terms for p, f in facts.items()},
            **history,
        )

    # -------------------------------------------------------------------- cache form
    def state(self) -> dict[str, Any]:
        """Plain data for the cache: everything but the rankers and the runs (read anew)."""
        return {
            "version": STATE_VERSION,
            "paths": list(self.paths),
            "defs": {k: list(v) for k, v in self.defs.items()},
            "options": {k: list(v) for k, v in self.options.items()},
            "strings": [list(s) for s in self.strings],
            "shas": list(self.shas),
            "changes": [list(c) for c in self.changes],
            "messages": list(self.messages),
            "renames": [[list(r) for r in rs] for rs in self.renames],
        }

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], ranker: Ranker | None, past: Ranker | None
    ) -> RepoIndex:
        """The index back from ``state``; raises ``ValueError`` for another version's data."""
        if state.get("version") != STATE_VERSION:
            raise ValueError("index cache of another version")
        return cls(
            tuple(state["paths"]),
            {k: tuple(v) for k, v in state["defs"].items()},
            {k: tuple(v) for k, v in state["options"].items()},
            [(s[0], s[1]) for s in state["strings"]],
            {},
            list(state["shas"]),
            [tuple(c) for c in state["changes"]],
            list(state["messages"]),
            [tuple((r[0], r[1]) for r in rs) for rs in state["renames"]],
            ranker_=ranker,
            past_=past,
        )

    # ------------------------------------------------------------------- the sources
    @property
    def ranker(self) -> Ranker:
        """BM25 over one document per file (built on first use when not loaded)."""
        if self.ranker_ is None:
            self.ranker_ = Ranker(self.paths, self.terms)
        return self.ranker_

    @property
    def past(self) -> Ranker:
        """BM25 over past change messages, one document per change (named by its position)."""
        if self.past_ is None:
            keys = [str(i) for i in range(len(self.messages))]
            docs = {
                k: Counter(words(m)).most_common() for k, m in zip(keys, self.messages, strict=True)
            }
            self.past_ = Ranker(keys, docs, path_weight=0)
        return self.past_

    @property
    def cochange(self) -> CoChange:
        """Co-change counts over git history (following renames) and past runs."""
        if self._cochange is None:
            changes = [*self.changes, *self.runs]
            renames = [*self.renames, *([()] * len(self.runs))]
            self._cochange = CoChange(changes, self.paths, renames)
        return self._cochange

    @property
    def namesakes(self) -> tuple[Namesakes, ...]:
        """Tests and docs named after source files, with their learned confidences (learned
        from the change sets under today's names: a page renamed from ``.rst`` to ``.md`` keeps
        its history)."""
        if self._namesakes is None:
            sets = self.cochange.sets
            self._namesakes = tuple(Namesakes(self.paths, sets, kind) for kind in ("test", "doc"))
        return self._namesakes

    @property
    def named_tests(self) -> Mapping[str, Sequence[str]]:
        """Each file's tests named after one of its definitions: ``test_style.py`` or
        ``test_KeepOpenFile.py`` for the file defining ``style`` or ``KeepOpenFile`` (names
        compared as ``core_stem`` leaves them, lower-case; a test named after its own
        directory's module, such as ``test_termui.py``, is a namesake instead)."""
        if self._named_tests is None:
            tests: dict[str, list[str]] = defaultdict(list)
            for path in self.paths:
                if is_test(path):
                    tests[core_stem(path)].append(path)
            named: dict[str, list[str]] = defaultdict(list)
            for name, definers in self.defs.items():
                found = tests.get(name.lower()) if "." not in name else None
                if found and len(definers) <= MAX_NAMED_DEFINERS:
                    for path in definers:
                        if not is_test(path):
                            named[path].extend(t for t in found if t not in named[path])
            self._named_tests = dict(named)
        return self._named_tests

    def definers(self, ident: Identifier) -> tuple[str, ...]:
        """Files defining the name (or holding the option or message) ``ident`` refers to."""
        if ident.kind == "option":
            return self.options.get(ident.name, ())
        if ident.kind == "message":
            needle = ident.name.casefold()
            return tuple(dict.fromkeys(p for text, p in self.strings if needle in text))
        parts = ident.name.removesuffix("()").split(".")
        for size in (2, 1):
            if len(parts) >= size:
                found = self.defs.get(".".join(parts[-size:]))
                if found:
                    return found
        return ()
