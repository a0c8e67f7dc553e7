"""Plain files: any bytes, named and versioned by the uploader; parse.py checks those names."""
