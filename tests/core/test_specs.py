"""Spec parsing from text: both formats, every field, every error, hostile ids and paths."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.core.fields import spec_digest
from coordinator.core.models import TaskSpec
from coordinator.core.rules import ID_RULE, suggest_id, validate_id, validate_repo_path
from coordinator.core.specs import SPEC_SUFFIXES, parse_spec_file, validate_specs
from coordinator.errors import InputError, Problem

ID_REGEX = re.compile(r"[a-z0-9][a-z0-9._-]*")


def md(front: str, body: str = "Do the thing.\n") -> str:
    return f"---\n{front}---\n{body}"


def parse_md(front: str, body: str = "Do the thing.\n", source: str = "specs/task.md") -> TaskSpec:
    specs = parse_spec_file(md(front, body), source)
    assert len(specs) == 1
    return specs[0]


def problems_of(text: str, source: str = "specs/a.md") -> list[Problem]:
    with pytest.raises(InputError) as info:
        parse_spec_file(text, source)
    found = info.value.problems
    for problem in found:
        assert "\n" not in str(problem), problem
        assert problem.file == source
    return found


def one_problem(text: str, source: str = "specs/a.md") -> Problem:
    found = problems_of(text, source)
    assert len(found) == 1, found
    return found[0]


def by_field(found: list[Problem]) -> dict[str | None, Problem]:
    return {p.field: p for p in found}


# --- markdown format ---------------------------------------------------------------------------


def test_minimal_markdown_defaults() -> None:
    text = md("agent: coder\n", "# Add login\n\nDo it.\n")
    (spec,) = parse_spec_file(text, "specs/auth/login.md")
    assert spec.id == "login"  # the file stem
    assert spec.agent == "coder"
    assert spec.source == "specs/auth/login.md"
    assert spec.order == 0
    assert spec.title == "Add login"
    assert spec.body == "# Add login\n\nDo it.\n"
    assert spec.depends_on == () and spec.files == () and spec.priority == 0
    assert spec.timeout is None and spec.estimate is None and spec.footprint_mode is None
    assert re.fullmatch(r"[0-9a-f]{64}", spec.digest)


def test_every_markdown_field() -> None:
    front = (
        "id: auth-login            # a comment\n"
        "agent: coder\n"
        "depends_on: [db-schema, users]\n"
        'files: [src/auth/login.py, "tests/test_login*.py"]\n'
        "priority: 3\n"
        "timeout: 20m\n"
        "estimate: 1h30m\n"
        "footprint: declared\n"
        "title: Login   form\n"
    )
    spec = parse_spec_file(md(front), "specs/x.md", order_start=7)[0]
    assert spec.id == "auth-login"
    assert spec.depends_on == ("db-schema", "users")
    assert spec.files == ("src/auth/login.py", "tests/test_login*.py")
    assert spec.priority == 3
    assert spec.timeout == 1200.0
    assert spec.estimate == 5400.0
    assert spec.footprint_mode == "declared"
    assert spec.title == "Login form"  # one line, whitespace collapsed
    assert spec.order == 7


@pytest.mark.parametrize("source", ["specs/a.md", "specs/a.markdown", "specs/A/a.MD"])
def test_markdown_suffixes(source: str) -> None:
    assert parse_spec_file(md("agent: c\n"), source)[0].id == "a"


def test_suffix_list() -> None:
    assert SPEC_SUFFIXES == (".md", ".markdown", ".yaml", ".yml")


def test_unknown_suffix_is_an_error() -> None:
    problem = one_problem(md("agent: c\n"), "specs/a.txt")
    assert "not a spec file" in problem.message and problem.fix and ".md" in problem.fix


def test_depends_on_string_is_one_item_list_and_duplicates_collapse() -> None:
    assert parse_md("agent: c\ndepends_on: db\n").depends_on == ("db",)
    assert parse_md("agent: c\ndepends_on: [b, a, b]\n").depends_on == ("b", "a")


def test_null_fields_mean_not_given() -> None:
    spec = parse_md("id:\nagent: c\ndepends_on:\nfiles: ~\ntimeout: null\n")
    assert (spec.id, spec.depends_on, spec.files, spec.timeout) == ("task", (), (), None)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("./x.py", "x.py"),
        ("src/", "src/**"),
        ("./", "**"),
        (".", "**"),
        ("a//b", "a/b"),
        ("src/./a", "src/a"),
        ("src/**/", "src/**"),
        ("src/**/*.py", "src/**/*.py"),
        ("[]]x", "[]]x"),
        ("a?[!b]", "a?[!b]"),
        (".gitignore", ".gitignore"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
    ],
)
def test_files_are_normalised(given: str, expected: str) -> None:
    assert parse_md(f"agent: c\nfiles: [{given!r}]\n").files == (expected,)


def test_files_string_and_dedupe_after_normalising() -> None:
    assert parse_md("agent: c\nfiles: [./a, a, b/]\n").files == ("a", "b/**")
    assert parse_md("agent: c\nfiles: src/x.py\n").files == ("src/x.py",)


def test_body_is_kept_literally() -> None:
    body = (
        "Run $(rm -rf /) and `whoami`; echo hi; touch {marker} {prompt} {{x}} %s\n"
        "  indented line\n\n```sh\n$HOME && `ls`\n```\n"
    )
    spec = parse_md("agent: c\n", body)
    assert spec.body == body


def test_body_loses_only_leading_blank_lines_and_trailing_space() -> None:
    assert parse_md("agent: c\n", "\n\n  Step one.\n\n\n").body == "  Step one.\n"


def test_crlf_and_bom_are_accepted() -> None:
    spec = parse_spec_file("\ufeff---\r\nagent: c\r\n---\r\nLine one\r\nLine two\r\n", "s/a.md")[0]
    assert spec.agent == "c" and spec.body == "Line one\nLine two\n"


def test_closing_delimiter_must_be_unindented() -> None:
    spec = parse_md("agent: c\ntitle: |\n  ---\n  x\n")
    assert spec.title == "--- x"


# --- titles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ("# Add login\nmore\n", "Add login"),
        ("Intro line\n\n## Second level ##\n", "Second level"),
        ("```python\n# not a heading\n```\n# Real heading\n", "Real heading"),
        ("~~~\n# no\n~~~\nFirst prose line\n", "First prose line"),
        ("\n   Just text  \nmore\n", "Just text"),
        ("x" * 100 + "\n", "x" * 71 + "…"),
        ("```\ncode only\n```\n", "task"),  # nothing outside a fence: the id
        ("#hashtag is not a heading\n", "#hashtag is not a heading"),
    ],
)
def test_title_is_derived_from_body(body: str, title: str) -> None:
    spec = parse_md("agent: c\n", body)
    assert spec.title == title
    assert len(spec.title) <= 72


def test_explicit_title_wins() -> None:
    assert parse_md("agent: c\ntitle: Mine\n", "# Heading\n").title == "Mine"


def test_blank_explicit_title_falls_back_to_the_body() -> None:
    assert parse_md("agent: c\ntitle: '  '\n", "# Heading\n").title == "Heading"


# --- YAML 1.1 quirks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("123", "123"),
        ("0123", "0123"),  # not octal 83
        ("2024-01-01", "2024-01-01"),  # not a date
        ("1e3", "1e3"),
        ("0x1f", "0x1f"),
        ("1_000", "1_000"),
    ],
)
def test_yaml11_scalars_stay_literal_for_ids(value: str, expected: str) -> None:
    assert parse_md(f"id: {value}\nagent: {value}\ndepends_on: [{value}]\n").id == expected
    spec = parse_md(f"id: t\nagent: {value}\ndepends_on: {value}\n")
    assert spec.agent == expected and spec.depends_on == (expected,)


@pytest.mark.parametrize("value", ["true", "False", "1.5", "[a]", "{a: 1}"])
def test_non_text_id_is_an_error_naming_the_field(value: str) -> None:
    problem = one_problem(md(f"id: {value}\nagent: c\n"))
    assert problem.field == "id"
    assert "not text" in problem.message and problem.fix == "put the value in quotes"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90", 90.0), ("0.5", 0.5), ("90s", 90.0), ("1.5m", 90.0), ("1h30m", 5400.0), ("'2m'", 120.0)],
)
def test_durations(value: str, seconds: float) -> None:
    spec = parse_md(f"agent: c\ntimeout: {value}\nestimate: {value}\n")
    assert spec.timeout == seconds and spec.estimate == seconds


@pytest.mark.parametrize("value", ["1:30", "soon", "-5", "true", "1m1h", "[1]"])
def test_bad_duration(value: str) -> None:
    problem = one_problem(md(f"agent: c\ntimeout: {value}\n"))
    assert problem.field == "timeout"
    assert "not a duration" in problem.message
    assert problem.fix and "90s" in problem.fix


def test_zero_timeout_is_refused_but_zero_estimate_is_fine() -> None:
    problem = one_problem(md("agent: c\ntimeout: 0\n"))
    assert problem.field == "timeout" and "zero" in problem.message
    assert parse_md("agent: c\nestimate: 0s\n").estimate == 0.0


@pytest.mark.parametrize("value", ["high", "true", "1.5", "'3'", "[1]"])
def test_priority_must_be_a_whole_number(value: str) -> None:
    problem = one_problem(md(f"agent: c\npriority: {value}\n"))
    assert problem.field == "priority" and "not a whole number" in problem.message
    assert problem.fix


def test_negative_priority_is_fine() -> None:
    assert parse_md("agent: c\npriority: -2\n").priority == -2


def test_bad_footprint_mode() -> None:
    problem = one_problem(md("agent: c\nfootprint: guess\n"))
    assert problem.field == "footprint" and problem.fix and '"infer"' in problem.fix
    assert parse_md("agent: c\nfootprint: infer\n").footprint_mode == "infer"


# --- markdown errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["just text\n", "", "\n---\nagent: c\n---\nbody\n", "-- \nx"])
def test_no_front_matter(text: str) -> None:
    problem = one_problem(text)
    assert problem.field is None and problem.message == "no front matter"
    assert problem.fix and "'---'" in problem.fix
    assert str(problem).startswith("specs/a.md: no front matter (start the file with a '---'")


def test_unterminated_front_matter() -> None:
    problem = one_problem("---\nagent: c\nbody without a closing line\n")
    assert "never closed" in problem.message and problem.fix and "'---'" in problem.fix


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("---\nagent: [fake\n---\nbody\n", 2),
        ("---\nagent: c\ntitle: Fix: it\n---\nbody\n", 3),
        ("---\nagent: c\n\n\n  bad: indent\n---\nbody\n", 5),
        ("---\nagent: c\nagent: d\n---\nbody\n", 3),  # duplicate key
        ("---\nagent: c\nx: !!python/object:os.system ls\n---\nbody\n", 3),
        ("---\nagent: c\n\ttitle: tab\n---\nbody\n", 3),
    ],
)
def test_yaml_error_names_the_line_in_the_file(text: str, line: int) -> None:
    problem = one_problem(text)
    assert problem.field is None
    assert f"line {line}," in problem.message, problem.message
    assert problem.fix and "YAML" in problem.fix


def test_duplicate_key_is_named() -> None:
    assert "duplicate key 'agent'" in one_problem(md("agent: c\nagent: d\n")).message


@pytest.mark.parametrize(("front", "kind"), [("- a\n", "a list"), ("just words\n", "text")])
def test_front_matter_must_be_a_mapping(front: str, kind: str) -> None:
    problem = one_problem(md(front))
    assert problem.message == f"the front matter is {kind}"
    assert problem.fix and "key: value" in problem.fix


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("depends", "did you mean 'depends_on'?"),
        ("dependencies", "did you mean 'depends_on'?"),
        ("needs", "did you mean 'depends_on'?"),
        ("name", "did you mean 'id'?"),
        ("titel", "did you mean 'title'?"),
        ("agents", "did you mean 'agent'?"),
        ("prompt", "write the instructions below the front matter, not in it"),
        ("zzz", "remove it; known: id, agent, depends_on, files"),
    ],
)
def test_unknown_field_with_suggestion(key: str, hint: str) -> None:
    problem = one_problem(md(f"agent: c\n{key}: x\n"))
    assert problem.field == key and problem.message == "unknown field"
    assert problem.fix and problem.fix.startswith(hint)


@pytest.mark.parametrize(("key", "field"), [("7", "7"), (".x", ".x"), ("'a b'", "a b")])
def test_unknown_odd_keys_are_reported_verbatim(key: str, field: str) -> None:
    assert one_problem(md(f"agent: c\n{key}: x\n")).field == field


@pytest.mark.parametrize("front", ["id: a\n", "agent:\n", "agent: ~\n", ""])
def test_missing_agent(front: str) -> None:
    problem = one_problem(md(front))
    assert problem.field == "agent" and "missing" in problem.message
    assert problem.fix and "agent: NAME" in problem.fix
    assert str(problem).startswith("specs/a.md: agent: required, but missing")


def test_blank_agent() -> None:
    problem = one_problem(md("agent: '  '\n"))
    assert problem.field == "agent" and problem.message == "is empty"


@pytest.mark.parametrize(
    ("front", "field"),
    [
        ("files: {a: 1}\n", "files"),
        ("depends_on: {a: 1}\n", "depends_on"),
        ("files: [a, [b]]\n", "files[1]"),
        ("files: true\n", "files"),
        ("files: [a, ~]\n", "files[1]"),
        ("depends_on: [a, null]\n", "depends_on[1]"),
    ],
)
def test_wrong_list_types_name_the_field(front: str, field: str) -> None:
    problem = one_problem(md("agent: c\n" + front))
    assert problem.field == field and problem.fix


def test_bad_explicit_id_says_rule_and_suggests_a_slug() -> None:
    problem = one_problem(md("id: Auth Login!\nagent: c\n"))
    assert problem.field == "id"
    assert problem.message == "invalid id 'Auth Login!': contains 'A'"
    assert problem.fix == f"try 'auth-login'; {ID_RULE}"
    assert str(problem).startswith("specs/a.md: id: invalid id")


def test_bad_id_from_file_name_suggests_front_matter_id() -> None:
    problem = one_problem(md("agent: c\n"), "specs/Login Page.md")
    assert problem.field == "id" and "file name" in problem.message
    assert problem.fix and problem.fix.startswith("add 'id: login-page' to the front matter")


def test_explicit_id_overrides_a_bad_file_name() -> None:
    assert parse_md("id: ok\nagent: c\n", source="specs/Bad Name.md").id == "ok"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "is absolute"),
        ("../../x", "'..' segment"),
        (".git/config", "points into .git/"),
        ("a/../../b", "'..' segment"),
        ("src\\\\x", "backslash"),
        ("", "is empty"),
        ("C:/x", "is absolute"),
        ("~/x", "home directory"),
        ("sub/.GIT/hooks", "points into .git/"),
        ("src/[a", "never closed"),
        ("***", "whole path segment"),
        ("src/**.py", "whole path segment"),
        ("a**/b", "whole path segment"),
        ("[!", "never closed"),
    ],
)
def test_bad_files_entry(path: str, reason: str) -> None:
    problem = one_problem(md(f'agent: c\nfiles: [ok.py, "{path}"]\n'))
    assert problem.field == "files[1]"
    assert reason in problem.message and problem.fix


def test_nul_in_path() -> None:
    problem = one_problem(md('agent: c\nfiles: ["a\\0b"]\n'))
    assert "NUL" in problem.message and "\x00" not in str(problem)


@pytest.mark.parametrize("body", ["", "\n", "   \n\n\t\n"])
def test_empty_body(body: str) -> None:
    problem = one_problem(md("agent: c\n", body))
    assert problem.field == "body" and problem.message == "the body is empty"
    assert problem.fix and problem.fix.startswith("write the instructions for the agent")


def test_all_problems_of_a_file_are_reported_together() -> None:
    front = "id: BAD\ntimeout: soon\nfiles: [/x, ../y]\npriority: x\ncolour: red\n"
    found = by_field(problems_of(md(front, "")))
    expected = {"id", "timeout", "files[0]", "files[1]", "priority", "colour", "agent", "body"}
    assert set(found) == expected


def test_values_in_messages_stay_on_one_line() -> None:
    found = problems_of(md('id: "a\\nb"\nagent: c\n"x\\ny": 1\n'))
    assert len(found) == 2
    assert all("\n" not in str(p) for p in found)


# --- ids and paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "reason"),
    [
        ("../x", "contains '/'"),
        (".x", "starts with '.'"),
        ("-rf", "starts with '-'"),
        ("a..b", "contains '..'"),
        ("x.lock", "'.lock'"),
        ("HEAD", "contains 'H'"),
        ("head", "reserved"),
        ("tâche", "contains 'â'"),
        ("a" * 65, "65 characters"),
        ("", "is empty"),
        ("a.", "ends in '.'"),
        ("a b", "contains ' '"),
        ("a/b", "contains '/'"),
        ("a@{1}", "contains '@'"),
        ("a~1", "contains '~'"),
        ("a:b", "contains ':'"),
        ("a\nb", "contains '\\n'"),
        ("٣", "contains"),  # a non-ASCII digit
    ],
)
def test_hostile_ids_are_refused(task_id: str, reason: str) -> None:
    message = validate_id(task_id)
    assert message is not None and reason in message


@pytest.mark.parametrize(
    "task_id", ["a", "0", "auth-login", "v1.2", "a_b", "a" * 64, "123", "heads", "x.locked", "a-"]
)
def test_good_ids_are_accepted(task_id: str) -> None:
    assert validate_id(task_id) is None


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("Build Parser", "build-parser"),
        ("../x", "x"),
        ("-rf", "rf"),
        ("a..b", "a.b"),
        ("x.lock", "x"),
        ("HEAD", "head-task"),
        ("tâche", "tache"),
        ("a" * 65, "a" * 64),
        ("", None),
        ("日本", None),
    ],
)
def test_suggest_id(text: str, suggestion: str | None) -> None:
    assert suggest_id(text) == suggestion


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../../x",
        ".git/config",
        ".git",
        "a/../../b",
        "src\\x",
        "",
        "  ",
        "a\x00b",
        "..",
    ],
)
def test_hostile_repo_paths(path: str) -> None:
    assert validate_repo_path(path) is not None


@pytest.mark.parametrize("path", ["src/x.py", "./x", "dir/", ".gitignore", "a/.github/x", "specs"])
def test_good_repo_paths(path: str) -> None:
    assert validate_repo_path(path) is None


@given(st.one_of(st.text(max_size=80), st.from_regex(r"[a-z0-9._-]{0,70}", fullmatch=True)))
def test_accepted_ids_follow_the_documented_rule(task_id: str) -> None:
    if validate_id(task_id) is None:
        assert ID_REGEX.fullmatch(task_id) and len(task_id) <= 64
        assert ".." not in task_id and not task_id.endswith((".lock", "."))
        assert task_id != "head"


@given(st.text(max_size=80))
def test_suggestions_are_always_valid_ids(text: str) -> None:
    suggestion = suggest_id(text)
    assert suggestion is None or validate_id(suggestion) is None


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,66}", fullmatch=True))
def test_accepted_ids_are_valid_git_branch_names(task_id: str) -> None:
    accepted = validate_id(task_id) is None
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", f"coordinator/task/{task_id}"],
        capture_output=True,
        check=False,
    )
    if accepted:
        assert result.returncode == 0, task_id


# --- workflow YAML -----------------------------------------------------------------------------

RELEASE = """\
# A workflow file
name: release
description: ignored
version: 2
settings: {parallel: true}
tasks:
  - name: version
    agent: coder
    files: [calc/version.py]
    estimate: 1s
    prompt: |
      Record the version.
  - name: license
    agent: docs
    dependencies: [version]
    files: LICENSE
    task: |
      # Add a license

      MIT.
