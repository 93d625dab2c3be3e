"""``python -m services.ingest file PATH`` (the simulated stream: ``python -m devtools.feed``)."""

import sys

from shared.startup import exit_cleanly_on_early_signals

exit_cleanly_on_early_signals()

from services.ingest.main import main  # noqa: E402

sys.exit(main())
