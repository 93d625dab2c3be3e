import sys

from shared.startup import exit_cleanly_on_early_signals

exit_cleanly_on_early_signals()  # before the imports below

from services.notifier.main import main  # noqa: E402

sys.exit(main())
