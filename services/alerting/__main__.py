import sys

from shared.startup import exit_cleanly_on_early_signals

exit_cleanly_on_early_signals()  # before the slow imports below

from services.alerting.main import main  # noqa: E402

sys.exit(main())
