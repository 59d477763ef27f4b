"""Test configuration: fixtures live in tests/fixtures/, one module per real server or artifact."""

import os

# No TA adapter spawned by a test leaves a warm helper behind unless the test asks for one.
os.environ["PRX_EMAIL_TA_HELPER"] = "0"

pytest_plugins = [
    "fixtures.component",
    "fixtures.dovecot",
    "fixtures.smtpd",
    "fixtures.oauth",
]
