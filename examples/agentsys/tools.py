"""The team's tools and shared memory (in-memory, deterministic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest_agenttrace as at


class RateLimited(Exception):
    """The search API refused the call (HTTP 429)."""


@dataclass
class Workspace:
    """A tiny repository, a search API and a customer database."""

    files: dict[str, str] = field(
        default_factory=lambda: {
            "calc/ops.py": "def add(a, b):\n    return a - b\n",
            "calc/cli.py": "from calc.ops import add\n",
        }
    )
    search_failures: int = 0  # how many calls in a row the search API rejects
    search_calls: int = 0

    def web_search(self, query: str) -> list[str]:
        self.search_calls += 1
        if self.search_failures > 0:
            self.search_failures -= 1
            raise RateLimited(f"429 Too Many Requests for query {query!r}")
        return [f"https://docs.example.org/search?q={query.replace(' ', '+')}"]

    def read_file(self, path: str) -> str:
        return self.files[path]

    def edit_file(self, path: str, patch: str) -> dict[str, Any]:
        old, new = (line[2:] for line in patch.splitlines())
        self.files[path] = self.files[path].replace(old.strip(), new.strip())
        return {"path": path, "changed": True}

    def run_tests(self, suite: str) -> dict[str, Any]:
        ok = "return a + b" in self.files["calc/ops.py"]
        return {"suite": suite, "passed": 12 if ok else 11, "failed": 0 if ok else 1}

    def read_customer_db(self, customer: str) -> dict[str, Any]:
        return {"customer": customer, "email": "ops@acme.example", "plan": "enterprise"}

    def tools(self) -> at.ToolGateway:
        """The tools as a recorded gateway."""
        return at.ToolGateway(
            {
                "web_search": self.web_search,
                "read_file": self.read_file,
                "edit_file": self.edit_file,
                "run_tests": self.run_tests,
                "read_customer_db": self.read_customer_db,
            }
        )


class SharedMemory:
    """A versioned key-value store the agents share; reads and writes are recorded."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[int, Any]] = {}

    def read(self, key: str) -> tuple[int, Any]:
        version, value = self._data.get(key, (0, None))
        with at.memory_read(key, version=version, value=value):
            return version, value

    def write(self, key: str, value: Any, *, based_on: int, confidence: float | None = None) -> int:
        version = self._data.get(key, (0, None))[0] + 1
        with at.memory_write(key, value, version=version, based_on_version=based_on, confidence=confidence):
            self._data[key] = (version, value)
        return version
