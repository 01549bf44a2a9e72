"""What the command-line scripts (``train/``, ``eval/``, ``bench/``) share, so each reads as orchestration.

The exception to the library's rule of no printing: this module is the scripts' front door.

- :func:`run`: the ``__main__`` of a script shaped as ``main(cfg) -> metrics``: ``--help`` lists every field of
  its config (:func:`hypersiren.utils.config.format_help`), the command line becomes the config
  (:func:`hypersiren.utils.config.parse_args`), and bad input (any ``ValueError``: a config, data, mask,
  checkpoint or signal error; a missing file; a missing optional package, :mod:`hypersiren.utils.extras`) ends with
  one ``error: ...`` line and exit status 2, no traceback.
  ``main`` prints its own one-line summary last.
- :data:`GLIBC_TUNABLES` and :func:`use_glibc_tunables`: glibc hands the large buffers of each training step
  back to the kernel and faults them in again on the next (a third of a CPU step went to the kernel,
  measured); keeping freed memory in the heap removes that cost.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hypersiren.utils.config import format_help, parse_args
from hypersiren.utils.extras import MissingExtraError

T = TypeVar("T")
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184"
# ConfigError, DataError, MaskError, CheckpointError, SignalError, ...; a missing file; a missing optional package
BAD_INPUT = (ValueError, FileNotFoundError, MissingExtraError)


def run(
    main: Callable[[T], Any],
    cls: type[T],
    doc: str,
    usage: str,
    *,
    argv: Sequence[str] | None = None,
    positional: str | None = None,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    on_interrupt: Callable[[T | None], str] | None = None,
) -> int:
    """Parse the command line into ``cls``, run ``main`` and return the exit status.

    Args:
        doc: the script's docstring; its first paragraph heads ``--help``.
        usage: the usage line.
        positional, presets: see :func:`hypersiren.utils.config.parse_args`.
        on_interrupt: Ctrl-C prints what it returns (given the config, or None before there was one) on the
            first process only, and the exit status is 130.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if "-h" in args or "--help" in args:
        print(format_help(cls, usage, doc.strip().split("\n\n")[0], presets))
        return 0
    cfg = None
    try:
        cfg = parse_args(cls, args, positional=positional, presets=presets)
        main(cfg)
    except BAD_INPUT as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if on_interrupt is not None and int(os.environ.get("RANK", "0")) == 0:
            print(on_interrupt(cfg), file=sys.stderr)
        return 130
    return 0


def use_glibc_tunables() -> None:
    """Restart this Python process with :data:`GLIBC_TUNABLES` unless they (or other tunables) are set; Linux only.

    glibc reads the variable at start-up only, hence the ``execve``; call it first thing under ``__main__``.
    """
    if sys.platform == "linux" and "GLIBC_TUNABLES" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": GLIBC_TUNABLES})
