"""Packyard's client: what a user installs to talk to a Packyard server, without the server.

This package imports nothing else of `packyard` (an import-linter contract in pyproject.toml keeps it so): a later
step makes the server's dependencies an extra, and `pip install packyard` must then give a working client.
"""
