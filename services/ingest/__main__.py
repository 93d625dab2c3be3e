"""``python -m services.ingest file PATH`` / ``python -m services.ingest synthetic ...``."""

import sys

from services.cli import main

sys.exit(main(["ingest", *sys.argv[1:]]))
