"""`python -m toucan_nb` is `toucan-nb`."""

from __future__ import annotations

from toucan_nb.host.cli import main

raise SystemExit(main())
