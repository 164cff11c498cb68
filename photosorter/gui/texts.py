"""User-visible text with a count, through Qt's translation functions.

`plural("Context", "%n photo(s) moved", n)` goes through `QCoreApplication.translate`
with `n`, so a loaded translation picks its own plural form; with none loaded (English),
the "(s)" of the source text is resolved here: "1 photo moved", "3 photos moved".
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication


def plural(context: str, text: str, n: int) -> str:
    """`text` with %n replaced by `n`, in the singular or plural form `n` needs."""
    translated = QCoreApplication.translate(context, text, None, n)
    return translated.replace("(s)", "" if n == 1 else "s")
