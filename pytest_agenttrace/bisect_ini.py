"""The snapshot options of the project a bisect runs, read from its pytest configuration file.

``agenttrace bisect --snapshot GOLDEN`` compares each run's trace with the
golden as the project's tests compare it (:mod:`pytest_agenttrace.snapshot`):
with the ini keys of :data:`~pytest_agenttrace.snapshot.COMPARISON_INI`
(exclude, include, parallel, overlap, duration buckets, float tolerance).
The file is found as pytest finds it: ``-c``/``--config-file`` in the pytest
arguments, else the first of ``pytest.toml`` and ``.pytest.toml``
(``[pytest]``, pytest 9), ``pytest.ini``, ``.pytest.ini``, ``pyproject.toml``
(``[tool.pytest]`` in pytest 9's native form, or ``[tool.pytest.ini_options]``),
``tox.ini`` (``[pytest]``) and ``setup.cfg`` (``[tool:pytest]``) in the common
directory of the path arguments (else the current directory) or above it.  ``-o NAME=VALUE`` in
the pytest arguments wins over the file, as in pytest.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import iniconfig

from .exceptions import InputError

__all__ = ["ini_reader"]

_TRUE: Final = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE: Final = frozenset({"n", "no", "f", "false", "off", "0"})


def ini_reader(pytest_args: Sequence[str], cwd: Path, types: Mapping[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """``getini(name)`` over the project's pytest configuration, typed as pytest types it.

    ``types`` maps each name to its pytest ini type and default.
    """
    raw = _config_values(pytest_args, cwd)
    raw.update(_overrides(pytest_args))

    def getini(name: str) -> Any:
        kind, default = types[name]
        value = raw.get(name)
        if value is None:
            return default
        if kind == "linelist":
            lines = value if isinstance(value, list) else str(value).split("\n")
            return [str(line).strip() for line in lines if str(line).strip()]
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in _TRUE | _FALSE:
                raise InputError(f"ini option {name} = {value!r} is not a boolean; write true or false.")
            return text in _TRUE
        return str(value)

    return getini


def _option_value(pytest_args: Sequence[str], short: str, long: str) -> list[str]:
    """Every value of ``-x VALUE``, ``-xVALUE``, ``--long VALUE`` or ``--long=VALUE`` in ``pytest_args``."""
    values = []
    args = list(pytest_args)
    for i, arg in enumerate(args):
        if arg in (short, long) and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith(f"{long}="):
            values.append(arg.partition("=")[2])
        elif arg.startswith(short) and not arg.startswith("--") and len(arg) > len(short):
            values.append(arg[len(short) :])
    return values


def _overrides(pytest_args: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _option_value(pytest_args, "-o", "--override-ini"):
        name, sep, value = item.partition("=")
        if sep:
            out[name.strip()] = value
    return out


def _config_values(pytest_args: Sequence[str], cwd: Path) -> dict[str, Any]:
    explicit = _option_value(pytest_args, "-c", "--config-file")
    if explicit:
        path = cwd / explicit[-1]
        values = _read(path)
        return values if values is not None else {}
    paths = [cwd / arg.split("::")[0] for arg in _path_arguments(pytest_args)]
    existing = [p.resolve() for p in paths if p.exists()]
    start = Path(*_common_parts(existing)) if existing else cwd.resolve()
    if start.is_file():
        start = start.parent
    for folder in (start, *start.parents):
        for name in _CONFIG_FILES:
            path = folder / name
            if path.is_file():
                values = _read(path)
                if values is not None:
                    return values
    return {}


#: pytest's configuration files, in the order it looks for them in a folder.
_CONFIG_FILES: Final = (
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
)
#: pytest options whose value is the next argument (never a test path).
_TAKES_A_VALUE: Final = frozenset(
    {"-k", "-m", "-p", "-o", "-c", "-W", "-n", "-r", "--config-file", "--override-ini", "--deselect", "--ignore",
     "--ignore-glob", "--rootdir", "--basetemp", "--confcutdir", "--tb", "--maxfail", "--durations", "--junitxml",
     "--junit-xml", "--log-level", "--log-file", "--pythonwarnings", "--import-mode", "--capture", "--dist",
     "--numprocesses", "--maxprocesses", "--color", "--code-highlight", "--cache-show", "--lf-no-failures"}
)  # fmt: skip


def _path_arguments(pytest_args: Sequence[str]) -> list[str]:
    """The arguments that name tests (paths or node ids), not options or their values."""
    paths, skip = [], False
    for arg in pytest_args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _TAKES_A_VALUE  # "--tb=short" and "-kexpr" carry their value
        else:
            paths.append(arg)
    return paths


def _common_parts(paths: Sequence[Path]) -> tuple[str, ...]:
    parts = paths[0].parts
    for path in paths[1:]:
        n = 0
        while n < min(len(parts), len(path.parts)) and parts[n] == path.parts[n]:
            n += 1
        parts = parts[:n]
    return parts


def _read(path: Path) -> dict[str, Any] | None:
    """The pytest section of a configuration file (``None``: the file has none)."""
    try:
        if path.suffix == ".toml":
            with path.open("rb") as file:
                document = tomllib.load(file)
            if path.name in ("pytest.toml", ".pytest.toml"):  # always the configuration, even empty
                section = document.get("pytest", {})
                return dict(section) if isinstance(section, dict) else {}
            tool = document.get("tool", {}).get("pytest", {})
            if not isinstance(tool, dict):
                return None
            native = {key: value for key, value in tool.items() if key != "ini_options"}  # pytest 9
            section = native or tool.get("ini_options")
            return dict(section) if isinstance(section, dict) else None
        config = iniconfig.IniConfig(str(path))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, iniconfig.ParseError) as exc:
        raise InputError(
            f"cannot read the pytest configuration for the snapshot options: {exc}", path=str(path)
        ) from None
    section_name = "tool:pytest" if path.suffix == ".cfg" else "pytest"
    if section_name in config:
        return {name: value for name, value in config[section_name].items()}
    return {} if path.name in ("pytest.ini", ".pytest.ini") else None
