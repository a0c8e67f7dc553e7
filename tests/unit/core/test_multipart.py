"""The streaming multipart reader (core/multipart.py): fields, the one file part, and every rule it enforces."""

from __future__ import annotations

import pytest

from packyard.core.errors import BadRequest, PackyardError, TooLarge
from packyard.core.multipart import MAX_FIELD_BYTES, Form, MultipartReader

BOUNDARY = "----packyard-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if filename:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


def body(*parts: bytes, closed: bool = True) -> bytes:
    return b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


class Collect:
    """A sink that keeps what it is given, and the fields `before_file` saw when the file began."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.seen_before_file: dict[str, str] | None = None

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def before_file(self, fields: dict[str, str]) -> None:
        assert not self.chunks, "before_file must run before any file byte reaches the sink"
        self.seen_before_file = dict(fields)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def read(
    data: bytes,
    sink: Collect | None = None,
    *,
    piece: int = 0,
    content_type: str = CONTENT_TYPE,
    max_file_bytes: int = 1 << 20,
    **kw: object,
) -> Form:
    """Feed `data` whole, or `piece` bytes at a time (a boundary split across pieces must not matter)."""
    sink = sink or Collect()
    reader = MultipartReader(
        content_type,
        sink.write,
        file_fields=("file", "content"),
        max_file_bytes=max_file_bytes,
        before_file=sink.before_file,
        **kw,  # type: ignore[arg-type]
    )
    step = piece or len(data) or 1
    for start in range(0, len(data), step):
        reader.feed(data[start : start + step])
    return reader.close()


FILE = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n" + b"tail"


@pytest.mark.parametrize("piece", [0, 1, 7, 4096])
def test_fields_and_file(piece: int) -> None:
    sink = Collect()
    form = read(
        body(
            part("key", b"alice/demo/1.0/demo.bin"),
            part("upload_token", b"t" * 64),
            part("file", FILE, filename="demo.bin"),
            part("after", "caf\u00e9".encode()),
        ),
        sink,
        piece=piece,
    )
    assert form.fields == {"key": "alice/demo/1.0/demo.bin", "upload_token": "t" * 64, "after": "caf\u00e9"}
    assert (form.file_field, form.filename, form.file_size) == ("file", "demo.bin", len(FILE))
    assert sink.data == FILE
    assert sink.seen_before_file == {"key": "alice/demo/1.0/demo.bin", "upload_token": "t" * 64}


def test_no_file_part_is_a_form_without_filename() -> None:
    """The caller says what is missing in its protocol's words ("no file part named 'file'", twine's text)."""
    sink = Collect()
    form = read(body(part("name", b"demo"), part("file", b"no filename: a field")), sink)
    assert form.filename is None and form.file_field is None and sink.data == b""
    assert form.fields == {"name": "demo", "file": "no filename: a field"}
    assert sink.seen_before_file is None


def test_a_part_with_a_filename_but_another_name_is_a_field() -> None:
    """Old twine sends its gpg signature as a file part named gpg_signature: kept as a (small) field."""
    form = read(
        body(part("gpg_signature", b"sig", filename="demo.whl.asc"), part("content", b"x", filename="a"))
    )
    assert form.fields == {"gpg_signature": "sig"} and form.filename == "a"


def test_two_file_parts_are_refused() -> None:
    with pytest.raises(BadRequest, match="more than one file part"):
        read(body(part("file", b"one", filename="a.bin"), part("content", b"two", filename="b.bin")))


def test_oversize_field_is_refused() -> None:
    with pytest.raises(BadRequest, match="form field 'note' is too large"):
        read(body(part("note", b"x" * (MAX_FIELD_BYTES + 1)), part("file", b"data", filename="a.bin")))
    read(body(part("note", b"x" * MAX_FIELD_BYTES), part("file", b"data", filename="a.bin")))  # at the limit


def test_too_many_fields_are_refused() -> None:
    many = [part(f"f{i}", b"v") for i in range(5)]
    assert len(read(body(*many), max_fields=5).fields) == 5
    with pytest.raises(BadRequest, match="more than 4 fields"):
        read(body(*many), max_fields=4)
    same_name = [part("f", b"v") for _ in range(5)]  # repeating a name counts too
    with pytest.raises(BadRequest, match="more than 4 fields"):
        read(body(*same_name), max_fields=4)


def test_oversize_file_is_413_and_stops_the_sink() -> None:
    sink = Collect()
    with pytest.raises(TooLarge, match="larger than the 1000 bytes") as caught:
        read(body(part("file", b"x" * 5000, filename="a.bin")), sink, piece=100, max_file_bytes=1000)
    assert caught.value.status == 413
    assert len(sink.data) <= 1000
    form = read(body(part("file", b"x" * 1000, filename="a.bin")), max_file_bytes=1000)
    assert form.file_size == 1000


def test_before_file_refusal_stores_nothing() -> None:
    stored: list[bytes] = []

    def refuse(fields: dict[str, str]) -> None:
        raise PackyardError("refused")

    reader = MultipartReader(
        CONTENT_TYPE, stored.append, file_fields=("file",), max_file_bytes=1 << 20, before_file=refuse
    )
    with pytest.raises(PackyardError, match="refused"):
        reader.feed(body(part("upload_token", b"forged"), part("file", b"secret bytes", filename="a.bin")))
    assert stored == []


@pytest.mark.parametrize(
    "cut",
    [
        body(part("file", b"data", filename="a.bin"), closed=False),  # no closing boundary
        body(part("file", b"data", filename="a.bin"))[:-30],  # cut inside the file part
        body(part("name", b"demo"))[:20],  # cut inside the headers
        b"",
    ],
)
def test_truncated_body_is_refused(cut: bytes) -> None:
    with pytest.raises(BadRequest, match="cut short"):
        read(cut)


def test_body_with_another_boundary_is_malformed() -> None:
    data = body(part("file", b"data", filename="a.bin")).replace(BOUNDARY.encode(), b"something-else")
    with pytest.raises(BadRequest, match="malformed multipart body"):
        read(data)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json", "expected a multipart/form-data body"),
        ("application/x-www-form-urlencoded", "expected a multipart/form-data body"),
        ("multipart/form-data", "expected a multipart/form-data body"),  # no boundary
        ("", "expected a multipart/form-data body"),
        ("multipart/form-data; boundary=" + "b" * 71, "boundary must be 1 to 70 characters"),
        ('multipart/form-data; boundary=""', "boundary must be 1 to 70 characters"),
    ],
)
def test_not_a_usable_multipart_content_type(content_type: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        MultipartReader(content_type, lambda chunk: None, file_fields=("file",), max_file_bytes=1)


def test_too_many_part_headers_are_malformed() -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(20))
    data = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="a"\r\n{headers}\r\nv\r\n--{BOUNDARY}--\r\n'
    with pytest.raises(BadRequest, match="malformed multipart body"):
        read(data.encode())
