"""The contract's error type."""

from __future__ import annotations

from ..exceptions import UsageError


class ContractError(UsageError):
    """A contract that cannot be read or does not validate; ``path`` is the JSON path of the first error."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
