"""`python -m photosorter` is the `photosorter` command."""

from photosorter.cli import main

raise SystemExit(main())
