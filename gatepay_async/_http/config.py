"""Client configuration: arguments, environment fallbacks and their checks."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs
import httpx

from gatepay_async._errors import ValidationError
from gatepay_async._primitives.version import __version__
from gatepay_async._secrets.secret import Sealed, Secret, hide
from gatepay_async._wire.paths import PathSet

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_CLIENT_ID",
    "ENV_SECRET_KEY",
    "USER_AGENT",
    "ClientConfig",
]

# The client's defaults and the variables it falls back to. The command line's help,
# the sandbox's export lines and the pytest fixture's ``env`` name them from here.
DEFAULT_BASE_URL = "https://openplatform.gateapi.io"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
# Every connection stays reusable: httpx's default of 20 keep-alive connections makes a
# client shared by 100 tasks reconnect on most requests.
DEFAULT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=256)
USER_AGENT = f"gatepay-python/{__version__}"
ENV_CLIENT_ID = "GATEPAY_CLIENT_ID"
ENV_SECRET_KEY = "GATEPAY_SECRET_KEY"  # noqa: S105 (a variable name)
ENV_BASE_URL = "GATEPAY_BASE_URL"
#: The merchant API key, sent as X-GatePay-Certificate-SN on POST (the official Java and
#: Python clients always send one; the Go client and GatePay's signing rules do not need it).
ENV_API_KEY = "GATEPAY_API_KEY"
#: Largest answer (after decompression) read before it is refused: GatePay's answers are a
#: few kilobytes, so 1 MiB leaves room while a hostile or broken server cannot fill memory.
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024


@attrs.frozen(repr=False)
class ClientConfig:
    """The checked arguments of a client. The signing secret and the api key are
    :class:`Secret` values: rich tracebacks and structlog walk this class's fields one by
    one (``repr=False`` does not stop them), and a frame holding it shows only masks."""

    client_id: str
    secret_key: Secret
    base_url: str
    on_behalf_of: str | None
    api_key: Secret | None
    timeout: httpx.Timeout
    max_retries: int
    #: Seconds one attempt may take from connect to last byte; set when ``timeout`` is a
    #: number (an ``httpx.Timeout`` keeps httpx's per-phase meaning only).
    attempt_timeout: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @classmethod
    def resolve(
        cls,
        *,
        client_id: str | None,
        secret_key: str | Secret | None,
        base_url: str | None,
        on_behalf_of: str | None,
        api_key: str | Secret | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        paths: PathSet | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        # Masked on entry: every check below can raise, and error tools show this frame.
        secret_key, api_key = hide(secret_key), hide(api_key)
        # The environment holds the secret too (and any other of the process's): sealed.
        env = Sealed(os.environ if environ is None else environ)
        client_id = _required(client_id, env.value.get(ENV_CLIENT_ID), "client_id", ENV_CLIENT_ID)
        secret = _required_secret(
            secret_key, _variable_secret(env.value, ENV_SECRET_KEY), "secret_key", ENV_SECRET_KEY
        )
        del secret_key
        url = _base_url(base_url or env.value.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
        if on_behalf_of is not None and (not isinstance(on_behalf_of, str) or not on_behalf_of):
            raise ValidationError("on_behalf_of", "must be a non-empty string or None")
        if api_key is not None and (not isinstance(api_key, Secret) or not api_key):
            raise ValidationError("api_key", "must be a non-empty string or None")
        # An empty variable counts as unset: a blank line in an .env file is no key.
        api = api_key if isinstance(api_key, Secret) else _variable_secret(env.value, ENV_API_KEY)
        del api_key
        _check_limits(paths, max_retries, max_response_bytes)
        checked_timeout = _timeout(timeout)
        return cls(
            client_id=client_id,
            secret_key=secret,
            base_url=url,
            on_behalf_of=on_behalf_of,
            api_key=api,
            timeout=checked_timeout,
            max_retries=max_retries,
            attempt_timeout=None if isinstance(timeout, httpx.Timeout) else float(timeout),
            max_response_bytes=max_response_bytes,
        )


def _base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValidationError("base_url", "must start with http:// or https://")
    return url


def _check_limits(paths: object, max_retries: object, max_response_bytes: object) -> None:
    if paths is not None and not isinstance(paths, PathSet):
        raise ValidationError("paths", "must be a PathSet or None")
    if not _is_int_at_least(max_retries, 0):
        raise ValidationError("max_retries", "must be an integer >= 0")
    if not _is_int_at_least(max_response_bytes, 1):
        raise ValidationError("max_response_bytes", "must be an integer >= 1 (bytes)")


def _is_int_at_least(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _required(value: str | None, fallback: str | None, name: str, env_name: str) -> str:
    chosen = value if value is not None else fallback
    if chosen is None or chosen == "":
        raise ValidationError(name, f"missing: pass {name}=... or set the {env_name} variable")
    if not isinstance(chosen, str):
        raise ValidationError(name, "must be a string")
    return chosen


def _required_secret(value: object, fallback: Secret | None, name: str, env_name: str) -> Secret:
    """``_required`` for a value masked on entry (``hide``): never unwrapped to check it."""
    chosen = value if value is not None else fallback
    if chosen is None or chosen == "":
        raise ValidationError(name, f"missing: pass {name}=... or set the {env_name} variable")
    if not isinstance(chosen, Secret):
        raise ValidationError(name, "must be a string")
    return chosen


def _variable_secret(env: Mapping[str, str], name: str) -> Secret | None:
    """The variable ``name``, masked; None when unset or empty."""
    value = env.get(name)
    return Secret(value) if value else None


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValidationError("timeout", "must be a positive number of seconds or httpx.Timeout")
    return httpx.Timeout(float(timeout))
