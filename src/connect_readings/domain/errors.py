"""The one error type the domain raises; the API layer turns it into a ConnectApiErrorResult."""

from __future__ import annotations


class DomainError(ValueError):
    """Bad input with a stable PascalCase ``code`` (see docs/semantics.md §7)."""

    def __init__(self, code: str, message: str, description: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.description = description
