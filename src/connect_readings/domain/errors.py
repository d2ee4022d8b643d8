"""The one error type the domain raises; the API layer turns it into a ConnectApiErrorResult."""

from __future__ import annotations


def quoted(text: str, limit: int = 60) -> str:
    """Client text inside a message: in single quotes, shortened, and unprintable characters as \\uXXXX (not
    Python's repr, whose quoting and escapes are Python's)."""
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return "'" + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text) + "'"


class DomainError(ValueError):
    """Bad input with a stable PascalCase ``code`` (see docs/semantics.md §7)."""

    def __init__(self, code: str, message: str, description: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.description = description
