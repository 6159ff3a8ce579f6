"""Headless Chromium over the DevTools protocol, with the standard library only.

Used to look at reports the way a person does: the tests load them in a real browser (console
errors, network requests, clicks, the DOM), and ``scripts/screenshot-report`` and
``scripts/demo`` take screenshots. ``--remote-debugging-pipe`` speaks the protocol as
NUL-terminated JSON on the browser's file descriptors 3 (commands in) and 4 (replies and
events out): no port, no websocket library, nothing another local user could connect to.

The browser runs in its own session with a fresh, throwaway profile directory, and is killed
as a whole process group when the ``Chrome`` context ends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from coordinator.io import processes

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ENV = "COORDINATOR_CHROMIUM"  # a path to the browser, when it is not on PATH
FLAGS = (
    "--headless",
    "--no-sandbox",  # containers and CI runners usually lack the namespaces its sandbox needs
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
# The child's fds 3 and 4 must be the pipe's ends; subprocess only keeps fd numbers, so a tiny
# interpreter moves them into place and then becomes the browser.
_PLACE_FDS = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class ChromeError(RuntimeError):
    """The browser is missing, died, or answered a command with an error."""


def find_browser() -> str | None:
    """The browser to use: ``$COORDINATOR_CHROMIUM``, else the first of ``BROWSERS`` on PATH."""
    given = os.environ.get(BROWSER_ENV)
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One tab, attached with its own session; it records console errors and requests."""

    chrome: Chrome
    session: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def send(
        self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 30
    ) -> Any:
        """One DevTools command to this page; its result."""
        return self.chrome.send(method, params, session=self.session, timeout=timeout)

    def close(self) -> None:
        """Close the tab (the browser stays up for the next page)."""
        target = self.chrome.targets.pop(self.session, None)
        self.chrome.pages.pop(self.session, None)
        if target is not None:
            self.chrome.send("Target.closeTarget", {"targetId": target})

    def navigate(self, url: str, timeout: float = 60) -> None:
        """Load ``url`` and wait for its load event."""
        self.chrome.clear_events(self.session, "Page.loadEventFired")
        self.send("Page.navigate", {"url": url}, timeout=timeout)
        self.chrome.wait_event(self.session, "Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in reply:
            raise ChromeError(f"{expression!r} threw: {_describe(reply['exceptionDetails'])}")
        return reply.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Poll a JavaScript condition until it is truthy (pages settle without telling us)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise ChromeError(f"timed out after {timeout}s waiting for {expression!r}")
            time.sleep(0.02)

    def viewport(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def click(self, x: float, y: float) -> None:
        """A real mouse click at viewport coordinates: move, press, release."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params = {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            if kind == "mouseMoved":
                params["button"] = "none"
            self.send("Input.dispatchMouseEvent", params)

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """A PNG of the viewport, or of the whole page with ``full_page``."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = self.send("Page.captureScreenshot", params, timeout=120)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Chrome:
    """A headless browser for the length of a ``with`` block."""

    def __init__(self, executable: str | None = None) -> None:
        found = executable or find_browser()
        if not found:
            raise ChromeError(
                f"no Chromium found (tried {', '.join(BROWSERS)} on PATH and ${BROWSER_ENV}); "
                "install Debian's `chromium` package"
            )
        self.executable = found
        # Chromium puts a socket under $TMPDIR, and socket paths may not pass 107 bytes: a deep
        # $TMPDIR (a test's) would kill it, so the profile goes under /tmp and is its $TMPDIR.
        short = "/tmp" if os.access("/tmp", os.W_OK) else None  # noqa: S108 - a private mkdtemp
        self._profile = Path(tempfile.mkdtemp(prefix="coordinator-chrome-", dir=short))
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.pages: dict[str, Page] = {}
        self.targets: dict[str, str] = {}  # session -> target id
        self._proc: processes.Popen[bytes] | None = None

    def __enter__(self) -> Chrome:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        argv = [self.executable, *FLAGS, f"--user-data-dir={self._profile}"]
        argv += ["--remote-debugging-pipe", "about:blank"]
        stderr = (self._profile / "stderr.log").open("wb")
        try:
            started = processes.start(
                [sys.executable, "-c", _PLACE_FDS, str(to_browser_r), str(from_browser_w), *argv],
                pass_fds=(to_browser_r, from_browser_w),
                stdout=processes.DEVNULL,
                stderr=stderr,
                new_session=True,
                env={**os.environ, "TMPDIR": str(self._profile)},
            )
            if started.popen is None:
                raise ChromeError(started.error)
            self._proc = started.popen
        except BaseException:
            self._cleanup()
            raise
        finally:
            stderr.close()
            os.close(to_browser_r)
            os.close(from_browser_w)
        try:
            self.send("Browser.getVersion", timeout=60)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ChromeError, OSError):
                self._write({"id": self._take_id(), "method": "Browser.close"})
            with contextlib.suppress(processes.TimeoutExpired):
                proc.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # renderers and helpers too
            with contextlib.suppress(processes.TimeoutExpired):
                proc.wait(timeout=5)
        self._cleanup()

    def _cleanup(self) -> None:
        for fd in ("_to_browser", "_from_browser"):
            if hasattr(self, fd):
                with contextlib.suppress(OSError):
                    os.close(getattr(self, fd))
                delattr(self, fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    # --------------------------------------------------------------- protocol
    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _write(self, message: Mapping[str, Any]) -> None:
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            written = os.write(self._to_browser, data)
            data = data[written:]

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise ChromeError(f"the browser exited; its stderr ends: {self._stderr_tail()}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        self._note(parsed)
        return parsed

    def _stderr_tail(self) -> str:
        try:
            return (self._profile / "stderr.log").read_text(errors="replace")[-800:]
        except OSError:
            return "(no stderr)"

    def _note(self, message: dict[str, Any]) -> None:
        """Keep events; console errors and requests also go to their page at once."""
        if "method" not in message:
            return
        self._events.append(message)
        page = self.pages.get(message.get("sessionId", ""))
        if page is None:
            return
        method, params = message["method"], message.get("params", {})
        if method == "Runtime.exceptionThrown":
            page.errors.append(_describe(params.get("exceptionDetails", {})))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            page.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            page.errors.append(str(params["entry"].get("text")))
        elif method == "Page.javascriptDialogOpening":
            page.errors.append(f"a dialog opened: {params.get('message')!r}")
        elif method == "Network.requestWillBeSent":
            page.requests.append(str(params.get("request", {}).get("url")))

    def send(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30,
    ) -> Any:
        """Send one command and wait for its reply; events meanwhile are kept."""
        ident = self._take_id()
        message: dict[str, Any] = {"id": ident, "method": method, "params": dict(params or {})}
        if session:
            message["sessionId"] = session
        self._write(message)
        deadline = time.monotonic() + timeout
        try:
            while True:
                reply = self._read(deadline)
                if reply.get("id") == ident:
                    if "error" in reply:
                        raise ChromeError(f"{method}: {reply['error'].get('message')}")
                    return reply.get("result", {})
        except TimeoutError:
            raise ChromeError(f"{method}: no reply within {timeout}s") from None

    def clear_events(self, session: str, method: str) -> None:
        self._events = [
            e for e in self._events if not (e.get("sessionId") == session and e["method"] == method)
        ]

    def wait_event(self, session: str, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        try:
            while True:
                for event in self._events:
                    if event.get("sessionId") == session and event["method"] == method:
                        self._events.remove(event)
                        return event
                self._read(deadline)
        except TimeoutError:
            raise ChromeError(f"no {method} within {timeout}s") from None

    def new_page(self, width: int = 1400, height: int = 1000) -> Page:
        """A fresh tab with console, log, network and page events on."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, attached["sessionId"])
        self.pages[page.session] = page
        self.targets[page.session] = target
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.send(f"{domain}.enable")
        page.viewport(width, height)
        return page


@contextlib.contextmanager
def open_page(url: str, *, width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """A browser with one page loaded from ``url``, for one ``with`` block."""
    with Chrome() as chrome:
        page = chrome.new_page(width, height)
        page.navigate(url)
        yield page


def _describe(details: Mapping[str, Any]) -> str:
    exception = details.get("exception", {})
    return str(exception.get("description") or details.get("text") or details)
