"""Reading paths the way people write them (the ``[M]`` source under ``footprint = "infer"``).

``footprint.mentioned_paths`` accepts a mention only when it is a repository path as written.
People write less: ``termui.py`` for ``src/click/termui.py``, ``docs/`` for a whole directory,
``tests/test_*.py``, ``click.termui.confirm``, a link to the file on the forge, "the changelog".
Each such mention is resolved against the repository's file list here, with a confidence that
says how direct the resolution was (an exact path is certain, a file name shared by three files
is a third as sure). Everything is pure: the repository arrives as ``RepoPaths``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from coordinator.core.cochange import core_stem, is_doc, is_test
from coordinator.core.footprint import RepoPaths, candidates
from coordinator.core.globs import clean_path, file_extension, is_glob, literal_prefix, path_like

MAX_NAMESAKES: Final = 3  # a file name shared by more files than this names none of them
_BLOB_URL: Final = re.compile(
    r"https?://[^/\s]+/[^/\s]+/[^/\s]+/(?:-/)?(?:blob|tree|raw|src)/[^/\s]+/([^\s#?)>\]]+)"
)
_PATHISH: Final = re.compile(r"[/.*?\[]")
_GLOB_CHARS: Final = re.compile(r"[\w.+@/*?\[\]!-]+")
_PHRASES: Final = (
    (re.compile(r"\b(?:change\s?log|changes file|release notes|news file)\b", re.I), "changelog"),
    (re.compile(r"\b(?:the\s+)?readme\b", re.I), "readme"),
    (re.compile(r"\bthe\s+(?:docs|documentation)\b", re.I), "docs"),
)
# "the Options documentation", "Move Commands doc to MyST", "deprecation tests": a word naming
# a docs page or a test file, in a text that talks about docs or tests
_DOC_WORDS: Final = re.compile(r"\b(?:docs?|document(?:s|ed|ation)?|pages?|guides?)\b", re.I)
_TEST_WORDS: Final = re.compile(r"\b(?:tests?|testing)\b", re.I)
_NEAR: Final = 3  # words either side of the trigger
_TOKEN: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*")
_CHANGELOG_STEMS: Final = ("changes", "changelog", "history", "news", "release-notes")
_EXTENSIONS_TEXT: Final = """md rst txt py pyi js mjs ts tsx jsx json yaml yml toml ini cfg go rs
c h cc cpp hpp java kt swift rb php sh html css scss sql proto vue svelte lua dart ex exs cs
scala"""
_NEW_FILE_EXTENSIONS: Final = frozenset(_EXTENSIONS_TEXT.split())


@dataclass(frozen=True)
class _Names:
    """Lookups over the file list: by file name, by module name (``pkg.mod``), by path suffix."""

    by_name: dict[str, tuple[str, ...]]
    modules: dict[str, tuple[str, ...]]
    pages: dict[str, tuple[str, ...]]  # docs pages by their name (``_page_name``)
    tests: dict[str, tuple[str, ...]]  # test files by the name they test


@lru_cache(maxsize=4)
def _names(repo: RepoPaths) -> _Names:
    by_name: dict[str, list[str]] = defaultdict(list)
    modules: dict[str, list[str]] = defaultdict(list)
    pages: dict[str, list[str]] = defaultdict(list)
    tests: dict[str, list[str]] = defaultdict(list)
    for path in sorted(repo.files):
        if is_doc(path):
            pages[_page_name(path.rpartition("/")[2].partition(".")[0])].append(path)
        elif is_test(path) and core_stem(path) != path.rpartition("/")[2].partition(".")[0]:
            tests[_page_name(core_stem(path))].append(path)
        parts = path.split("/")
        by_name[parts[-1]].append(path)
        stem, dot, ext = parts[-1].rpartition(".")
        if dot and ext in ("py", "pyi"):
            module = parts[:-1] if stem == "__init__" else [*parts[:-1], stem]
            for start in range(len(module)):
                modules[".".join(module[start:])].append(path)
    return _Names(*({k: tuple(v) for k, v in d.items()} for d in (by_name, modules, pages, tests)))


def _page_name(word: str) -> str:
    """``Commands-and-Groups`` and ``commands_and_groups`` -> ``commands-and-group``: case,
    separators and a plural ``s`` do not matter."""
    name = word.lower().replace("_", "-")
    return name[:-1] if len(name) > 3 and name.endswith("s") else name


def resolve_mentions(body: str, repo: RepoPaths) -> list[tuple[str, float]]:
    """Patterns the body names, with confidences, in order of first mention."""
    found: dict[str, float] = {}
    for pattern, confidence in _resolved(body, repo):
        if confidence > found.get(pattern, 0.0):
            found[pattern] = confidence
    return list(found.items())


def _resolved(body: str, repo: RepoPaths) -> Iterator[tuple[str, float]]:
    names = _names(repo)
    for url in _BLOB_URL.findall(body):
        path = clean_path(url.rstrip("/"), allow_glob=False)
        if path is not None and (path in repo.files or path in repo.dirs):
            yield (path if path in repo.files else f"{path}/**"), 1.0
    for token, kind in candidates(body):
        if (kind == "bare" and not _PATHISH.search(token)) or "://" in token:
            continue  # cheap early exit: most prose words cannot be paths
        trailing_slash = token.rstrip(".,;:!?)'\"`*").endswith("/")
        path = clean_path(token, allow_glob=True)
        if path is None or not _GLOB_CHARS.fullmatch(path):
            continue
        yield from _one(path, kind, trailing_slash, repo, names)
    yield from _phrases(body, repo, names)
    yield from _named_pages(body, names)


def _one(
    path: str, kind: str, trailing_slash: bool, repo: RepoPaths, names: _Names
) -> Iterator[tuple[str, float]]:
    if is_glob(path):
        if "/" in path or kind != "bare":
            prefix = literal_prefix(path)
            if repo.expand(path) or prefix in repo.dirs:
                yield path, 0.9
        return
    if path in repo.files:
        if kind != "bare" or path_like(path):
            yield path, 1.0
        return
    if path in repo.dirs:
        if "/" in path or trailing_slash or kind != "bare":
            yield f"{path}/**", 0.8
        return
    if kind == "bare" and "/" not in path and "." not in path:
        return
    namesakes = _namesakes(path, names, repo)
    if namesakes:
        if len(namesakes) <= MAX_NAMESAKES:
            yield from ((p, 0.9 / len(namesakes)) for p in namesakes)
        return
    module = _module_file(path, kind, names)
    if module:
        yield from ((p, 0.8 / len(module)) for p in module)
        return
    if _new_file(path, kind):
        yield path, 0.8


def _namesakes(path: str, names: _Names, repo: RepoPaths) -> tuple[str, ...]:
    """Tracked files this name or partial path stands for (``termui.py``, ``click/core.py``)."""
    if file_extension(path) is None and path.rpartition("/")[2] not in names.by_name:
        return ()
    candidates_ = names.by_name.get(path.rpartition("/")[2], ())
    if "/" in path:
        candidates_ = tuple(p for p in candidates_ if p.endswith("/" + path))
    return candidates_


def _module_file(dotted: str, kind: str, names: _Names) -> tuple[str, ...]:
    """The file of the longest module prefix of ``pkg.mod.obj`` (two parts at least, unless the
    name was written as code: then ``click.confirm`` resolves to ``click``'s ``__init__``)."""
    if "/" in dotted or not re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?", dotted):
        return ()
    parts = dotted.removesuffix("()").split(".")
    shortest = 1 if kind == "code" else 2
    for end in range(len(parts), shortest - 1, -1):
        files = names.modules.get(".".join(parts[:end]))
        if files:
            return files if len(files) <= MAX_NAMESAKES else ()
    return ()


def _new_file(path: str, kind: str) -> bool:
    """A file to create: directive blocks always; otherwise a name with a common extension,
    even in a directory that does not exist yet (``examples/todo/todo.py``)."""
    if kind == "directive":
        return True
    ext = file_extension(path)
    return ext is not None and ext.lower() in _NEW_FILE_EXTENSIONS


def _phrases(body: str, repo: RepoPaths, names: _Names) -> Iterator[tuple[str, float]]:
    """ "the changelog", "the README", "the docs" where the repository has such things."""
    for regex, what in _PHRASES:
        if not regex.search(body):
            continue
        if what == "changelog":
            yield from ((p, 0.8) for p in _root_files(repo, _CHANGELOG_STEMS))
        elif what == "readme":
            yield from ((p, 0.8) for p in _root_files(repo, ("readme",)))
        else:
            for directory in ("docs", "doc", "documentation"):
                if directory in repo.dirs:
                    yield f"{directory}/**", 0.6
                    break


def _root_files(repo: RepoPaths, stems: tuple[str, ...]) -> list[str]:
    """Root files (else files one level down, as in ``docs/changelog.md``) with these stems."""
    for depth in (0, 1):
        found = [
            p
            for p in repo.under("")
            if p.count("/") == depth and p.rpartition("/")[2].lower().partition(".")[0] in stems
        ]
        if found:
            return found
    return []


def _parent(path: str) -> str:
    return path.rpartition("/")[0].rpartition("/")[2]


def _named_pages(body: str, names: _Names) -> Iterator[tuple[str, float]]:
    """Docs pages and test files named by a word near a word about docs or tests, in the same
    line: "the Options documentation" -> ``docs/options.md``, "Document short option
    stacking" -> ``docs/options.md``, "deprecation tests" -> ``tests/test_deprecations.py``.
    A page is claimed under any extension (``docs/options.*``): moving a page from reST to
    Markdown is a common docs change, and the new file is the same page. The trigger words
    themselves name nothing, and a word naming the file's own directory
    names the package ("middleware tests" are more than ``middleware/middleware_test.go``)."""
    for line in body.splitlines():
        tokens = _TOKEN.findall(line)
        for trigger, table in ((_DOC_WORDS, names.pages), (_TEST_WORDS, names.tests)):
            for at, word in enumerate(tokens):
                if not trigger.fullmatch(word):
                    continue
                for near in tokens[max(0, at - _NEAR) : at + _NEAR + 1]:
                    if trigger.fullmatch(near):
                        continue
                    name = _page_name(near)
                    files = [p for p in table.get(name, ()) if _page_name(_parent(p)) != name]
                    if table is names.pages:  # a page, whatever its format: .rst becomes .md
                        files = list(dict.fromkeys(p.rpartition(".")[0] + ".*" for p in files))
                    if 0 < len(files) <= MAX_NAMESAKES:
                        yield from ((p, 0.7 / len(files)) for p in files)
