"""Pause Python's cyclic garbage collector around batch computations.

Loading and planning thousands of tasks allocates millions of small objects that never form
cycles (specs, footprints, overlap sets, heap entries). The cyclic collector is triggered by
allocation counts, not by garbage, so it walks that whole growing heap again and again for
nothing: on a 10,000-task plan it cost more than half a second per stage. Reference counting
still frees everything as usual while paused; only cycle detection waits until the end.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; nests, and restores the state it found."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def batch(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a batch computation to run with the cyclic collector paused."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with gc_paused():
            return function(*args, **kwargs)

    return wrapper
