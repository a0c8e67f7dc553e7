"""A streaming multipart/form-data reader: small fields are kept, the one file part goes straight into a sink.

Starlette's `request.form()` spools files to a temporary file and reads them again; here the file part is
hashed and written to the blob store as it arrives, so an upload is read once and never held in memory.

`MultipartReader` is push-style and synchronous (`feed` bytes, then `close`), so the caller decides where it runs:
the receive pipeline (`core/services/receive.py`) feeds it in a worker thread, off the event loop. The byte-level
parsing is python-multipart's `MultipartParser`; this class keeps what the parts mean and the rules:
- at most `max_fields` fields of at most `max_field_bytes` each (fields are kept in memory);
- exactly one file part: the first part named in `file_fields` that carries a filename; a second is refused;
- `before_file` sees the fields that precede the file part before any file byte reaches the sink, so a signed
  form is checked (and may be refused) before its bytes are stored;
- more than `max_file_bytes` of file is a 413;
- a body that does not end with the closing boundary is refused (python-multipart's `finalize` does not check).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from packyard.core.errors import BadRequest, TooLarge

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 256
"""twine sends about 30 fields, anaconda-client 4: room to spare, but a form cannot fill memory with fields."""
MAX_BOUNDARY = 70
"""RFC 2046: a boundary is 1 to 70 characters."""


@dataclass
class Form:
    """What a multipart body said, once read: its fields and the file part's name, filename and size."""

    fields: dict[str, str] = field(default_factory=dict)
    file_field: str | None = None
    filename: str | None = None
    file_size: int = 0


@dataclass
class _Part:
    """The part being read: its headers until they are complete, then what they named."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    name: str | None = None
    is_file: bool = False
    data: bytearray = field(default_factory=bytearray)


def boundary_of(content_type: str) -> bytes:
    ctype, options = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or b"boundary" not in options:
        raise BadRequest("expected a multipart/form-data body")
    boundary = options[b"boundary"]
    if not 1 <= len(boundary) <= MAX_BOUNDARY:
        raise BadRequest(f"the multipart boundary must be 1 to {MAX_BOUNDARY} characters long")
    return boundary


class MultipartReader:
    def __init__(
        self,
        content_type: str,
        sink: Callable[[bytes], None],
        *,
        file_fields: tuple[str, ...],
        max_file_bytes: int,
        before_file: Callable[[dict[str, str]], None] | None = None,
        max_fields: int = MAX_FIELDS,
        max_field_bytes: int = MAX_FIELD_BYTES,
    ) -> None:
        self.form = Form()
        self._sink = sink
        self._file_fields = file_fields
        self._max_file_bytes = max_file_bytes
        self._before_file = before_file
        self._max_fields = max_fields
        self._max_field_bytes = max_field_bytes
        self._part = _Part()
        self._field_count = 0
        self._ended = False
        self._parser = MultipartParser(
            boundary_of(content_type),
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    def feed(self, data: bytes) -> None:
        """Parse the next bytes of the body; file bytes reach the sink before this returns."""
        try:
            self._parser.write(data)
        except FormParserError as exc:  # what python-multipart raises for a malformed body
            raise BadRequest(f"malformed multipart body: {exc}") from None

    def close(self) -> Form:
        """The body is complete: check that it ended where a multipart body ends."""
        if not self._ended:
            raise BadRequest("the multipart body ends before its closing boundary: the upload was cut short")
        return self.form

    # python-multipart's callbacks --------------------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _on_header_end(self) -> None:
        part = self._part
        part.headers.append(
            (part.header_name.decode("latin-1"), part.header_value.decode("utf-8", "replace"))
        )
        part.header_name.clear()
        part.header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._part
        disposition = Message()
        disposition["content-disposition"] = next(
            (value for key, value in part.headers if key.lower() == "content-disposition"), ""
        )
        name = disposition.get_param("name", header="content-disposition")
        filename = disposition.get_param("filename", header="content-disposition")
        part.name = name if isinstance(name, str) else None
        if not isinstance(filename, str) or part.name not in self._file_fields:
            self._field_count += 1
            if self._field_count > self._max_fields:
                raise BadRequest(f"the form has more than {self._max_fields} fields")
            return
        if self.form.file_field is not None:
            raise BadRequest(
                f"the form has more than one file part ({self.form.file_field!r} and {part.name!r}): "
                "send one file per upload"
            )
        part.is_file = True
        self.form.file_field, self.form.filename = part.name, filename
        if self._before_file is not None:
            self._before_file(self.form.fields)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.is_file:
            self.form.file_size += end - start
            if self.form.file_size > self._max_file_bytes:
                raise TooLarge(
                    f"the file is larger than the {self._max_file_bytes} bytes this server accepts"
                )
            # A whole chunk is passed as is (slicing all of a bytes object returns it, no copy).
            self._sink(data[start:end])
        else:
            if len(part.data) + end - start > self._max_field_bytes:
                raise BadRequest(
                    f"form field {part.name!r} is too large (more than {self._max_field_bytes} bytes)"
                )
            part.data += data[start:end]

    def _on_part_end(self) -> None:
        part = self._part
        if not part.is_file and part.name:
            self.form.fields[part.name] = part.data.decode("utf-8", "replace")

    def _on_end(self) -> None:
        self._ended = True
