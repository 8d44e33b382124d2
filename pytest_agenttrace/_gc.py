"""Pausing the cyclic garbage collector around bulk work on a large trace."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collector_paused"]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; a collector already off stays off.

    Building a trace (the adapters' deferred mapping, cleaning and freezing
    every span), loading or saving one, and checking one against a spec
    allocate many objects while a large trace (millions of objects) is alive:
    each young collection then walks what was just made, and full ones walk
    the whole trace, finding nothing (the work makes no reference cycles).
    Cycles another thread makes meanwhile wait for the next collection.  The
    setting is process-wide: a thread that switches the collector off during
    the pause finds it on again afterwards, so it is used only where a
    caller waits for the result (a finished trace, a load, a save, a check),
    never for a snapshot taken while the agent runs.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
