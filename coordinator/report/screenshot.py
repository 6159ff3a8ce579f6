"""A PNG of a report as a browser draws it: ``python -m coordinator.report.screenshot``.

``scripts/demo`` saves one next to the demo repository and ``scripts/screenshot-report``
regenerates the README's. Needs Chromium (see ``coordinator.io.chrome``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import quote

from coordinator.io.chrome import Chrome, ChromeError

READY = "document.documentElement.dataset.ready === '1'"


def screenshot(
    report: Path,
    png: Path,
    *,
    width: int = 1400,
    height: int | None = None,
    select: str | None = None,
) -> Path:
    """Draw ``report`` in headless Chromium and save it as ``png``.

    With ``height`` the picture is that much of the page's top, else the whole page; ``select``
    names a task to show selected (as a click on it would).
    """
    url = Path(report).resolve().as_uri() + (f"#task={quote(select)}" if select else "")
    with Chrome() as chrome:
        page = chrome.new_page(width, height or 1000)
        page.navigate(url)
        page.wait_for(READY)
        page.evaluate("document.fonts.ready.then(() => true)")
        if page.errors:
            raise ChromeError(f"the report logged errors: {'; '.join(page.errors)}")
        return page.screenshot(png, full_page=height is None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coordinator.report.screenshot", description=__doc__
    )
    parser.add_argument("report", type=Path, help="an HTML report")
    parser.add_argument("png", type=Path, help="where to save the picture")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, help="only this much of the top (default: all)")
    parser.add_argument("--select", metavar="TASK", help="show this task selected")
    args = parser.parse_args(argv)
    try:
        path = screenshot(
            args.report, args.png, width=args.width, height=args.height, select=args.select
        )
    except (ChromeError, OSError) as exc:
        print(f"error: no screenshot: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
