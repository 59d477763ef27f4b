"""``python -m prx_email.adapters.cli``."""

import sys

from .main import main

sys.exit(main())
