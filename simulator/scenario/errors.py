"""Errors a user can cause. The CLI turns every AnnoplanError into a clean message and exit code 2."""

from __future__ import annotations

from dataclasses import dataclass


class AnnoplanError(Exception):
    """Base class of every error annoplan raises on purpose (bad input, unsupported feature)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scenario: where it is, what is wrong, and how to fix it."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.path}:" if self.path else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}:{field} {self.message}{hint}"


class ScenarioError(AnnoplanError):
    """A scenario file (or override) is invalid; holds every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
