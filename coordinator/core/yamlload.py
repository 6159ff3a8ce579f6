"""Reading YAML the way specs mean it: YAML 1.2 scalars, no repeated keys, exact error lines.

Errors become a ``Problem`` with the line number in the spec file, so a user can go straight to
it; libyaml parses when it is installed and the pure-Python parser words the errors.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any, Final

import yaml

from coordinator.errors import InputError, Problem, one_line

_YAML_FIX: Final = "fix the YAML; quote values that contain ': ' or ' #' or start with [ { * & !"


_YAML11_SCALARS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")
)


class _SpecLoader(yaml.SafeLoader):
    """``SafeLoader`` with YAML 1.2 scalars, refusing repeated keys.

    YAML 1.1 reads ``yes``/``no``/``on``/``off`` as booleans, ``1:30`` as 90, ``0123`` as octal and
    ``2024-01-01`` as a date; in a spec these are ids, agent names and durations meant literally.
    Here only ``true``/``false`` and plain decimal numbers are not strings. A repeated key would
    silently drop the first value, so it is an error.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key.value!r}", key.start_mark
                    )
                seen.add(key.value)
        # Named, not super(): the libyaml loader below borrows this method.
        mapping: dict[Hashable, Any] = yaml.constructor.SafeConstructor.construct_mapping(
            self, node, deep
        )
        return mapping


_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in _YAML11_SCALARS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag, _regex, _first in (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?(?:0|[1-9][0-9]*)", "-+0123456789"),
    ("float", r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
     r"|\.(?:nan|NaN|NAN)", "-+0123456789."),
):  # fmt: skip
    _SpecLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(rf"^(?:{_regex})$"), list(_first)
    )


# libyaml's parser, when installed, reads front matter about 8x faster than the pure-Python one
# (it matters for 10,000-task plans); the same rules ride on it. Its error marks are less exact,
# so a document it refuses is parsed again by the pure-Python loader for the message.
_FastLoader: type[yaml.CSafeLoader] | None = None
if hasattr(yaml, "CSafeLoader"):

    class _CSpecLoader(yaml.CSafeLoader):
        construct_mapping = _SpecLoader.construct_mapping
        yaml_implicit_resolvers = _SpecLoader.yaml_implicit_resolvers

    _FastLoader = _CSpecLoader


def load_yaml(text: str, source: str, *, first_line: int = 1) -> object:
    """Parse one YAML document; errors become a Problem with the line number in the file.

    ``first_line`` is the file line where ``text`` starts (2 for front matter).
    """
    if _FastLoader is not None:
        fast = _FastLoader(text)
        try:
            return fast.get_single_data()
        except (yaml.YAMLError, RecursionError):
            pass  # fall through for the exact message
        finally:
            fast.dispose()
    loader = None
    try:
        loader = _SpecLoader(text)  # the reader already refuses control characters here
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise InputError(Problem(source, None, _yaml_message(exc, first_line), _YAML_FIX)) from None
    except yaml.YAMLError as exc:
        message = one_line(f"invalid YAML: {exc}")
        raise InputError(Problem(source, None, message, _YAML_FIX)) from None
    except RecursionError:
        raise InputError(Problem(source, None, "YAML nested too deeply", _YAML_FIX)) from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_message(exc: yaml.MarkedYAMLError, first_line: int) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + first_line}, column {mark.column + 1}" if mark else ""
    text = f"invalid YAML{where}: {exc.problem or exc.context or 'syntax error'}"
    if exc.context and exc.problem and exc.context_mark:
        text += f", {exc.context} from line {exc.context_mark.line + first_line}"
    return one_line(text)
