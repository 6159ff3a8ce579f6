"""What one file defines and says, read from its text: the raw material of ``[S]`` and ``[R]``.

Python is read with ``ast`` (exact definitions, docstrings and string literals). Every other
text file goes through a Pygments lexer chosen by its name: Pygments is already installed
(``rich`` depends on it), pure Python, maintained, and knows some 500 languages; its lexers tag
``Name.Function`` / ``Name.Class`` at definitions for the common ones, which is what a symbol
index needs. It is a tagger, not a parser: a definition it does not tag is still found by
retrieval, whose document holds every identifier the lexer saw. Markup and prose files give
only words. Files too large to be hand-written source are summarised by their name alone.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from coordinator.core.terms import words

MAX_TEXT: Final = 256 * 1024  # larger files are data or generated: their name is enough
MAX_STRINGS: Final = 400
MAX_TERMS: Final = 3000  # distinct terms kept per document, the most frequent first
_PROSE: Final = frozenset(["md", "markdown", "rst", "txt", "adoc", "org", "tex"])


@dataclass(frozen=True, slots=True)
class FileFacts:
    """One file's definitions, notable strings and document terms (with counts).

    Facts depend only on the file's content and its language, so they are cached per blob id
    and reused across base commits: the index is rebuilt incrementally.
    """

    defs: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()
    terms: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> list[object]:
        return [list(self.defs), list(self.strings), [list(t) for t in self.terms]]

    @classmethod
    def from_json(cls, data: list[object]) -> FileFacts:
        defs, strings, terms = data
        assert isinstance(defs, list) and isinstance(strings, list) and isinstance(terms, list)
        return cls(
            tuple(str(d) for d in defs),
            tuple(str(s) for s in strings),
            tuple((str(t[0]), int(t[1])) for t in terms),
        )


def extract(path: str, text: str) -> FileFacts:
    """The facts of a file's text; any language, never raises on odd input."""
    if len(text) > MAX_TEXT or "\0" in text[:8192]:
        return FileFacts()
    suffix = path.rpartition(".")[2].lower() if "." in path.rpartition("/")[2] else ""
    if suffix in ("py", "pyi"):
        facts = _python(text)
        if facts is not None:
            return facts
    if suffix in _PROSE or not suffix:
        return FileFacts(terms=_counted(words(text)))
    return _tagged(path, text)


def _counted(terms: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(Counter(terms).most_common(MAX_TERMS))


def _python(text: str) -> FileFacts | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    defs: list[str] = []
    strings: list[str] = []
    bag: list[str] = []
    for node, owner in _walk(tree, None):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _definition(node, owner, defs, bag)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and owner is None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defs.extend(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if 2 < len(value) <= 200 and len(strings) < MAX_STRINGS:
                strings.append(value)
            bag.extend(words(value))
        else:
            name = _used_name(node)
            if name:
                bag.extend(words(name))
    module_doc = ast.get_docstring(tree, clean=False)
    if module_doc:
        bag.extend(words(module_doc))
    return FileFacts(tuple(dict.fromkeys(defs)), tuple(dict.fromkeys(strings)), _counted(bag))


def _definition(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    owner: str | None,
    defs: list[str],
    bag: list[str],
) -> None:
    """A function or class: its name (and ``Class.method``), its words and its docstring's."""
    if owner is None or not owner.endswith("()"):  # a local function is no API
        defs.append(node.name)
    if owner and not owner.endswith("()"):
        defs.append(f"{owner}.{node.name}")
    bag.extend(words(node.name) * 2)
    doc = ast.get_docstring(node, clean=False)
    if doc:
        bag.extend(words(doc))


def _used_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.arg):
        return node.arg
    return None


def _walk(node: ast.AST, owner: str | None) -> Iterator[tuple[ast.AST, str | None]]:
    """Every node with the name of the class it is directly defined in (for ``Class.method``)."""
    stack: list[tuple[ast.AST, str | None]] = [(node, owner)]
    while stack:
        current, current_owner = stack.pop()
        yield current, current_owner
        inner = current.name if isinstance(current, ast.ClassDef) else None
        for child in ast.iter_child_nodes(current):
            if isinstance(current, ast.ClassDef):
                stack.append((child, inner))
            elif isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.append((child, f"{current.name}()"))  # locals are not the module's API
            else:
                stack.append((child, current_owner))


def _tagged(path: str, text: str) -> FileFacts:
    """Definitions and words through a Pygments lexer; words alone when none fits the name.

    Many lexers tag a definition's name like any other name (Go, JavaScript, TypeScript), so a
    name right after a definition keyword (``func``, ``function``, ``class``, ``type``, ...)
    counts as defined too; a Go receiver (``func (c *Cart) Add``) is skipped over.
    """
    from pygments.lexers import get_lexer_for_filename  # noqa: PLC0415 - only when indexing
    from pygments.token import Comment, Keyword, Name, Punctuation, String  # noqa: PLC0415
    from pygments.util import ClassNotFound  # noqa: PLC0415

    try:
        lexer = get_lexer_for_filename(path.rpartition("/")[2], stripnl=False)
        tokens = list(lexer.get_tokens(text))
    except ClassNotFound:
        return FileFacts(terms=_counted(words(text)))
    except Exception:  # a lexer bug must not stop planning
        return FileFacts(terms=_counted(words(text)))
    defs: list[str] = []
    strings: list[str] = []
    bag: list[str] = []
    tagged = (Name.Function, Name.Class, Name.Entity)
    expecting = False  # the next name is being defined
    depth = 0  # inside a receiver's parentheses
    for kind, value in tokens:
        if kind in Keyword and value in _DEFINING:
            expecting, depth = True, 0
        elif expecting and kind in Punctuation and value in "()":
            depth += 1 if value == "(" else -1
        elif kind in Name and value.strip():
            defined = any(kind in t for t in tagged) or (expecting and depth == 0)
            if defined:
                defs.append(value.strip())
                expecting = False
            bag.extend(words(value) * (2 if defined else 1))
        elif kind in String:
            stripped = value.strip("\"'`")
            if 2 < len(stripped) <= 200 and len(strings) < MAX_STRINGS:
                strings.append(stripped)
            bag.extend(words(value))
        elif kind in Comment:
            bag.extend(words(value))
        elif expecting and depth == 0 and value.strip() and kind not in Punctuation:
            expecting = False
    return FileFacts(tuple(dict.fromkeys(defs)), tuple(dict.fromkeys(strings)), _counted(bag))


_DEFINING: Final = frozenset(
    {"func", "function", "fn", "def", "class", "struct", "interface", "type", "enum", "trait",
     "module", "macro", "fun", "sub", "proc"}
)  # fmt: skip
