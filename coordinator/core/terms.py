"""Words and identifiers of spec text and source files, for the symbol and retrieval sources.

Two views of the same text. ``words`` is a bag of lower-case terms for lexical ranking: an
identifier counts as itself and as its parts (``_pager_contextmanager`` gives ``pager`` and
``contextmanager`` too), so prose ("the pager") meets code (``_pager_contextmanager``).
``identifiers`` is what a spec writer names on purpose: code spans, ``Class.method``,
``snake_case`` and ``CamelCase`` words, ``--options`` and quoted messages, each with how sure we
are that it was meant as a name rather than as an English word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

_WORD: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_CAMEL: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_CODE_SPAN: Final = re.compile(r"`+([^`\n]+?)`+")
_QUOTED: Final = re.compile(
    r"[\"“]([^\"”\n]{4,120})[\"”]|(?<![A-Za-z])'([^'\n]{4,120})'(?![A-Za-z])"
)
_OPTION: Final = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
_DOTTED: Final = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+")
_NAME: Final = re.compile(r"[A-Za-z_][\w]*")

# English function words and the vocabulary of change descriptions ("fix", "add", "update"):
# frequent in every spec, so they would only add noise to a ranking of files.
_STOPWORDS_TEXT: Final = """a an and are as at be been but by can could do does did for from
had has have how i if in into is it its it's me more most my no not of on or our out over so some
such than that the their them then there these they this those to too under up us use used uses
using via was we were what when where which while who why will with would you your all any also
each new now only other same should just get set make made makes add adds added adding fix fixes
fixed fixing update updates updated remove removes removed change changes changed improve
improved support supports allow allows instead like able see e g eg ie etc one two pr issue merge
merged branch main master pull request pre post re non let lets bump"""
STOPWORDS: Final = frozenset(_STOPWORDS_TEXT.split())


def split_identifier(name: str) -> list[str]:
    """``HTTPServerError`` -> ``http server error``; ``get_terminal_size`` -> its three words."""
    parts: list[str] = []
    for piece in name.split("_"):
        parts.extend(match.lower() for match in _CAMEL.findall(piece))
    return parts


def words(text: str) -> list[str]:
    """Lower-case terms of ``text`` for ranking: each identifier, plus its parts when compound.

    Stop words and one-letter terms are dropped; numbers alone are not words.
    """
    out: list[str] = []
    for match in _WORD.finditer(text):
        token = match.group(0)
        lower = token.lower().strip("_")
        parts = split_identifier(token)
        if len(parts) > 1 and lower not in STOPWORDS:
            out.append(lower)
        out.extend(p for p in parts if len(p) > 1 and p not in STOPWORDS and not p.isdigit())
    return out


@dataclass(frozen=True, slots=True)
class Identifier:
    """A name the text probably refers to, and how it was written.

    ``kind``: ``code`` (inside backticks), ``dotted`` (``a.b.c``), ``compound`` (``snake_case``
    or ``CamelCase`` in prose), ``option`` (``--flag``), ``message`` (a quoted string), ``word``
    (a plain word, a weak hint).
    """

    name: str
    kind: str


def identifiers(text: str) -> list[Identifier]:
    """Names in ``text``, strongest way of writing first, each name once."""
    seen: dict[str, Identifier] = {}
    for ident in _identifiers(text):
        if ident.name and ident.name not in seen:
            seen[ident.name] = ident
    order = {"code": 0, "option": 1, "dotted": 2, "compound": 3, "message": 4, "word": 5}
    return sorted(seen.values(), key=lambda i: order[i.kind])


def _identifiers(text: str) -> Iterator[Identifier]:
    for span in _CODE_SPAN.findall(text):
        yield from _code_names(span)
    prose = _CODE_SPAN.sub(" ", text)
    for match in _QUOTED.finditer(prose):
        yield Identifier((match.group(1) or match.group(2)).strip(), "message")
    for match in _OPTION.finditer(prose):
        if len(match.group(1)) > 3 and match.group(1).startswith("--"):
            yield Identifier(match.group(1), "option")
    for match in _DOTTED.finditer(prose):
        dotted = match.group(0)
        if not _looks_like_file(dotted) and _has_code_shape(dotted):
            yield Identifier(dotted, "dotted")
    for match in _NAME.finditer(prose):
        name = match.group(0)
        if is_compound(name):
            yield Identifier(name, "compound")
        elif len(name) > 2 and name.lower() not in STOPWORDS:
            yield Identifier(name, "word")


def _code_names(span: str) -> Iterator[Identifier]:
    """A code span: ``--flag``, ``pkg.mod.func()``, ``Class.method`` or a snippet of code."""
    span = span.strip()
    for option in _OPTION.findall(span):
        if option.startswith("--") and len(option) > 3:
            yield Identifier(option, "option")
    for dotted in _DOTTED.findall(span):
        if not _looks_like_file(dotted):
            yield Identifier(dotted, "code")
    for name in _NAME.findall(span):
        if len(name) > 1:
            yield Identifier(name, "code")


def is_compound(name: str) -> bool:
    """``snake_case``, ``CamelCase``, ``mixedCase`` or ``ALL_CAPS``: a name, not an English word."""
    stripped = name.strip("_")
    if "_" in stripped and len(stripped) > 3:
        return True
    return bool(re.search(r"[a-z][A-Z]", name)) or bool(re.fullmatch(r"[A-Z][a-z]+[A-Z]\w*", name))


def _has_code_shape(dotted: str) -> bool:
    """``click.termui.confirm`` or ``Context.invoke``, not ``e.g`` or a sentence's ``end.Next``."""
    parts = dotted.split(".")
    return all(len(p) > 1 for p in parts) and not dotted[0].isdigit()


def _looks_like_file(dotted: str) -> bool:
    suffix = dotted.rpartition(".")[2].lower()
    return suffix in _FILE_SUFFIXES


_FILE_SUFFIXES_TEXT: Final = """py pyi md rst txt toml cfg ini yaml yml json js ts tsx jsx go rs c
h cpp hpp java rb sh html css lock"""
_FILE_SUFFIXES: Final = frozenset(_FILE_SUFFIXES_TEXT.split())


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
