import sys

from services.alerting.main import main

sys.exit(main())
