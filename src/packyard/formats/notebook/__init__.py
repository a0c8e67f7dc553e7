"""Jupyter notebooks: validated with nbformat, rendered once to a script-free page at /notebooks/OWNER/NAME."""
