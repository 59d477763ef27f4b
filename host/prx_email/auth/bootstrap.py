"""First OAuth2 consent for an account: authorization code flow with PKCE (RFC 7636, S256).

1. :func:`plan_bootstrap` fixes provider, endpoints, scopes, a fresh PKCE verifier and state.
2. :func:`authorization_url` is what the user opens; after consent the browser lands on the
   redirect URI (``http://localhost`` by default: the page does not load, the address bar
   holds the code).
3. :func:`code_from_callback` takes the pasted callback URL (state checked) or a bare code.
4. :func:`exchange_code` trades code + verifier for tokens; :func:`save_tokens` seals them
   into a 0600 file; :func:`config_lines` prints what to put in the config.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AuthFailed, InvalidArgument
from .refresh import check_endpoint, post_token_request, preset
from .secrets import SecretBox, secrets_dir
from .tokens import TokenFile, TokenSet, default_token_path

DEFAULT_REDIRECT_URI = "http://localhost"


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str = field(repr=False)
    challenge: str
    state: str = field(repr=False)

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]  # 43..128 chars of the unreserved set
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return cls(verifier=verifier, challenge=challenge, state=secrets.token_urlsafe(24))


@dataclass(frozen=True, slots=True)
class BootstrapPlan:
    provider: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    authorize_endpoint: str
    token_endpoint: str
    tenant: str
    pkce: Pkce
    authorize_extra: tuple[tuple[str, str], ...] = ()
    client_secret: str | None = field(default=None, repr=False)


def plan_bootstrap(
    provider: str,
    client_id: str,
    *,
    tenant: str = "common",
    redirect_uri: str = DEFAULT_REDIRECT_URI,
    scopes: tuple[str, ...] | None = None,
    authorize_endpoint: str | None = None,
    token_endpoint: str | None = None,
    client_secret: str | None = None,
) -> BootstrapPlan:
    """Endpoints and scopes from the provider preset unless overridden.

    :raises ConfigError: unknown provider or a non-https (non-loopback) endpoint.
    :raises InvalidArgument: empty client id.
    """
    if not client_id.strip():
        raise InvalidArgument("--client-id must not be empty")
    p = preset(provider)
    plan = BootstrapPlan(
        provider=p.name,
        client_id=client_id.strip(),
        redirect_uri=redirect_uri,
        scopes=tuple(scopes) if scopes else p.scopes,
        authorize_endpoint=authorize_endpoint or p.authorize_endpoint.format(tenant=tenant),
        token_endpoint=token_endpoint or p.token_endpoint.format(tenant=tenant),
        tenant=tenant,
        pkce=Pkce.new(),
        authorize_extra=p.authorize_extra,
        client_secret=client_secret,
    )
    check_endpoint(plan.authorize_endpoint)
    check_endpoint(plan.token_endpoint)
    return plan


def authorization_url(plan: BootstrapPlan) -> str:
    """The consent URL: response_type=code, PKCE S256 challenge and state."""
    params = [
        ("client_id", plan.client_id),
        ("response_type", "code"),
        ("redirect_uri", plan.redirect_uri),
        ("response_mode", "query"),
        ("scope", " ".join(plan.scopes)),
        ("state", plan.pkce.state),
        ("code_challenge", plan.pkce.challenge),
        ("code_challenge_method", "S256"),
        *plan.authorize_extra,
    ]
    if plan.provider == "google":
        params = [kv for kv in params if kv[0] != "response_mode"]
    sep = "&" if "?" in plan.authorize_endpoint else "?"
    return (
        plan.authorize_endpoint + sep + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    )


def code_from_callback(pasted: str, plan: BootstrapPlan) -> str:
    """The authorization code from a pasted callback URL (state verified) or a bare code.

    :raises AuthFailed: the provider returned an error, or the state does not match.
    :raises InvalidArgument: nothing usable was pasted.
    """
    text = pasted.strip()
    if not text:
        raise InvalidArgument("no callback URL or code was given")
    if "code=" in text or "error=" in text or "://" in text:
        parts = urllib.parse.urlsplit(text)
        query = parts.query or (parts.path if "=" in parts.path and "://" not in text else "")
        params = urllib.parse.parse_qs(query or parts.fragment)
        if "error" in params:
            error = params["error"][0]
            desc = params.get("error_description", [""])[0][:200]
            raise AuthFailed(
                f"the provider refused consent: {error}" + (f" ({desc})" if desc else ""),
                hint="check the client id, tenant and scopes, then run the bootstrap again",
            )
        state = params.get("state", [""])[0]
        if not hmac.compare_digest(state.encode(), plan.pkce.state.encode()):
            raise AuthFailed(
                "the callback's state does not match this bootstrap (stale or forged callback)",
                hint="open the URL printed by this run and paste the callback it produces",
            )
        codes = params.get("code")
        if not codes or not codes[0]:
            raise InvalidArgument("the callback URL has no code parameter")
        return codes[0]
    if any(c.isspace() for c in text):
        raise InvalidArgument("paste either the full callback URL or just the code")
    return text


async def exchange_code(
    plan: BootstrapPlan, code: str, *, timeout: float = 30.0, clock: Callable[[], float] = time.time
) -> TokenSet:
    """Authorization code + PKCE verifier → token set.

    :raises AuthRefreshFailed: the token endpoint refused or could not be reached.
    :raises AuthFailed: no refresh token was issued (consent without offline access).
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": plan.redirect_uri,
        "client_id": plan.client_id,
        "code_verifier": plan.pkce.verifier,
    }
    if plan.provider == "microsoft":
        form["scope"] = " ".join(plan.scopes)
    if plan.client_secret:
        form["client_secret"] = plan.client_secret
    tokens = await post_token_request(
        plan.token_endpoint, form, timeout=timeout, clock=clock, what="authorization code exchange"
    )
    if not tokens.refresh_token:
        raise AuthFailed(
            "the token endpoint issued no refresh token, so access would stop within an hour",
            hint="include offline_access (Microsoft) or access_type=offline (Google) and retry",
        )
    return tokens


