"""Version stamps: a prompt registry, config hashing and per-run overrides.

A prompt registry is a directory (default ``prompts/``, ini
``agenttrace_prompts``) laid out as ``prompts/<name>/<label>.<ext>``::

    prompts/summarizer/v1.txt
    prompts/summarizer/v2.txt
    prompts/summarizer/v10.txt      # natural order: v2 < v10
    prompts/summarizer/ORDER        # optional: one label per line fixes the order

:func:`prompt` returns the text of the last version (or the one overridden
for this run) and stamps ``prompt:<name>`` = ``<name>@<label>#<sha8>`` on
every span recorded from then on.  :func:`config` stamps ``config:<name>`` =
``<name>#<sha8>`` by content hash; configs may also live in a registry
(``configs/<name>/<label>.yaml|json``), in which case they are versioned and
overridable exactly like prompts (stamp ``<name>@<label>#<sha8>``).  An
override of a config that no registry holds leaves the test's mapping in
place (the test picks the variant from the override) and puts the label in
the stamp: ``<name>@<label>#<sha8 of the mapping>``.

Overrides, strongest first: the test's own (version matrices), the command
line ``--agenttrace-version NAME=LABEL`` (repeatable), the environment
variable ``AGENTTRACE_VERSIONS=NAME=LABEL,NAME2=LABEL2``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .exceptions import InputError, VersionError

if TYPE_CHECKING:
    import pytest

    from .recorder import Recorder

    #: Per-test overrides (set by version matrices); the ``agenttrace`` fixture applies them.
    ITEM_OVERRIDES: pytest.StashKey[dict[str, str]]

__all__ = [
    "ENV_VERSIONS",
    "ITEM_OVERRIDES",
    "ConfigRegistry",
    "PromptRegistry",
    "PromptVersion",
    "VersionContext",
    "config",
    "configure",
    "content_hash",
    "natural_key",
    "parse_overrides",
    "prompt",
]

ENV_VERSIONS: Final = "AGENTTRACE_VERSIONS"
ENV_PROMPTS: Final = "AGENTTRACE_PROMPTS"
ORDER_FILES: Final = ("ORDER", "order.txt", "versions.txt")


def __getattr__(name: str) -> Any:
    """``ITEM_OVERRIDES``, made at first use: only the pytest plugin needs it, and pytest with it.

    Importing pytest costs agent code that records (``import pytest_agenttrace``) a tenth of a
    second or more; the plugin and version matrices import pytest anyway.
    """
    if name == "ITEM_OVERRIDES":
        import pytest

        # setdefault: threads asking at once get one key (a stash finds values by the key's identity).
        return globals().setdefault(name, pytest.StashKey[dict[str, str]]())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Runs of decimal digits (``\d``: any script's, the characters ``unicodedata.decimal`` reads).
_DIGIT_RUNS: Final = re.compile(r"(\d+)")


def natural_key(label: str) -> tuple[Any, ...]:
    """Sort key that orders ``v2`` before ``v10`` (digit runs compare as numbers); a total order.

    Digit runs compare by value, at any length and in any script's digits; other text
    compares case-insensitively.  Labels equal by those rules (``v1`` and ``v01``, ``V1``
    and ``v1``) are ordered by their raw text, so two distinct labels never tie and a
    sort's result does not depend on the order the labels came in (the order files
    happen to be listed in differs between machines).
    """
    parts = _DIGIT_RUNS.split(label)  # text, digits, text, ...: the digit runs at odd positions
    key: list[tuple[int, int, str]] = []
    for position, part in enumerate(parts):
        if position % 2:
            # Compared as text of equal length, not through int(): a run past Python's int-from-text
            # limit (4300 digits, a label in a trace file) would raise there.
            digits = part if part.isascii() else "".join(str(unicodedata.decimal(c)) for c in part)
            value = digits.lstrip("0")
            key.append((0, len(value), value))
        elif part:
            key.append((1, 0, part.lower()))
    return (tuple(key), label)


def content_hash(data: str | bytes | Mapping[str, Any] | Any) -> str:
    """First 8 hex digits of the SHA-256 of ``data`` (mappings: canonical JSON)."""
    if isinstance(data, str):
        raw = data.encode()
    elif isinstance(data, bytes):
        raw = data
    else:
        raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:8]


def parse_overrides(values: Iterable[str], *, source: str = "--agenttrace-version") -> dict[str, str]:
    """Parse ``NAME=LABEL`` items (commas also separate) into a mapping."""
    out: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, label = item.partition("=")
            if not sep or not name.strip() or not label.strip():
                raise InputError(f"{source}: {item!r} is not NAME=LABEL; write e.g. summarizer=v3.")
            out[name.strip()] = label.strip()
    return out


def env_overrides() -> dict[str, str]:
    """Overrides from ``AGENTTRACE_VERSIONS``."""
    raw = os.environ.get(ENV_VERSIONS, "")
    return parse_overrides([raw], source=ENV_VERSIONS) if raw else {}


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One resolved prompt: its text and stamp."""

    name: str
    label: str
    text: str
    path: Path
    sha8: str

    @property
    def stamp(self) -> str:
        """``name@label#sha8``."""
        return f"{self.name}@{self.label}#{self.sha8}"