"""


def test_workflow_tasks_and_aliases() -> None:
    specs = parse_spec_file(RELEASE, "specs/release.yaml", order_start=4)
    assert [s.id for s in specs] == ["version", "license"]
    assert [s.order for s in specs] == [4, 5]
    assert {s.source for s in specs} == {"specs/release.yaml"}
    version, license_ = specs
    assert version.body == "Record the version.\n" and version.title == "Record the version."
    assert version.estimate == 1.0 and version.files == ("calc/version.py",)
    assert license_.depends_on == ("version",) and license_.files == ("LICENSE",)
    assert license_.title == "Add a license"


def test_workflow_every_field_and_id_wins_over_name() -> None:
    text = """\
tasks:
  - id: build
    name: Build the parser
    agent: coder
    task: Build it.
    description: Keep it small.
    depends_on: lex
    files: [src/]
    priority: 2
    timeout: 90
    estimate: 1m
    footprint: declared
"""
    spec = parse_spec_file(text, "specs/w.yml")[0]
    assert spec.id == "build" and spec.title == "Build the parser"
    assert spec.body == "Build it.\n\nKeep it small.\n"
    assert spec.depends_on == ("lex",) and spec.files == ("src/**",)
    assert (spec.priority, spec.timeout, spec.estimate) == (2, 90.0, 60.0)
    assert spec.footprint_mode == "declared"


def test_workflow_explicit_title_and_description_only_body() -> None:
    text = "tasks:\n  - {id: a, name: N, title: T, agent: c, description: Only this.}\n"
    spec = parse_spec_file(text, "specs/w.yaml")[0]
    assert spec.title == "T" and spec.body == "Only this.\n"


def test_workflow_body_is_literal() -> None:
    text = "tasks:\n  - id: a\n    agent: c\n    task: |\n      echo $(id); `ls` {marker}\n"
    assert parse_spec_file(text, "w.yaml")[0].body == "echo $(id); `ls` {marker}\n"


def test_empty_task_list_is_no_specs() -> None:
    assert parse_spec_file("tasks: []\n", "specs/w.yaml") == []


@pytest.mark.parametrize(
    ("text", "field", "message", "fix"),
    [
        ("name: x\n", "tasks", "no 'tasks:' list", "top-level 'tasks:'"),
        ("", "tasks", "no 'tasks:' list", "top-level 'tasks:'"),
        ("task: []\n", "tasks", "no 'tasks:' list", "rename 'task' to 'tasks'"),
        ("tasks: {a: 1}\n", "tasks", "is not a list", "top-level 'tasks:'"),
        ("tasks:\n", "tasks", "is not a list", "top-level 'tasks:'"),
        ("- id: a\n", None, "the file is a list, not a mapping", "under a top-level 'tasks:'"),
        ("tasks:\n  - just text\n", "tasks[0]", "is not a mapping", "key: value"),
        ("tasks:\n  - {agent: c, task: x}\n", "tasks[0]", "neither id nor name", "id: NAME"),
        ("tasks:\n  - {id: a, agent: c}\n", "tasks[0].task", "the body is empty", "under 'task:'"),
        ("tasks:\n  - {id: a, agent: c, task: ' '}\n", "tasks[0].task", "body is empty", "task:"),
        (
            "tasks:\n  - {id: a, agent: c, task: x, prompt: y}\n",
            "tasks[0].prompt",
            "conflicts",
            "not both",
        ),
        (
            "tasks:\n  - {id: a, agent: c, task: x, depends_on: [b], dependencies: [c]}\n",
            "tasks[0].dependencies",
            "conflicts with 'depends_on'",
            "not both",
        ),
        ("tasks:\n  - {id: a, task: x}\n", "tasks[0].agent", "missing", "agent: NAME"),
        (
            "tasks:\n  - {id: a, agent: c, task: x, dep: [b]}\n",
            "tasks[0].dep",
            "unknown field",
            "did you mean",
        ),
        (
            "tasks:\n  - {id: a, agent: c, task: x, body: y}\n",
            "tasks[0].body",
            "unknown field",
            "'task'",
        ),
        ("tasks:\n  - {id: A, agent: c, task: x}\n", "tasks[0].id", "invalid id 'A'", "try 'a'"),
        (
            "tasks:\n  - {id: a, agent: c, task: x, files: [/x]}\n",
            "tasks[0].files[0]",
            "absolute",
            "relative",
        ),
    ],
)
def test_workflow_errors(text: str, field: str | None, message: str, fix: str) -> None:
    problem = one_problem(text, "specs/w.yaml")
    assert problem.field == field
    assert message in problem.message
    assert problem.fix and fix in problem.fix


def test_workflow_name_must_be_a_valid_id() -> None:
    problem = one_problem("tasks:\n  - {name: Build Parser, agent: c, task: x}\n", "specs/w.yaml")
    assert problem.field == "tasks[0].name" and "invalid id 'Build Parser'" in problem.message
    assert problem.fix and problem.fix.startswith("add 'id: build-parser'")


def test_workflow_numeric_name_is_an_id() -> None:
    assert parse_spec_file("tasks:\n  - {name: 123, agent: c, task: x}\n", "w.yaml")[0].id == "123"


def test_workflow_yaml_error_line_is_the_file_line() -> None:
    problem = one_problem("tasks:\n  - id: a\n    agent: c\n    title: a: b\n", "specs/w.yaml")
    assert "line 4," in problem.message


def test_workflow_problems_of_all_tasks_are_collected() -> None:
    text = "tasks:\n  - 5\n  - {id: ok, agent: c, task: x}\n  - {id: b, task: x, timeout: soon}\n"
    found = by_field(problems_of(text, "specs/w.yaml"))
    assert set(found) == {"tasks[0]", "tasks[2].agent", "tasks[2].timeout"}


# --- digest ------------------------------------------------------------------------------------


def test_digest_ignores_formatting_but_not_content() -> None:
    block = parse_md("agent: c\ndepends_on:\n  - a\n  - b\ntimeout: 1m\n", source="specs/x.md")
    flow = parse_md("agent:   c   # comment\ntimeout: 60s\ndepends_on: [b, a]\n", source="s/x.md")
    assert block.digest == flow.digest
    assert spec_digest(replace(block, source="elsewhere.md", order=9)) == block.digest


@pytest.mark.parametrize(
    "change",
    [
        "id: other\n",
        "agent: d\n",
        "depends_on: [z]\n",
        "files: [x]\n",
        "priority: 1\n",
        "timeout: 2m\n",
        "estimate: 1s\n",
        "footprint: infer\n",
        "title: New\n",
    ],
)
def test_digest_changes_with_every_field(change: str) -> None:
    base = parse_md("agent: c\n", source="specs/x.md")
    front = "agent: c\n" + change if not change.startswith("agent") else change
    assert parse_md(front, source="specs/x.md").digest != base.digest


def test_digest_changes_with_the_body() -> None:
    assert parse_md("agent: c\n", "A.\n").digest != parse_md("agent: c\n", "B.\n").digest


def test_workflow_and_markdown_of_the_same_task_share_a_digest() -> None:
    markdown = parse_spec_file(md("agent: c\nfiles: [a]\n", "Do.\n"), "specs/t.md")[0]
    text = "tasks:\n  - {id: t, agent: c, files: [a], task: Do.}\n"
    (workflow,) = parse_spec_file(text, "w.yaml")
    assert markdown.digest == workflow.digest


# --- cross-file validation ---------------------------------------------------------------------


def spec(
    task_id: str, *, agent: str = "coder", deps: tuple[str, ...] = (), source: str = ""
) -> TaskSpec:
    return TaskSpec(task_id, agent, "body", source or f"specs/{task_id}.md", 0, depends_on=deps)


def test_valid_specs_have_no_problems() -> None:
    specs = [spec("a"), spec("b", deps=("a",)), spec("c", agent="docs", deps=("a", "b"))]
    assert validate_specs(specs, {"coder", "docs"}) == []


def test_duplicate_id_names_both_files() -> None:
    found = validate_specs(
        [spec("same", source="specs/one.md"), spec("same", source="specs/two.md")], {"coder"}
    )
    assert len(found) == 1
    assert str(found[0]).startswith("specs/two.md: id: duplicate id 'same', also in specs/one.md")


def test_duplicate_id_within_one_workflow_file() -> None:
    found = validate_specs([spec("a", source="w.yaml"), spec("a", source="w.yaml")], {"coder"})
    assert [p.field for p in found] == ["tasks[id=a].id"]
    assert "another task in this file" in found[0].message


def test_unknown_agent_did_you_mean() -> None:
    (problem,) = validate_specs([spec("a", agent="fak")], ["fake", "docs"])
    assert (problem.file, problem.field) == ("specs/a.md", "agent")
    assert problem.message == "unknown agent 'fak'" and problem.fix == "did you mean 'fake'?"


def test_unknown_agent_without_close_match() -> None:
    (problem,) = validate_specs([spec("a", agent="reviewer")], ["coder"])
    assert problem.fix == "add [agents.reviewer] to coordinator.toml; configured: coder"
    (problem,) = validate_specs([spec("a", agent="reviewer")], [])
    assert problem.fix == "add [agents.reviewer] to coordinator.toml"


def test_unknown_dependency() -> None:
    found = validate_specs([spec("parser"), spec("cli", deps=("parsr", "nope"))], {"coder"})
    assert [(p.file, p.field, p.message, p.fix) for p in found] == [
        ("specs/cli.md", "depends_on", "unknown task 'parsr'", "did you mean 'parser'?"),
        ("specs/cli.md", "depends_on", "unknown task 'nope'", "name the id of another task"),
    ]


def test_self_dependency() -> None:
    (problem,) = validate_specs([spec("a", deps=("a",))], {"coder"})
    assert problem.field == "depends_on" and problem.message == "task 'a' depends on itself"
    assert problem.fix == "remove 'a' from depends_on"


def test_workflow_fields_name_the_task() -> None:
    found = validate_specs(
        [spec("x", agent="ghost", deps=("y",), source="specs/w.yaml")], {"coder"}
    )
    assert [p.field for p in found] == ["tasks[id=x].agent", "tasks[id=x].depends_on"]


# --- robustness --------------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.text(max_size=200), st.sampled_from(["specs/a.md", "specs/a.yaml"]))
def test_any_text_parses_or_gives_one_line_problems(text: str, source: str) -> None:
    for candidate in (text, f"---\n{text}\n---\nbody\n", f"tasks:\n  - {text}\n"):
        try:
            parse_spec_file(candidate, source)
        except InputError as exc:
            assert exc.problems
            assert all("\n" not in str(p) and p.file == source for p in exc.problems)


# The table of tests/e2e/test_cli_input.py, checked here without a repository or the CLI: some
# line of the output must contain both strings.
CLI_CASES = {
    "no-front-matter": ("specs/a.md", "just text\n", "specs/a.md", "front matter"),
    "yaml-syntax": ("specs/a.md", "---\nagent: [fake\n---\nbody\n", "specs/a.md", "line"),
    "unknown-field": (
        "specs/a.md",
        "---\nagent: fake\ndepends: [x]\n---\nbody\n",
        "depends",
        "depends_on",
    ),
    "unknown-agent": ("specs/a.md", "---\nagent: fak\n---\nbody\n", "agent", "fake"),
    "missing-agent": ("specs/a.md", "---\nid: a\n---\nbody\n", "agent", "specs/a.md"),
    "bad-id": ("specs/a.md", "---\nid: ../x\nagent: fake\n---\nbody\n", "id", "specs/a.md"),
    "bad-duration": (
        "specs/a.md",
        "---\nagent: fake\ntimeout: soon\n---\nbody\n",
        "timeout",
        "90s",
    ),
    "escaping-path": (
        "specs/a.md",
        "---\nagent: fake\nfiles: [../../etc/passwd]\n---\nb\n",
        "files",
        "a",
    ),
    "git-path": (
        "specs/a.md",
        "---\nagent: fake\nfiles: [.git/config]\n---\nbody\n",
        "files",
        ".git",
    ),
    "absolute-path": (
        "specs/a.md",
        "---\nagent: fake\nfiles: [/etc/passwd]\n---\nb\n",
        "files",
        "a.md",
    ),
    "unknown-dep": (
        "specs/a.md",
        "---\nagent: fake\ndepends_on: [nope]\n---\nb\n",
        "depends_on",
        "nope",
    ),
    "self-dep": ("specs/a.md", "---\nagent: fake\ndepends_on: [a]\n---\nbody\n", "depends_on", "a"),
    "workflow-no-tasks": ("specs/w.yaml", "name: x\n", "specs/w.yaml", "tasks"),
    "bad-glob": ("specs/a.md", "---\nagent: fake\nfiles: ['src/[a']\n---\nbody\n", "files", "a.md"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_error_table(case: str) -> None:
    source, text, must1, must2 = CLI_CASES[case]
    try:
        problems = validate_specs(parse_spec_file(text, source), {"fake"})
    except InputError as exc:
        problems = exc.problems
    lines = [str(p) for p in problems]
    assert any(must1 in line and must2 in line for line in lines), lines
