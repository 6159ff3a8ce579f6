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
from functools import cache
from importlib import resources
from typing import Any

SCRIPTS = ("util.js", "timeline.js", "dag.js", "tables.js", "main.js")


@cache
def _asset(name: str) -> str:
    return (resources.files("coordinator.report") / "assets" / name).read_text(encoding="utf-8")


@cache
def _script() -> str:
    """The page's script: the asset files in order, in one strict-mode function scope."""
    body = "\n".join(_asset(name) for name in SCRIPTS)
    return f"(function () {{\n'use strict';\n{body}\n}})();\n"


def _json_for_html(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_EVENTS_SECTION = """
<section class="card" id="events">
  <h2>Events <span class="sub">everything the run recorded, in order</span></h2>
  <div class="filters">
    <input type="search" id="event-filter" placeholder="filter: task, kind, message" aria-label="filter events">
    <select id="event-kind" aria-label="event kind"></select>
    <label><input type="checkbox" id="event-selected"> selected task only</label>
    <span class="count" id="event-count"></span>
  </div>
  <div class="scroll" id="events-box"></div>
</section>"""


def render_page(data: dict[str, Any], title: str) -> str:
    """The whole report for ``data`` (from ``coordinator.report.model``)."""
    script = _script()
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    events = _EVENTS_SECTION if data.get("kind") == "run" else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="worktree-coordinator">
<title>{html.escape(title)}</title>
<style>
{_asset("report.css")}</style>
</head>
<body>
<header class="top" id="top"></header>
<main>
<div id="notes"></div>
<div class="stats" id="stats"></div>
<section class="card" id="timeline">
  <h2>Timeline <span class="legend" id="tl-legend"></span>
    <span class="tools">zoom <button id="zoom-out" title="zoom out">&minus;</button><button id="zoom-fit">fit</button><button id="zoom-in" title="zoom in">+</button></span></h2>
  <div class="scroll" id="timeline-box"></div>
  <div class="notrun" id="notrun"></div>
</section>
<section class="card" id="dag">
  <h2>Task graph <span class="legend" id="dag-legend"></span></h2>
  <div class="scroll" id="dag-box"></div>
</section>
<section class="card" id="tasks">
  <h2>Tasks <span class="sub">click a row, a bar or a node to select a task everywhere</span></h2>
  <div class="filters">
    <input type="search" id="task-filter" placeholder="filter: id, agent, path, reason" aria-label="filter tasks">
    <select id="task-state" aria-label="state"></select>
    <span class="count" id="task-count"></span>
  </div>
  <div class="scroll" id="tasks-box"></div>
</section>{events}
</main>
<footer>Written by worktree-coordinator. Everything is in this one file; it fetches nothing.</footer>
<div id="tip" role="tooltip"></div>
<aside id="detail" hidden><button id="detail-close" title="clear the selection">&times;</button>
<div id="detail-body"></div><button id="detail-row">show its row</button></aside>
<noscript><p style="padding:0 28px">This report draws itself with JavaScript; turn it on to see it.</p></noscript>
<script type="application/json" id="report-data">{_json_for_html(data)}</script>
<script>{script}</script>
</body>
</html>
"""
