"""Reports in a real browser: headless Chromium over the DevTools protocol.

What a person opening the file would see: it loads with no console error and no request beyond
itself, every task is on the timeline, in the graph and in the table, a click selects a task
everywhere, the event log filters, agent text stays text, and 1,000 tasks still draw quickly.
Skipped, saying why, when Chromium is not installed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_util import E2EProject
from report_run import HOSTILE, IDS, ReportedRun, make_reported_run

from coordinator.io.chrome import Chrome, Page, find_browser
from coordinator.report import write_run_report

ROOT = Path(__file__).resolve().parents[2]
READY = "document.documentElement.dataset.ready === '1'"
NO_CHROMIUM = (
    "browser tests skipped: no Chromium found (install Debian's `chromium` package, "
    "or set COORDINATOR_CHROMIUM to a Chrome or Chromium binary)"
)
# Which task ids each view shows, by the data-i of its elements and its visible text.
VIEWS_JS = """(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const byIndex = (sel) => [...new Set([...document.querySelectorAll(sel)]
    .map((e) => data.tasks[Number(e.dataset.i)].id))].sort();
  return {
    timeline: byIndex('#timeline-box .bar:not(.planned), #notrun .chip'),
    planned: byIndex('#timeline-box .bar.planned'),
    dag: [...document.querySelectorAll('#dag-box .node text:not(.agent)')]
      .map((t) => t.textContent).sort(),
    table: [...document.querySelectorAll('#tasks-table tbody td.id')]
      .map((td) => td.firstChild.textContent).sort(),
  };
})()"""


@pytest.fixture(scope="module")
def chrome() -> Iterator[Chrome]:
    if find_browser() is None:
        print(NO_CHROMIUM, file=sys.stderr)
        pytest.skip(NO_CHROMIUM)
    with Chrome() as browser:
        yield browser


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, chrome: Chrome) -> ReportedRun:
    return make_reported_run(tmp_path_factory.mktemp("browser") / "repo")


def open_report(chrome: Chrome, path: Path, *, timeout: float = 60) -> Page:
    page = chrome.new_page(1400, 1000)
    page.navigate(path.as_uri(), timeout=timeout)
    page.wait_for(READY, timeout=timeout)
    return page


def click_on(page: Page, selector: str) -> None:
    """A real mouse click in the middle of the first element ``selector`` matches."""
    point = page.evaluate(
        f"""(() => {{
          const el = document.querySelector({json.dumps(selector)});
          el.scrollIntoView({{block: 'center', inline: 'center'}});
          const r = el.getBoundingClientRect();
          return [r.left + Math.min(r.width / 2, 30), r.top + r.height / 2];
        }})()"""
    )
    page.click(*point)


def selected_rows(page: Page) -> list[str]:
    result: list[str] = page.evaluate(
        "[...document.querySelectorAll('#tasks-table tr.selected td.id')]"
        ".map((td) => td.firstChild.textContent)"
    )
    return result


def test_the_report_loads_alone_without_errors(chrome: Chrome, reported: ReportedRun) -> None:
    page = open_report(chrome, reported.report)
    try:
        assert page.errors == []
        assert page.requests == [reported.report.as_uri()]  # nothing but the file itself
        assert page.evaluate("document.title") == f"coordinator run {reported.run_id}"
    finally:
        page.close()


def test_every_task_is_on_the_timeline_in_the_graph_and_in_the_table(
    chrome: Chrome, reported: ReportedRun
) -> None:
    page = open_report(chrome, reported.report)
    try:
        views = page.evaluate(VIEWS_JS)
        for view in ("timeline", "planned", "dag", "table"):
            assert views[view] == sorted(IDS), view
        not_started = page.evaluate("document.getElementById('notrun').textContent")
        assert "after-crash" in not_started and "dependency crash was not merged" in not_started
    finally:
        page.close()


def test_a_click_on_a_bar_or_a_node_selects_the_task_everywhere(
    chrome: Chrome, reported: ReportedRun
) -> None:
    page = open_report(chrome, reported.report)
    try:
        index = page.evaluate(
            "JSON.parse(document.getElementById('report-data').textContent)"
            ".tasks.findIndex((t) => t.id === 'y')"
        )
        click_on(page, f'#timeline-box .bar[data-i="{index}"][data-a="1"]')
        assert selected_rows(page) == ["y"]
        assert page.evaluate("document.querySelector('#dag-box .node.sel').dataset.i") == str(index)
        assert page.evaluate("document.querySelectorAll('#timeline-box .bar.sel').length") >= 2
        assert page.evaluate("document.getElementById('detail').hidden") is False
        assert page.evaluate("document.querySelector('#detail .d-id').textContent") == "y"
        click_on(page, '#dag-box .node[data-i="0"]')
        first = page.evaluate("JSON.parse(document.getElementById('report-data').textContent)")
        assert selected_rows(page) == [first["tasks"][0]["id"]]
        page.evaluate("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
        assert selected_rows(page) == []
        assert page.errors == []
    finally:
        page.close()


def test_the_event_log_filters_by_text_kind_and_selection(
    chrome: Chrome, reported: ReportedRun
) -> None:
    page = open_report(chrome, reported.report)
    visible = (
        "[...document.querySelectorAll('#events-table tbody tr')].filter((r) => !r.hidden)"
        ".map((r) => [r.cells[1].textContent, r.cells[2].textContent])"
    )
    try:
        everything = page.evaluate(visible)
        assert len(everything) > 20
        page.evaluate(
            "(() => { const f = document.getElementById('event-filter'); f.value = 'retry';"
            " f.dispatchEvent(new Event('input')); })()"
        )
        assert page.evaluate(visible) == [["y", "retry"]]
        page.evaluate(
            "(() => { const f = document.getElementById('event-filter'); f.value = '';"
            " f.dispatchEvent(new Event('input'));"
            " const k = document.getElementById('event-kind'); k.value = 'merged';"
            " k.dispatchEvent(new Event('change')); })()"
        )
        assert sorted(t for t, _ in page.evaluate(visible)) == ["docs", "hostile", "x", "y"]
        click_on(page, "#event-selected")
        click_on(page, "#events-table tbody tr:not([hidden]) td.task")
        assert {t for t, _ in page.evaluate(visible)} == {selected_rows(page)[0]}
        assert "of" in page.evaluate("document.getElementById('event-count').textContent")
    finally:
        page.close()


def test_agent_text_is_shown_as_text(chrome: Chrome, reported: ReportedRun) -> None:
    page = open_report(chrome, reported.report)
    try:
        assert page.evaluate("document.images.length") == 0
        assert page.evaluate("document.title") == f"coordinator run {reported.run_id}"
        cells = page.evaluate(
            "[...document.querySelectorAll('td.summary')].map((c) => c.textContent)"
        )
        assert HOSTILE in cells
        assert page.errors == []
    finally:
        page.close()


def test_the_plan_page_draws_before_anything_runs(chrome: Chrome, e2e: E2EProject) -> None:
    e2e.spec("a", "@write a.txt x", files=["a.txt"], extra="estimate: 30s")
    e2e.spec("b", "@write b.txt x", files=["b.txt"], deps=["a"], extra="estimate: 1m")
    e2e.spec("c", "@write a.txt y", files=["a.txt"], extra="estimate: 10s")
    result = e2e.cli("plan", "--format", "html")
    assert result.returncode == 0, result.stderr
    path = e2e.root.parent / "plan.html"
    path.write_text(result.stdout, encoding="utf-8")
    page = open_report(chrome, path)
    try:
        assert page.errors == [] and page.requests == [path.as_uri()]
        views = page.evaluate(VIEWS_JS)
        assert views["planned"] == views["dag"] == views["table"] == ["a", "b", "c"]
        click_on(page, "#timeline-box .bar.planned")
        assert len(selected_rows(page)) == 1
    finally:
        page.close()


def test_a_thousand_task_report_draws_quickly(chrome: Chrome, tmp_path: Path) -> None:
    """Generous bounds: a layout quadratic in tasks would blow them, and the page stays small
    (DOM elements grow linearly: under 120 per task)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.report_bench import synthetic_run  # noqa: PLC0415

    root = tmp_path / "big"
    synthetic_run(root, 1000, seed=3)
    started = time.perf_counter()
    path = write_run_report(root)
    built = time.perf_counter() - started
    started = time.perf_counter()
    page = open_report(chrome, path, timeout=120)
    drawn = time.perf_counter() - started
    try:
        assert built < 30 and drawn < 30, (built, drawn)
        assert page.errors == [] and page.requests == [path.as_uri()]
        views: dict[str, Any] = page.evaluate(VIEWS_JS)
        ids = sorted(f"t{i:05d}" for i in range(1000))
        for view in ("timeline", "planned", "dag", "table"):
            assert views[view] == ids, view
        assert page.evaluate("document.getElementsByTagName('*').length") < 120 * 1000
        click_on(page, '#timeline-box .bar[data-i="700"]')
        assert selected_rows(page) == ["t00700"]
    finally:
        page.close()
