"""R packages (source tarballs, Windows and macOS binaries): parse.py reads an upload's DESCRIPTION."""
