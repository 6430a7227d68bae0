"""The errors the job can raise, each saying what the caller should do.

* ``UsageError`` / ``ConfigError``: the user must fix the command or the config (exit 2).
* ``SourceError``: AWRA or QBO could not be read (exit 3); ``retriable`` says whether
  trying again later may help.
* ``RunLocked``: another run for the same company holds the lock (exit 4).

Anything else is a bug and surfaces with its traceback. Data differences are findings,
never exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence


class QboReconError(Exception):
    """Base of every error the job expects; ``exit_code`` is the process exit status."""

    exit_code = 1

    def one_line(self) -> str:
        """The message as a single line, safe to print or email."""
        return " ".join(str(self).split())


class UsageError(QboReconError):
    """Bad command-line usage or bad input parameters."""

    exit_code = 2


class ConfigError(QboReconError):
    """One or more configuration problems, each prefixed with its key path."""

    exit_code = 2

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        """One line per problem, for printing."""
        return [f"config: {p}" for p in self.problems]


class SourceError(QboReconError):
    """A source (AWRA database, QBO API or its authorization) could not be read."""

    exit_code = 3

    def __init__(self, message: str, *, source: str, company: str = "", retriable: bool = False):
        self.source = source
        self.company = company
        self.retriable = retriable
        prefix = f"{company}: " if company else ""
        super().__init__(f"{prefix}{source}: {message}")


class QboFault(SourceError):
    """A fault answered by QBO, with its code, message and detail as QBO gave them."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        detail: str = "",
        element: str = "",
        fault_type: str = "",
        http_status: int | None = None,
        company: str = "",
        retriable: bool = False,
    ):
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type
        self.http_status = http_status
        text = f"QBO fault {code}: {message}"
        if detail:
            text += f" ({detail})"
        super().__init__(text, source="QBO", company=company, retriable=retriable)


class QboAuthError(QboFault):
    """QBO refused our credentials; a retry cannot help until someone re-authorizes."""


class QboThrottled(QboFault):
    """QBO answered 429 / fault 3001; retriable after a pause."""


class QboValidationError(QboFault):
    """QBO rejected the request as invalid (codes 2000-4999, 6000+ business rules)."""


class QboNotFound(QboFault):
    """QBO fault 610: the object does not exist or was made inactive."""


class AlreadyReconciled(QboReconError):
    """A scheduled run for this company and window already completed; nothing was done."""

    exit_code = 0


class RunLocked(QboReconError):
    """Another run for the same company is in progress; nothing was done."""

    exit_code = 4
