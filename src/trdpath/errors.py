"""User-facing errors: one clear message and a non-zero exit, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or settings. The CLI prints the message and exits 2."""

    exit_code = 2


class InputError(UserError):
    """A problem in one input file, located as precisely as we can: file, row, column, value."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, value: object = None):
        where = []
        if file:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        text = f"{prefix}: {message}" if prefix else message
        if value is not None:
            text += f" (value: {value!r})"
        super().__init__(text)
        self.file, self.row, self.column, self.value = file, row, column, value


class BackendError(UserError):
    """A database backend that cannot be reached or cannot do what was asked."""
