"""Request bodies: JSON objects, read with a size cap and validated by a pydantic model per route.

Routes declare a body as `body: Annotated[Model, body_of(Model)]` (after their identity parameter, so bad
credentials are a 401 before a bad body is a 400). FastAPI's own body handling is not used because it reads the
whole request into memory and refuses bodies not labelled `application/json`; anaconda-client labels them, but
curl users often do not, and anaconda-client also sends JSON on DELETE. `document_bodies` then declares each
model in the OpenAPI document, so schema-driven clients and fuzzers see every body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.routing import BaseRoute

from packyard.core.errors import BadRequest

MAX_JSON_BYTES = 4 * 1024 * 1024


class JsonBody(BaseModel):
    """Base of every REST request body.

    Strict on the types of the fields it names (a list where a string belongs is a 400, not a 500 from the
    database), lenient on the rest: unknown fields are ignored, because anaconda-client sends fields Packyard has
    no use for (`publish`, `dependencies`, ...).
    """

    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


B = TypeVar("B", bound=JsonBody)


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object; empty and `null` bodies are `{}` (anaconda-client sends no body on some calls)."""
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


def body_of(model: type[B]) -> Any:
    """A dependency reading the body as `model`; its errors are RequestValidationErrors located under `body`,
    which the app answers as 400 `{"error": "invalid request: body.FIELD: ..."}` like any other bad parameter."""

    async def read(request: Request) -> B:
        raw = await json_body(request)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            errors = [
                {**err, "loc": ("body", *err["loc"])}
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
            raise RequestValidationError(errors, body=raw) from None

    read.body_model = model  # type: ignore[attr-defined]  # found by document_bodies
    return Depends(read)


def body_model(route: APIRoute) -> type[JsonBody] | None:
    """The body model a route reads through `body_of`, if any (searched through nested dependencies)."""

    def search(dependant: Dependant) -> type[JsonBody] | None:
        found: type[JsonBody] | None = getattr(dependant.call, "body_model", None)
        if found is not None:
            return found
        for sub in dependant.dependencies:
            if (found := search(sub)) is not None:
                return found
        return None

    return search(route.dependant)


def routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], BaseRoute]]:
    """Every route of the app as (full path template, methods, the route as declared).

    FastAPI from 0.12x on keeps included routers nested (`app.routes` holds them unexpanded), so walking
    `app.routes` alone would miss every router's routes.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        for route in app.routes:
            yield getattr(route, "path_format", ""), frozenset(getattr(route, "methods", None) or ()), route
        return
    for context in iter_route_contexts(app.routes):
        yield context.path_format or "", frozenset(context.methods or ()), context.original_route


ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {"error": {"type": "string", "description": "what is wrong and what to fix"}},
    "required": ["error"],
}
BAD_REQUEST = {
    "description": "Bad request: the message names what is wrong and says what to fix",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def document_bodies(app: FastAPI) -> None:
    """Declare each route's body model in the OpenAPI document, and the 400 `{"error"}` answer that replaces
    FastAPI's 422 (app.py maps every validation error to Packyard's error shape)."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()
        if completed and completed[0] is schema:
            return schema  # FastAPI's cached document, already completed
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        paths = schema.get("paths", {})
        for path, methods, route in routes(app):
            if not isinstance(route, APIRoute) or (model := body_model(route)) is None:
                continue
            for method in methods:
                operation = paths.get(path, {}).get(method.lower())
                if operation is None:
                    continue  # not in the schema (include_in_schema=False)
                operation["requestBody"] = {
                    "required": any(field.is_required() for field in model.model_fields.values()),
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
                    },
                }
                definition = model.model_json_schema(
                    by_alias=True, ref_template="#/components/schemas/{model}", mode="validation"
                )
                components.update(definition.pop("$defs", {}))
                components[model.__name__] = definition
        components["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for path_item in paths.values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                if responses.pop("422", None) is not None or "requestBody" in operation:
                    responses["400"] = BAD_REQUEST
        completed[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["JsonBody", "body_model", "body_of", "document_bodies", "json_body", "routes"]
