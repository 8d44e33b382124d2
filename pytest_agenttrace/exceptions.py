"""Every exception pytest-agenttrace raises on purpose.

Hierarchy::

    AgentTraceError                  base of everything below
    +-- UsageError                   the API was misused (closing a span twice, ...)
    +-- InputError                   bad input: a file, a spec, an option value
    |   +-- TraceFileError           a trace file is unreadable, corrupt or foreign
    |   +-- SpecError                a spec file is malformed or invalid
    |   +-- SelectorError            a selector or expression does not parse
    |   +-- VersionError             an unknown prompt/config version was asked for
    +-- ScopeViolation               the tool gateway refused an out-of-scope call
    +-- MissingExtraError            an optional integration is not installed

The command line turns every ``InputError`` into a one-paragraph message and
exit code 2; ``AgentTraceError`` subclasses never carry tracebacks to users.
"""

from __future__ import annotations

__all__ = [
    "AgentTraceError",
    "InputError",
    "MissingExtraError",
    "ScopeViolation",
    "SelectorError",
    "SpecError",
    "TraceFileError",
    "UsageError",
    "VersionError",
]


class AgentTraceError(Exception):
    """Base class of every error raised by pytest-agenttrace."""


class UsageError(AgentTraceError):
    """The recording API was used in a way it cannot honour."""


class InputError(AgentTraceError):
    """Input from a user or a file is invalid; the message says where and what to do.

    ``path``, ``line`` and ``column`` locate the problem when known (1-based).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = str(self.path)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return where + self.message


class TraceFileError(InputError):
    """A trace file cannot be read as a pytest-agenttrace trace."""


class SpecError(InputError):
    """A spec file is not valid YAML or does not follow the spec schema."""


class SelectorError(InputError):
    """A selector or an expression has a syntax error."""


class VersionError(InputError):
    """A prompt or config version was requested that the registry does not have."""


class ScopeViolation(AgentTraceError):
    """A tool was called outside the ``allowed_tools`` of its delegation scope.

    Raised only by a tool gateway in enforce mode; the refused call is still
    recorded as a ``tool`` span with ``status: error``.
    """

    def __init__(
        self, tool: str, agent: str | None, scope: str | None, allowed: list[str], *, where: str | None = None
    ) -> None:
        self.tool = tool
        self.agent = agent
        self.scope = scope
        self.allowed = list(allowed)
        # ``where``: the delegation in words ("delegation 'coder' (span 3, boss -> coder)"), when known.
        super().__init__(
            f"tool {tool!r} called by agent {agent!r} is outside {where or f'delegation scope {scope!r}'}, "
            f"which allows only {sorted(self.allowed)!r}; add it to allowed_tools or route the call "
            "through an agent whose delegation allows it."
        )


class MissingExtraError(AgentTraceError, ImportError):
    """An optional integration was used without its extra installed."""

    def __init__(self, feature: str, extra: str, package: str) -> None:
        self.extra = extra
        super().__init__(
            f"{feature} needs the {package!r} package: pip install 'pytest-agenttrace[{extra}]'"
        )
