"""Test configuration: fixtures live in tests/fixtures/, one module per real server or artifact."""

pytest_plugins = [
    "fixtures.component",
    "fixtures.dovecot",
    "fixtures.smtpd",
    "fixtures.oauth",
]
