"""Mirrors: an organization whose channel for one format proxies an upstream index and keeps what it served.

rules (pure include/exclude matching), models (the `mirrors`, `mirror_indexes` and `mirror_syncs` tables),
upstream (HTTP to the upstream, streamed, with the one notion of "unreachable"), service (create/show/edit/delete,
queueing and reading syncs, the fetcher's identity, the refusal of first-party uploads, the cached index rows,
storing a fetched file through the normal `add_file` path), syncs (running the queued syncs, each on one node). The per-format parts (reading an upstream's index, rendering the merged page) live beside each
format (formats/{conda,pypi,cran}/mirror.py: their routes hand a mirror owner's requests to them) and register
`FormatSpec.mirror_sync` (core/formats.py), which also marks the format as mirrorable.
"""
