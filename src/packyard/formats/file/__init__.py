"""Plain files: any bytes, named and versioned by the uploader; parse.py checks those names."""

from __future__ import annotations

from packyard.core.formats import FALLBACK_TYPE, FormatSpec
from packyard.formats.file import parse

SPEC = FormatSpec(FALLBACK_TYPE, parse.parse, named=True, filetypes={"file": "api"})
