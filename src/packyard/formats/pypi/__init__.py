"""Python distributions (wheels and sdists): parse.py reads an uploaded file's core metadata."""
