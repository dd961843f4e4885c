"""Process-wide settings for a process that serves linker and nothing else.

`linker serve` workers (`linker.app.from_environment`) call `settle()` once the app is built:

- The garbage collector: everything made so far (modules, settings, keys, the app) is frozen,
  moved out of the collector's sight since it lives as long as the process, and young objects
  are collected every 10,000 new container objects instead of Python's default 700. A request
  makes a few thousand short-lived objects and reference counting frees nearly all of them,
  so frequent collections found little: with `gc.callbacks` under `make bench-http` (c=50,
  c=200) collections took about 5% of the service's CPU before, under 1% after.
- Logging: a record no longer looks up its caller's file and line, thread, process and
  multiprocessing names (the optimizations the `logging` documentation lists). linker's JSON
  lines print none of them; they cost about a third of each record's making.
"""

from __future__ import annotations

import gc
import logging

YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Set the collector and logging for serving (once per process)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), middle, old)
    logging._srcfile = None  # as the logging HOWTO's "Optimization" section says
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
