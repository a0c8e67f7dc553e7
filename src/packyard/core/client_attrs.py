"""What a client says about its upload or release, kept beside what the server computed and never in its place.

anaconda-client sends `attrs` with every staged upload (`upload(..., attrs=...)`: its own detection of the file,
or what the caller passed) and `requirements` with every new release (`add_release`). The server parses every
file itself, and its parse is what the indexes, the filters and the repodata are built from; so the client's
attrs live under one reserved key of the file's attrs (`CLIENT_KEY`), which no format reader looks at, and are
merged under the computed ones only when the file is shown in the REST API. A client can thus add `note` to
its file, and cannot change a conda file's `build`, `subdir` or `depends`, a wheel's `requires_python`, nor add
`track_features` to the repodata.

What is kept is bounded (`MAX_BYTES` as JSON, `MAX_DEPTH` levels, `MAX_KEYS` keys): a client document over
a limit is refused with a 400 that names the limit, rather than trimmed behind the caller's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from packyard.core.errors import BadRequest

CLIENT_KEY = "packyard.client_attrs"
"""The key of a file's stored attrs that holds the client's attrs (dotted, so no format's metadata uses it)."""

MAX_BYTES = 64 * 1024
MAX_DEPTH = 8
MAX_KEYS = 256
MAX_KEY_CHARS = 200


def _depth(value: Any) -> int:
    """Nesting levels of a JSON value: a scalar is 0, `{"a": 1}` is 1, `{"a": [1]}` is 2."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_document(value: Any, what: str) -> None:
    """Refuse a client JSON document over the size or depth limits (400, naming the field and the limit)."""
    # Depth first: a very deep document is cheap to send and would make the encoder recurse.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise BadRequest(f"{what} is nested more than {MAX_DEPTH} levels deep; flatten it")
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise BadRequest(f"{what} is not a JSON document") from None
    if size > MAX_BYTES:
        raise BadRequest(f"{what} is {size} bytes as JSON; at most {MAX_BYTES} are kept")


def clean_attrs(value: Any) -> dict[str, Any]:
    """The client's attrs as kept at stage time: a JSON object within the limits, else a 400."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest('attrs must be a JSON object (e.g. {"note": "built on CI"})')
    if len(value) > MAX_KEYS:
        raise BadRequest(f"attrs has {len(value)} keys; at most {MAX_KEYS} are kept")
    for key in value:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
            raise BadRequest(f"every key of attrs must be a name of 1 to {MAX_KEY_CHARS} characters")
    check_document(value, "attrs")
    return dict(value)


def merged(computed: Mapping[str, Any], client: Mapping[str, Any]) -> dict[str, Any]:
    """The attrs to store: the server's parse, plus (under `CLIENT_KEY`) the client's keys the parse lacks."""
    out = {k: v for k, v in computed.items() if k != CLIENT_KEY}
    extra = {k: v for k, v in client.items() if k not in out and k != CLIENT_KEY}
    if extra:
        out[CLIENT_KEY] = extra
    return out


def public(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A file's attrs as the REST API shows them: the client's keys, overridden by every computed one."""
    stored = stored or {}
    client = stored.get(CLIENT_KEY)
    computed = {k: v for k, v in stored.items() if k != CLIENT_KEY}
    return {**client, **computed} if isinstance(client, dict) else computed


def clean_requirements(value: Any) -> list[Any] | dict[str, Any]:
    """A release's `requirements` as anaconda-client sends them (a list, or a dict per its docstring)."""
    if value is None:
        return []
    if not isinstance(value, list | dict):
        raise BadRequest("requirements must be a JSON list or object (anaconda-client sends [])")
    check_document(value, "requirements")
    return value
