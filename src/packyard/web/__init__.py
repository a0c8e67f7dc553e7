"""The HTTP edge every protocol shares: request dependencies, error shaping, serving stored bytes.

The REST API (`packyard.api`), the format routes (`packyard.formats.*.routes`) and the web pages stand on it;
it stands on `packyard.core` and nothing above.
"""
