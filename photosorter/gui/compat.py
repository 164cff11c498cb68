"""Work-arounds for bugs in the Qt bindings, applied once when the gui package loads.

PySide6 6.12.0 on CPython 3.11 and older drops a reference to None on every binding
call that returns None (any void method such as `setText`, and any lookup that finds
nothing). After a few thousand calls CPython aborts with "deallocating None". From
CPython 3.12 on None is immortal and the bug is harmless; here we give None the same
immortality by raising its reference count far out of reach, which is all 3.12 does.
"""

from __future__ import annotations

import ctypes
import sys

_HUGE = 1 << 60  # far more than any program's decrements; far from Py_ssize_t's limit


def immortalize_none() -> bool:
    """Make None's reference count unreachable on CPython < 3.12; True when applied."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    refcount = ctypes.c_ssize_t.from_address(id(None))
    if refcount.value < _HUGE // 2:
        refcount.value += _HUGE
    return True
