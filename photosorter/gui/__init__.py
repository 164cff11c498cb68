"""The desktop app: a thin Qt adapter over photosorter.core (see gui/app.py)."""

from photosorter.gui.compat import immortalize_none

immortalize_none()  # before any Qt call: see compat.py (PySide6 6.12 + CPython < 3.12)
