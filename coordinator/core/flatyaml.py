"""A fast reader for the flat YAML that nearly all front matter is: ``key: value`` lines.

PyYAML builds a node graph and runs its constructors in Python even with libyaml, about 40 µs
for a five-line front matter; a 10,000-task plan spends half its load time there. Most spec
headers are ``key: scalar`` and ``key: [a, b]`` lines of plain words, paths and numbers, and those
are read here directly, giving the same values ``yamlload._SpecLoader`` gives (YAML 1.2 scalars:
only ``true``/``false``, ``null`` and plain decimal numbers are not strings).

The reader is deliberately conservative: anything outside that subset (quotes, comments after a
value, nesting, anchors, tabs, non-ASCII, repeated keys, ``: `` inside a value ...) makes it return
None, and the caller parses the text with PyYAML, which also gives the exact error messages. So a
mistake here can only cost speed, as long as every text it accepts reads the same as PyYAML; the
tests compare the two on generated documents.
"""

from __future__ import annotations

import re
from typing import Final

_LINE: Final = re.compile(r"([a-z_][a-z0-9_]*):(?: +(.*?))? *")
# A plain scalar that YAML reads literally: it starts with a letter, digit, '_', '.' or '/', or
# with '-' before a digit or '.' (a negative number); no ':', '#', quotes, brackets, commas or
# other indicators anywhere. Inner single spaces are allowed outside flow sequences.
_WORD: Final = r"(?:[A-Za-z0-9_./]|-[0-9.])[A-Za-z0-9_./*?+=()-]*"
_BLOCK_SCALAR: Final = re.compile(rf"{_WORD}(?: {_WORD})*")
_FLOW_SCALAR: Final = re.compile(_WORD)
_INT: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_FLOAT_WORDS: Final = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_CONSTANTS: Final[dict[str, bool | None]] = {
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    "null": None, "Null": None, "NULL": None,
}  # fmt: skip
_RESERVED_KEYS: Final = frozenset(key for key in _CONSTANTS if key.islower())
_NOT_FLAT: Final = object()

Scalar = str | int | float | bool | None
FlatValue = Scalar | list[Scalar]


def read_flat(text: str) -> dict[str, FlatValue] | None:
    """The mapping ``text`` holds, or None when it is not flat YAML of the simple kind."""
    data: dict[str, FlatValue] = {}
    for line in text.split("\n"):
        if not line.strip(" ") or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        key, raw = match.groups()
        if key in data or key in _RESERVED_KEYS:
            return None
        value = _value(raw or "")
        if value is _NOT_FLAT:
            return None
        data[key] = value  # type: ignore[assignment]  # _NOT_FLAT was ruled out just above
    return data or None


def _value(raw: str) -> object:
    if not raw:
        return None
    if raw.startswith("[") and raw.endswith("]"):
        inner = raw[1:-1].strip(" ")
        if not inner:
            return []
        items = [item.strip(" ") for item in inner.split(",")]
        if not all(_FLOW_SCALAR.fullmatch(item) for item in items):
            return _NOT_FLAT
        values = [_scalar(item) for item in items]
        return _NOT_FLAT if any(v is _NOT_FLAT for v in values) else values
    if not _BLOCK_SCALAR.fullmatch(raw):
        return _NOT_FLAT
    return _scalar(raw)


def _scalar(text: str) -> object:
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT_WORDS.fullmatch(text):
        return _NOT_FLAT
    if _FLOAT.fullmatch(text):
        return float(text)
    return text