class PromptRegistry:
    """A directory of versioned prompts (see the module docstring)."""

    kind = "prompt"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        """Prompt names in the registry."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def holds(self, name: str) -> bool:
        """Whether the registry has a folder for ``name`` (its versions may still be missing).

        A name that cannot be a folder of the registry (``../x``, ``a/b``) is held by none.
        """
        try:
            return self._folder(name).is_dir()
        except VersionError:
            return False

    def _folder(self, name: str) -> Path:
        """The folder of ``name``: one plain path segment, never a path out of the registry."""
        if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
            raise VersionError(
                f"{name!r} is not a {self.kind} name: a name is one folder of registry {self.root}, "
                "without '/', '\\' or a leading '.'; write e.g. summarizer."
            )
        return self.root / name

    def _files(self, name: str) -> dict[str, Path]:
        folder = self._folder(name)
        if not folder.is_dir():
            known = ", ".join(self.names()) or "none"
            raise VersionError(
                f"no {self.kind} {name!r} in registry {self.root} (known: {known}); "
                f"create {folder}/<label>{'.txt' if self.kind == 'prompt' else '.yaml'}, or point at the registry "
                f"that has it (ini agenttrace_{self.kind}s "
                "under pytest, --registry DIR for agenttrace bisect)."
            )
        files: dict[str, Path] = {}
        for path in folder.iterdir():
            if not path.is_file() or path.name in ORDER_FILES or path.name.startswith("."):
                continue
            label = path.stem
            if label in files:
                raise VersionError(
                    f"{self.kind} {name!r} has two files for label {label!r}: {files[label].name} and {path.name}; "
                    "keep one."
                )
            files[label] = path
        return files

    def labels(self, name: str) -> list[str]:
        """The versions of ``name`` in order (order file, else natural order)."""
        files = self._files(name)
        folder = self._folder(name)
        for order_name in ORDER_FILES:
            order_file = folder / order_name
            if order_file.is_file():
                try:
                    text = order_file.read_text(encoding="utf-8")
                except UnicodeDecodeError as exc:
                    raise VersionError(
                        f"the order file is not UTF-8 text (byte {exc.start}); write one version label per line in "
                        "UTF-8, or delete it to use the natural order of the labels.",
                        path=str(order_file),
                    ) from None
                except OSError as exc:
                    raise VersionError(f"cannot be read ({exc.strerror or exc}).", path=str(order_file)) from None
                listed = [
                    line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
                ]
                missing = [label for label in listed if label not in files]
                if missing:
                    raise VersionError(
                        f"lists {missing} but there is no such file; fix the order file.", path=str(order_file)
                    )
                rest = sorted((label for label in files if label not in listed), key=natural_key)
                return listed + rest
        return sorted(files, key=natural_key)

    def latest(self, name: str) -> str:
        """The last label of ``name``."""
        labels = self.labels(name)
        if not labels:
            raise VersionError(f"{self.kind} {name!r} in {self.root} has no versions; add {self.root / name}/v1.txt.")
        return labels[-1]

    def path(self, name: str, label: str) -> Path:
        """The file of ``name@label``."""
        files = self._files(name)
        if label not in files:
            available = ", ".join(self.labels(name)) or "none"
            raise VersionError(
                f"{self.kind} {name!r} has no version {label!r} in {self.root} (available: {available}); "
                "check --agenttrace-version / AGENTTRACE_VERSIONS."
            )
        return files[label]

    def resolve(self, name: str, label: str | None = None) -> PromptVersion:
        """Load ``name@label`` (``label`` None: the last version)."""
        label = label or self.latest(name)
        path = self.path(name, label)
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise VersionError(
                f"{self.kind} {name}@{label} is not UTF-8 text (byte {exc.start}); save the file as UTF-8.",
                path=str(path),
            ) from None
        except OSError as exc:
            raise VersionError(
                f"{self.kind} {name}@{label} cannot be read ({exc.strerror or exc}).", path=str(path)
            ) from None
        return PromptVersion(name=name, label=label, text=text, path=path, sha8=content_hash(raw))


class ConfigRegistry(PromptRegistry):
    """A directory of versioned configs: ``configs/<name>/<label>.yaml|json``."""

    kind = "config"

    def load(self, name: str, label: str | None = None) -> tuple[Any, str, str]:
        """``(mapping, label, sha8)`` of ``name@label``."""
        version = self.resolve(name, label)
        if version.path.suffix == ".json":
            try:
                data = json.loads(version.text)
            except RecursionError:
                raise _too_deep(version) from None
            except json.JSONDecodeError as exc:
                raise VersionError(
                    f"config {name}@{version.label} is not valid JSON: {exc.msg}; fix the file or write it as YAML.",
                    path=str(version.path),
                    line=exc.lineno,
                    column=exc.colno,
                ) from None
        else:
            import yaml

            try:
                data = yaml.safe_load(version.text)
            except RecursionError:
                raise _too_deep(version) from None
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                raise VersionError(
                    f"config {name}@{version.label} is not valid YAML: {getattr(exc, 'problem', exc)}",
                    path=str(version.path),
                    line=mark.line + 1 if mark else None,
                    column=mark.column + 1 if mark else None,
                ) from None
        if data is None:  # an empty file, only comments, or null: the agent would get None as its config
            raise VersionError(
                f"config {name}@{version.label} is empty (it holds no settings); write its settings as "
                "`key: value` lines (or {} for none on purpose), or delete the file.",
                path=str(version.path),
            )
        return data, version.label, content_hash(data)


def _too_deep(version: PromptVersion) -> VersionError:
    return VersionError(
        f"config {version.name}@{version.label} is nested too deeply to be read; the file is corrupt or generated wrong.",
        path=str(version.path),
    )


@dataclass
class VersionContext:
    """Where prompts/configs come from and which versions this run uses."""

    prompts: PromptRegistry = field(default_factory=lambda: PromptRegistry(os.environ.get(ENV_PROMPTS, "prompts")))
    configs: ConfigRegistry = field(default_factory=lambda: ConfigRegistry("configs"))
    overrides: dict[str, str] = field(default_factory=dict)
    #: The names :func:`prompt` and :func:`config` were asked for through this context (the pytest
    #: plugin names a pin that no lookup used, which is how a misspelt inline config's name shows).
    asked: set[str] = field(default_factory=set, compare=False, repr=False)

    @classmethod
    def from_environment(cls) -> VersionContext:
        """Registry from ``AGENTTRACE_PROMPTS`` (default ``prompts/``), overrides from ``AGENTTRACE_VERSIONS``."""
        return cls(overrides=env_overrides())


_default_context: VersionContext | None = None


def configure(
    *,
    prompts: str | os.PathLike[str] | None = None,
    configs: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> VersionContext:
    """Set where :func:`prompt`/:func:`config` look when no test recorder is active.

    Agent code calls this once at start-up (e.g. with the path of its own
    prompt directory); inside a test the ``agenttrace`` fixture's registry
    (ini ``agenttrace_prompts``) and overrides take precedence.
    """
    global _default_context
    ctx = VersionContext.from_environment()
    if prompts is not None:
        ctx.prompts = PromptRegistry(prompts)
    if configs is not None:
        ctx.configs = ConfigRegistry(configs)
    if overrides is not None:
        ctx.overrides.update(overrides)
    _default_context = ctx
    return ctx


def _context(recorder: Recorder | None) -> VersionContext:
    global _default_context
    if recorder is not None and recorder.version_context is not None:
        return recorder.version_context
    if _default_context is None:
        _default_context = VersionContext.from_environment()
    return _default_context


def prompt(name: str, label: str | None = None, *, recorder: Recorder | None = None) -> str:
    """The text of prompt ``name``: ``label`` if given, else the run's override, else the latest.

    While a recorder is active the prompt is stamped as ``prompt:<name>``.
    """
    from .recorder import active_recorder

    rec = recorder if recorder is not None else active_recorder()
    ctx = _context(rec)
    ctx.asked.add(name)
    chosen = label or ctx.overrides.get(name)
    version = ctx.prompts.resolve(name, chosen)
    if rec is not None:
        rec.stamp(f"prompt:{name}", version.stamp)
    return version.text


def config(name: str, mapping: Mapping[str, Any] | None = None, *, recorder: Recorder | None = None) -> Any:
    """Stamp config ``name`` and return the mapping in effect.

    With ``mapping``: stamped ``name#sha8`` by content.  An override of
    ``name`` replaces the mapping with that version from the config registry
    when the registry holds ``name``; when it does not, ``name`` is an inline
    config whose variant the test chose from the override itself, so the
    mapping stays and is stamped ``name@label#sha8`` (the pinned label, the
    hash of the mapping that ran).
    Without: loaded from the config registry (override or latest).
    """
    from .recorder import active_recorder

    rec = recorder if recorder is not None else active_recorder()
    ctx = _context(rec)
    ctx.asked.add(name)
    label = ctx.overrides.get(name)
    if mapping is None or (label is not None and ctx.configs.holds(name)):
        data, label, sha8 = ctx.configs.load(name, label)
        stamp = f"{name}@{label}#{sha8}"
    else:
        data, sha8 = mapping, content_hash(dict(mapping))
        stamp = f"{name}#{sha8}" if label is None else f"{name}@{label}#{sha8}"
    if rec is not None:
        rec.stamp(f"config:{name}", stamp)
    return data
