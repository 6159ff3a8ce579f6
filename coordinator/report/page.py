"""One self-contained HTML file: the page skeleton, the styles, the script and the data inline.

Nothing is fetched when the page is viewed (it opens from a mail attachment or a CI artifact),
and a Content-Security-Policy says so to the browser: ``default-src 'none'`` forbids every
request, and only the page's own script, named by its hash, may run. The data sits in a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped, so text written
by an agent can neither close the block nor become markup; the script inserts all of it escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from functools import cache
from importlib import resources
from typing import Any

SCRIPTS = ("util.js", "timeline.js", "dag.js", "tables.js", "main.js")
_MARKER = re.compile(r"@@([A-Z]+)@@")


@cache
def _asset(name: str) -> str:
    return (resources.files("coordinator.report") / "assets" / name).read_text(encoding="utf-8")


@cache
def _script() -> str:
    """The page's script: the asset files in order, in one strict-mode function scope."""
    body = "\n".join(_asset(name) for name in SCRIPTS)
    if "</script" in body.lower() or "<!--" in body:  # either would end or bend the element
        raise ValueError("the report's script must not contain '</script' or '<!--'")
    return f"(function () {{\n'use strict';\n{body}\n}})();\n"


def _json_for_html(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(data: dict[str, Any], title: str) -> str:
    """The whole report for ``data`` (from ``coordinator.report.model``)."""
    script = _script()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    fills = {
        "POLICY": html.escape(policy),
        "TITLE": html.escape(title),
        "STYLE": _asset("report.css"),
        "EVENTS": _asset("events.html") if data.get("kind") == "run" else "",
        "DATA": _json_for_html(data),
        "SCRIPT": script,
    }
    # One pass: text put in (the data may hold anything) is never searched for markers again.
    return _MARKER.sub(lambda m: fills[m.group(1)], _asset("page.html"))
