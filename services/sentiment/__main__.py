import sys

from services.sentiment.main import main

sys.exit(main())
