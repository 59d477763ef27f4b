"""Credentials for IMAP and SMTP: passwords and OAuth2 tokens, resolved at connect time."""

from .credentials import Credential, CredentialProvider, OAuthBearer, Password, StaticCredentialProvider

__all__ = ["Credential", "CredentialProvider", "OAuthBearer", "Password", "StaticCredentialProvider"]
