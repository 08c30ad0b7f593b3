"""Giving memory back to the operating system after a large file.

libcst's native parser peaks at about 550 bytes a character of the text, far
above what the parsed tree keeps. When the parse ends, that memory is free for
the process but stays in its heap: after a 1.4 MB file a run holds ~1 GB of
resident memory it no longer uses, and whatever it allocates next may land on
top of it. A batch run hands it back after each large file; the editor, which
re-lints the same buffer on every keystroke, does not.
"""

from __future__ import annotations

import gc
from functools import lru_cache

# Parsing holds far more than the parsed result keeps: libcst's native parser
# peaks at about 550 bytes a character (a 1.4 MB file of torch's tests: 785 MB)
# where the kept tree and facts take about 30. A file this large is a large file.
LARGE_FILE_CHARS = 250_000


def release_to_os() -> None:
    """Free unreachable cycles, then return the heap's free pages (glibc only)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl).
    ctypes is imported here, not at start-up: most runs have no large file."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
