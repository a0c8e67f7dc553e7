"""Request bodies: JSON objects with a 400 that says what is wrong (anaconda-client sends JSON even on DELETE)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from packyard.core.errors import BadRequest

MAX_JSON_BYTES = 4 * 1024 * 1024


async def json_body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise BadRequest(f"the JSON body is larger than {MAX_JSON_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body
