"""Reading a written report back, for assertions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r'<script type="application/json" id="(agenttrace-[a-z]+(?:-\d+)?)">(.*?)</script>', re.S)


def read_report(source: str | Path) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """The index block and the record blocks (by number) of a report page."""
    text = Path(source).read_text(encoding="utf-8") if isinstance(source, Path) else source
    index: dict[str, Any] = {}
    records: dict[int, dict[str, Any]] = {}
    for name, body in _BLOCK.findall(text):
        data = json.loads(body)
        if name == "agenttrace-index":
            index = data
        else:
            records[int(name.rsplit("-", 1)[1])] = data
    return index, records


def entries_by_name(source: str | Path) -> dict[str, dict[str, Any]]:
    """Each test of the report with its record (``None`` when it recorded nothing)."""
    index, records = read_report(source)
    out = {}
    for entry in index["entries"]:
        out[entry["name"]] = {**entry, "data": records.get(entry["record"]) if "record" in entry else None}
    return out
