"""A demonstration package, packed into wheels and sdists by tests/builders.py."""


def hello() -> str:
    return "hello from demo_pkg"
