"""What the command-line scripts (``train/``, ``eval/``, ``bench/``) share, so each reads as orchestration.

The exception to the library's rule of no printing: this module is the scripts' front door.

- :data:`GLIBC_TUNABLES` and :func:`use_glibc_tunables`: glibc hands the large buffers of each training step
  back to the kernel and faults them in again on the next (a third of a CPU step went to the kernel,
  measured); keeping freed memory in the heap removes that cost.
"""

from __future__ import annotations

import os
import sys

GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184"


def use_glibc_tunables() -> None:
    """Restart this Python process with :data:`GLIBC_TUNABLES` unless they (or other tunables) are set; Linux only.

    glibc reads the variable at start-up only, hence the ``execve``; call it first thing under ``__main__``.
    """
    if sys.platform == "linux" and "GLIBC_TUNABLES" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES})
