"""conda packages (.tar.bz2 and .conda): parse.py reads an uploaded archive's info/ metadata."""
