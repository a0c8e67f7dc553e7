"""Packyard: a self-hosted package repository for conda, PyPI, CRAN, notebooks, environments and files."""

__version__ = "0.1.0"
