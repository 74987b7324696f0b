"""``python -m linkname``: the ``linkname`` command."""

from .cli import main

raise SystemExit(main())
