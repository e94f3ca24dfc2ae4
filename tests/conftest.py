"""Shared pytest set-up. Fixtures live in tests/fixtures/, one module per real component."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.llm",
    "tests.fixtures.hub_server",
]