def default_output(provider: str, account_id: int | None) -> Path:
    if account_id is not None:
        return default_token_path(account_id)
    return secrets_dir() / "tokens" / f"{provider}.token"


def save_tokens(path: Path, tokens: TokenSet, box: SecretBox | None = None) -> Path:
    """Seal ``tokens`` into ``path`` (0600; a missing directory is created 0700).

    :raises ConfigError: unsafe directory, loose existing file, or no key.
    """
    TokenFile(path, box or SecretBox.from_environment()).save(tokens)
    return path


def config_lines(
    plan: BootstrapPlan,
    token_file: Path,
    *,
    default_path: bool,
    client_secret_env: str | None = None,
) -> str:
    """The TOML to paste into the account's ``imap`` and ``smtp`` tables."""
    scopes = ", ".join(f'"{s}"' for s in plan.scopes)
    lines = [
        f'provider = "{plan.provider}"',
        f'client_id = "{plan.client_id}"',
    ]
    preset_endpoint = preset(plan.provider).token_endpoint.format(tenant="common")
    if plan.token_endpoint != preset_endpoint:
        lines.append(f'token_endpoint = "{plan.token_endpoint}"')
    if client_secret_env:
        lines.append(f'client_secret_env = "{client_secret_env}"')
    lines.append(f"scopes = [{scopes}]")
    if not default_path:
        lines.append(f'token_file = "{token_file}"')
    body = "\n".join(lines)
    out = ["# Add to the account's [[accounts]] entry; IMAP and SMTP share the token file."]
    for proto in ("imap", "smtp"):
        out += [
            "",
            f"[accounts.{proto}]",
            'auth = "oauth2"',
            "",
            f"[accounts.{proto}.oauth2]",
            body,
        ]
    return "\n".join(out) + "\n"
