"""User-visible text with a count, through Qt's translation functions; names kept whole.

`plural("Context", "%n photo(s) moved", n)` goes through `QCoreApplication.translate`
with `n`, so a loaded translation picks its own plural form; with none loaded (English),
the "(s)" of the source text is resolved here: "1 photo moved", "3 photos moved".
`unbreakable` keeps an option or value ("--model", "openvino-int8") on one line of a
wrapped label.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication


def plural(context: str, text: str, n: int) -> str:
    """`text` with %n replaced by `n`, in the singular or plural form `n` needs."""
    translated = QCoreApplication.translate(context, text, None, n)
    return translated.replace("(s)", "" if n == 1 else "s")


NO_BREAK_HYPHEN = "\u2011"  # looks like "-"; a line never breaks after it


def unbreakable(text: str) -> str:
    """`text` with non-breaking hyphens, for a word-wrapped label: an option name or value
    shown in it ("--model", "ViT-B-32") is never split at a line's end."""
    return text.replace("-", NO_BREAK_HYPHEN)
