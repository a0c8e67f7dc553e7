"""Stream a multipart/form-data body: small fields are kept, the one file part goes straight into a sink.

Starlette's `request.form()` spools files to a temporary file and reads them again; here the file part is
hashed and written to the blob store as it arrives, so an upload is read once and never held in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.message import Message

from python_multipart.multipart import MultipartParser, parse_options_header

from packyard.core.errors import BadRequest, PackyardError

MAX_FIELD_BYTES = 64 * 1024


@dataclass
class FormResult:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    file_field: str | None = None
    file_size: int = 0


def boundary_of(content_type: str) -> bytes:
    ctype, options = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raise BadRequest("expected a multipart/form-data body")
    return options[b"boundary"]


async def read_form(
    content_type: str,
    body: AsyncIterator[bytes],
    sink: Callable[[bytes], None],
    *,
    file_fields: tuple[str, ...] = ("file", "content"),
    max_file_bytes: int,
    before_file: Callable[[dict[str, str]], None] | None = None,
) -> FormResult:
    """Parse the form; bytes of the first part named in `file_fields` (with a filename) go to `sink`.

    `before_file` sees the fields that precede the file, so a signed form can be checked before its bytes land.
    """
    result = FormResult()
    state: dict[str, object] = {"headers": [], "name": None, "is_file": False, "buf": bytearray()}
    header_field = bytearray()
    header_value = bytearray()
    errors: list[str | Exception] = []

    def on_part_begin() -> None:
        state.update(headers=[], name=None, is_file=False, buf=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        state["headers"].append((bytes(header_field).decode("latin-1"), bytes(header_value).decode("utf-8")))  # type: ignore[union-attr]
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        msg = Message()
        for key, value in state["headers"]:  # type: ignore[union-attr]
            msg[key] = value
        disposition = msg.get("content-disposition", "")
        msg2 = Message()
        msg2["content-disposition"] = disposition
        name = msg2.get_param("name", header="content-disposition")
        filename = msg2.get_param("filename", header="content-disposition")
        state["name"] = name if isinstance(name, str) else None
        if isinstance(filename, str) and state["name"] in file_fields and result.filename is None:
            state["is_file"] = True
            result.filename = filename
            result.file_field = state["name"]  # type: ignore[assignment]
            if before_file is not None:
                try:
                    before_file(result.fields)
                except Exception as exc:
                    errors.append(exc)  # type: ignore[arg-type]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["is_file"]:
            result.file_size += end - start
            if errors:
                return
            if result.file_size > max_file_bytes:
                errors.append(f"the file is larger than the {max_file_bytes} bytes this server accepts")
                return
            sink(data[start:end])
        else:
            buf: bytearray = state["buf"]  # type: ignore[assignment]
            if len(buf) + end - start > MAX_FIELD_BYTES:
                errors.append(f"form field {state['name']!r} is too large")
                return
            buf.extend(data[start:end])

    def on_part_end() -> None:
        if not state["is_file"] and state["name"]:
            result.fields[state["name"]] = bytes(state["buf"]).decode("utf-8", "replace")  # type: ignore[index, arg-type]

    parser = MultipartParser(
        boundary_of(content_type),
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in body:
            parser.write(chunk)
            if errors:
                _raise(errors[0])
        parser.finalize()
    except PackyardError:
        raise
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise BadRequest(f"malformed multipart body: {exc}") from None
    if errors:
        _raise(errors[0])
    return result


def _raise(error: str | Exception) -> None:
    raise error if isinstance(error, Exception) else BadRequest(error)
