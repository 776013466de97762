"""`python -m toucan_nb` with every log line prefixed by its level and logger, so that a test reading
the server's output can tell an ERROR record from a message that merely contains the word."""

from __future__ import annotations

import logging
import sys

from toucan_nb.host.cli import main

if __name__ == "__main__":
    # Installed first, so the server's own basicConfig (without force) keeps this handler.
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(main())
