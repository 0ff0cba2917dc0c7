"""Decoding GatePay's response envelope into data, or into the matching exception."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from gatepay_async._errors import (
    ResponseValidationError,
    body_snippet,
    error_for_response,
)
from gatepay_async._secrets.redact import redact_url
from gatepay_async._wire.answer_frames import reads_answers

__all__ = ["decode_envelope", "parse_json", "parse_retry_after"]

_NOT_JSON = object()
_SUCCESS_CODES = (None, "", "000000", "0", 0)


# One decoder for every response: json.loads(..., parse_float=...) builds one per call.
_DECODER = json.JSONDecoder(parse_float=Decimal)


def parse_json(content: bytes) -> Any:
    """JSON with every number that has a fraction read as Decimal, never float."""
    return _DECODER.decode(content.decode("utf-8"))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@reads_answers
def decode_envelope(response: httpx.Response, *, method: str, path: str) -> Any:
    """Return the ``data`` of a successful answer; raise the right GatePayError otherwise."""
    status_code = response.status_code
    content = response.content
    try:
        payload: Any = parse_json(content)
    except (ValueError, RecursionError):
        payload = _NOT_JSON
    if 200 <= status_code < 300:
        if not isinstance(payload, (Mapping, list)):
            raise ResponseValidationError(
                "the response is not a JSON object", status_code=status_code, body=content
            )
        if isinstance(payload, list) or not _is_envelope(payload):
            return payload  # a bare object or array, as seed 001's example shows
        envelope_status = payload.get("status")
        code = _text(payload.get("code"))
        if envelope_status == "SUCCESS" or (envelope_status is None and code in _SUCCESS_CODES):
            return _unwrap_data(payload.get("data"), status_code, content)
        if envelope_status != "FAIL":
            raise ResponseValidationError(
                f"unknown envelope status {envelope_status!r}",
                status_code=status_code,
                body=content,
            )
    return _raise_error(response, payload, method=method, path=path)


def _is_envelope(payload: Mapping[str, Any]) -> bool:
    return payload.get("status") in ("SUCCESS", "FAIL") or "data" in payload or "code" in payload


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(value)


def _unwrap_data(data: Any, status_code: int, content: bytes) -> Any:
    if isinstance(data, str):
        if not data.strip():
            return None
        try:
            return _DECODER.decode(data)
        except (ValueError, RecursionError):
            raise ResponseValidationError(
                "data is a string that does not hold JSON", status_code=status_code, body=content
            ) from None
    return data


def _raise_error(response: httpx.Response, payload: Any, *, method: str, path: str) -> Any:
    if isinstance(payload, Mapping):
        code = _text(payload.get("code"))
        label = _text(payload.get("label"))
        message = _text(payload.get("errorMessage") or payload.get("message")) or ""
        body: Any = payload
    else:
        code = label = None
        message = body_snippet(response.content)
        body = body_snippet(response.content, limit=2000)
    if 300 <= response.status_code < 400:
        # Signed requests never follow redirects: say where it pointed (query masked).
        where = redact_url(response.headers.get("location", "")) or "nowhere"
        message = f"redirected to {where}, not followed{': ' + message if message else ''}"
    raise error_for_response(
        status_code=response.status_code,
        code=code,
        label=label,
        message=message or (label or response.reason_phrase),
        body=body,
        method=method,
        path=path,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
