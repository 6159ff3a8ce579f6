"""The fast front-matter reader must read every text it accepts exactly as PyYAML does.

Both YAML loaders are the real ones the spec parser uses (pure Python and, when installed,
libyaml); the generated documents lean on the edges of the subset: numbers, booleans, nulls,
indicators, comments, spaces and lists, so that a wrong acceptance shows up as a difference.
"""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coordinator.core import yamlload
from coordinator.core.flatyaml import read_flat

_TOKENS = [
    "a", "coder", "t00001", "src/m0001.py", "tests/test_*.py", "**", "x.y", "0", "1", "-1", "+1",
    "007", "1.5", "1.", ".5", "-.5", "1e3", "1.0e3", "1_000", ".inf", "-.inf", ".nan", "true",
    "True", "FALSE", "yes", "no", "on", "null", "Null", "~", "2024-01-01", "1:30", "90s", "1h30m",
    "a b", "a  b", "#c", "a #c", "a#c", "'q'", '"q"', "&x", "*x", "!t", "|", ">", "%", "@", "`",
    "?", "? a", "-", "- a", "-a", ":", "a: b", "a:b", "[a]", "{a: b}", "a,b", "=", "<<", "é",
    "\t", "",
]  # fmt: skip
_KEYS = ["id", "agent", "depends_on", "files", "estimate", "priority", "x_1", "true", "null",
         "Key", "1", "-k", " id", "#id"]  # fmt: skip


_GOOD = [t for t in _TOKENS if t and not set(t) & set(" #'\"&*!|>%@`?:[]{},=<é\t~")]


def _item() -> st.SearchStrategy[str]:
    """Mostly tokens inside the subset, so that most documents are accepted and compared."""
    return (
        st.sampled_from(_GOOD)
        | st.sampled_from(_GOOD)
        | st.sampled_from(_GOOD)
        | st.sampled_from(_TOKENS)
        | st.text(alphabet="az09./*-_ :#,[]'", max_size=6)
    )


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["scalar"] * 4 + ["list"] * 3 + ["blank", "comment", "raw"]))
        key = draw(st.sampled_from(_KEYS[:6] * 4 + _KEYS))
        gap = draw(st.sampled_from([" "] * 8 + ["  ", "", "\t"]))
        tail = draw(st.sampled_from([""] * 8 + [" ", "  "]))
        if kind == "scalar":
            lines.append(f"{key}:{gap}{draw(_item())}{tail}")
        elif kind == "list":
            sep = draw(st.sampled_from([", "] * 6 + [",", " , ", ",,"]))
            items = sep.join(draw(st.lists(_item(), max_size=3)))
            lines.append(f"{key}:{gap}[{items}]{tail}")
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "  "])))
        elif kind == "comment":
            lines.append(draw(st.sampled_from(["# note", " # note", "#"])))
        else:
            lines.append(draw(_item()))
    return "\n".join(lines)


def _yaml(loader: type[yaml.SafeLoader] | type[yaml.CSafeLoader], text: str) -> object:
    instance = loader(text)
    try:
        return instance.get_single_data()
    finally:
        instance.dispose()


def _same(a: object, b: object) -> bool:
    """Equal, with the type and sign of each scalar (1 != 1.0 != True here; nan == nan)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    return type(a) is type(b) and a == b


@settings(max_examples=3000, deadline=None)
@given(_documents())
@example("agent: coder\ndepends_on: [a, b]\nfiles: [src/x.py, 'y']\nestimate: 90s")
@example("priority: -0\nestimate: -0.0\ntimeout: 1.\nid: 2024-01-01")
@example("title: Add the login page\nfiles: [a , b]")
def test_accepted_text_reads_as_yaml_does(text: str) -> None:
    fast = read_flat(text)
    if fast is None:
        return
    loaders: list[type[yaml.SafeLoader] | type[yaml.CSafeLoader]] = [yamlload._SpecLoader]
    if yamlload._FastLoader is not None:
        loaders.append(yamlload._FastLoader)
    for loader in loaders:
        assert _same(fast, _yaml(loader, text)), (loader.__name__, text)


@pytest.mark.parametrize(
    "text",
    [
        "agent: coder\nagent: other",  # repeated key: PyYAML's loader reports it
        "agent: 'coder'",  # quoted
        "agent: coder # the usual",  # trailing comment
        "files:\n  - a.py",  # block list
        "files: [**/*.py]",  # an alias, to YAML
        "estimate: .inf",
        "agent: codér",  # non-ASCII
        "agent:\tcoder",  # tab
        "",  # empty: None from YAML, left to it
        "true: x",  # a boolean key
    ],
)
def test_outside_the_subset_is_left_to_pyyaml(text: str) -> None:
    assert read_flat(text) is None


def test_typical_front_matter_is_read() -> None:
    text = "id: auth-login\nagent: coder\ndepends_on: [db-schema]\npriority: 2\nestimate: 5m\n"
    assert read_flat(text) == {
        "id": "auth-login",
        "agent": "coder",
        "depends_on": ["db-schema"],
        "priority": 2,
        "estimate": "5m",
    }


_ALWAYS = [t for t in _GOOD if t not in {".inf", "-.inf", ".nan", "+1", "-", "-a"}]


@st.composite
def _flat_documents(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.sampled_from(_KEYS[:7]), unique=True, min_size=1, max_size=7))
    lines = []
    for key in keys:
        if draw(st.booleans()):
            lines.append(f"{key}: {draw(st.sampled_from(_ALWAYS))}")
        else:
            lines.append(f"{key}: [{', '.join(draw(st.lists(st.sampled_from(_ALWAYS))))}]")
    return "\n".join(lines)


@settings(max_examples=500, deadline=None)
@given(_flat_documents())
def test_the_subset_is_read_and_reads_as_yaml_does(text: str) -> None:
    fast = read_flat(text)
    assert fast is not None, text
    assert _same(fast, _yaml(yamlload._SpecLoader, text)), text
