"""Entry script of the frozen app: the same `photosorter.cli.main()` as the pip-installed command.

One script serves both executables of the bundle: `photosorter` (console) runs the CLI, and
`photosorter-gui` (windowed: no console on Windows, the macOS .app's executable) opens the app
like the `photosorter-gui` gui-script entry point does.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path


def run() -> int:
    """Dispatch on the executable's name, as the two pip entry points do."""
    # A windowed executable has no console: print() to a None stream would raise.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    from photosorter.cli import gui_main, main

    if Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).stem.endswith("-gui"):
        return gui_main()
    return main()


if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start the app again
    sys.exit(run())
