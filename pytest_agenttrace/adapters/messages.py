"""Plain multi-agent message logs turned into span trees.

Two shapes are read:

* Who&When (Magentic-One and AG2/CaptainAgent runs):
  ``{"history": [{"role", "content", "name"?}], "mistake_agent", "mistake_step", ...}``;
* OpenAI chat messages (tau-bench runs as AgentRx publishes them):
  ``[{"task_id", "traj": [messages], ...}]``, ``{"messages": [...]}`` or a bare
  list of ``{"role", "content", "tool_calls"?, "tool_call_id"?}``.

One message becomes (``attributes.step`` = its 0-based position, as Who&When
counts; ``attributes.index`` keeps a message's own ``index`` field):

==========================================  =========================================
message                                     spans
==========================================  =========================================
speaker ``X`` (the ``name``, else the role)  ``agent`` span ``X``, output = content
``X (-> Y)``                                ``handoff`` from X to Y (context: the
                                            instruction); Y's next message links it
``X (thought)``, ``X (termination ...)``    ``agent`` span ``X`` (``attributes.note``);
                                            a Magentic-One ledger is parsed into
                                            ``attributes.ledger`` and ``is_in_loop``
terminal speaker or role ``tool``           ``tool`` span, run by the last agent;
                                            ``exitcode: 1`` / ``Error:`` -> error
role ``assistant`` without a name           ``llm`` span of agent ``assistant``
``tool_calls`` on it                        one ``tool`` span per call, input = the
                                            parsed arguments, ``tool_call_id``, linked
                                            to the llm span; the ``tool`` message with
                                            that id gives its output
legacy ``function_call`` on it              one such ``tool`` span; the next
                                            ``function`` message gives its output
a message without a role                    an ``unknown`` placeholder (content and
                                            name kept), with a warning
role ``user``/``human``/``system``          ``custom`` span named after the role
WebSurfer/FileSurfer action sentences       a ``tool`` span inside the agent span
(``I typed 'q' into the browser search      (``web_search``, ``input_text``, ``click``,
bar.``, ``Address: ...``)                   ``page_down``, ``visit_url``, ``open_file``...);
                                            ``Address: bing: Q`` is ``web_search``
                                            (query Q), ``Address: file://...``
                                            ``open_file``, any other address
                                            ``visit_url``
==========================================  =========================================

Data lineage: an agent or llm span links the tool results it was the first to
read and the handoff addressed to it.  The logs carry no times, so times are
synthetic (1 ms per message, in message order) and ``metadata.synthetic_times``
says so; Who&When's labels go to ``metadata.labels``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, Final

from ..model import Trace
from .importing import ImportLog, Record, ShapeError, assemble, describe, quote, text_of

__all__ = ["conversation_records", "read_messages"]

STEP_NS: Final = 1_000_000
_ROLE = re.compile(r"^\s*(?P<speaker>.*?)\s*\((?P<note>[^()]*)\)\s*$")
_HANDOFF_NOTE = re.compile(r"^\s*->\s*(?P<target>.+?)\s*$")
_TERMINAL = re.compile(r"terminal", re.IGNORECASE)
_PEOPLE: Final = frozenset({"user", "human", "system", "developer"})
_CODE = re.compile(r"```[\w+-]*\n(.*?)```", re.DOTALL)
_EXIT = re.compile(r"^\s*exitcode:\s*(?P<code>-?\d+)")
_LEDGER_ANSWER = r'"{key}"\s*:\s*\{{[^{{}}]*?"answer"\s*:\s*(?P<answer>true|false|"(?:[^"\\]|\\.)*")'
_LEDGER_KEYS: Final = (
    "is_request_satisfied",
    "is_in_loop",
    "is_progress_being_made",
    "next_speaker",
    "instruction_or_question",
)
_LEDGER = {key: re.compile(_LEDGER_ANSWER.format(key=key), re.DOTALL) for key in _LEDGER_KEYS}

# Magentic-One's WebSurfer and FileSurfer describe the tool they used in their first sentence.
_ACTIONS: Final[tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...]] = (
    (re.compile(r"^I typed '(.*)' into the browser search bar\.?$"), "web_search", ("query",)),
    (re.compile(r"^I typed '(.*)' into the browser address bar\.?$"), "visit_url", ("url",)),
    (re.compile(r"^I typed '(.*)' into '(.*)'\.?$"), "input_text", ("text", "field")),
    (re.compile(r"^I input '(.*)'\.?$"), "input_text", ("text",)),
    (re.compile(r"^I clicked the browser back button\.?$"), "history_back", ()),
    (re.compile(r"^I clicked '(.*)'\.?$"), "click", ("target",)),
    (re.compile(r"^I clicked the (.*?)\.?$"), "click", ("target",)),
    (re.compile(r"^I scrolled down one page in the browser\.?$"), "page_down", ()),
    (re.compile(r"^I scrolled up one page in the browser\.?$"), "page_up", ()),
    # WebSurfer reports the page it is on: a Bing search, a web page, or (FileSurfer) a local file.
    (re.compile(r"^Address: bing: (.*?)\s*$"), "web_search", ("query",)),
    (re.compile(r"^Address: (file://\S+)"), "open_file", ("path",)),
    (re.compile(r"^Address: (\S+)"), "visit_url", ("url",)),
)


def read_messages(data: Any, source: str) -> list[Trace]:
    """Traces from a parsed message log: one per run (tau-bench files hold many)."""
    if isinstance(data, list) and data and all(isinstance(item, Mapping) and "traj" in item for item in data):
        return [_tau_run(run, source, position) for position, run in enumerate(data)]
    if isinstance(data, Mapping) and "traj" in data:
        return [_tau_run(data, source, 0)]
    if isinstance(data, Mapping) and "history" in data:
        return [_who_and_when(data, source)]
    if isinstance(data, list) and data and all(isinstance(item, Mapping) and "history" in item for item in data):
        return [_who_and_when(run, source, position) for position, run in enumerate(data)]
    messages = data.get("messages") if isinstance(data, Mapping) else data
    if not isinstance(messages, list):
        raise ShapeError(f"'messages' must be a list of messages, found {type(messages).__name__}")
    log = ImportLog(source)
    records = conversation_records(_message_list(messages, log), log)
    return [
        _trace(records, trace_id=PurePath(source).stem, name=PurePath(source).stem, metadata={}, log=log, source=source)
    ]


def _who_and_when(data: Mapping[str, Any], source: str, position: int | None = None) -> Trace:
    label = source if position is None else f"{source}#{position}"
    log = ImportLog(label)
    if not isinstance(data.get("history"), list):
        raise ShapeError(f"'history' must be a list of messages, found {type(data.get('history')).__name__}")
    history = _message_list(data.get("history"), log)
    records = conversation_records(history, log)
    roles = {str(m.get("role", "")) for m in history}
    system = "magentic-one" if any(r.startswith("Orchestrator") for r in roles) else "ag2"
    labels: dict[str, Any] = {}
    for key in (
        "mistake_agent",
        "mistake_step",
        "mistake_reason",
        "mistake_type",
        "labels",
        "ground_truth",
        "is_correct",
        "is_corrected",
        "level",
    ):
        if key in data:
            labels[key] = data[key]
    step = labels.get("mistake_step")
    if isinstance(step, str) and step.strip().isdecimal() and len(step) <= 18:  # "²" is a digit int() refuses
        labels["mistake_step"] = int(labels["mistake_step"])
    metadata = {
        "format": "who-and-when",
        "system": system,
        "question": data.get("question"),
        "question_id": data.get("question_ID"),
        "labels": labels,
    }
    stem = PurePath(source).stem if position is None else f"{PurePath(source).stem}#{position}"
    return _trace(
        records,
        trace_id=text_of(data.get("question_ID") or stem),
        name=f"{system}:{stem}",
        metadata=metadata,
        log=log,
        source=label,
    )


def _tau_run(run: Mapping[str, Any], source: str, position: int) -> Trace:
    label = f"{source}#{position}"
    log = ImportLog(label)
    messages = run.get("traj")
    if isinstance(messages, str):  # some dumps store the trajectory as JSON text
        try:
            messages = json.loads(messages)
        except (ValueError, RecursionError):
            log.warn("traj is text that is not JSON (or is nested too deeply); no messages imported")
            messages = []
    records = conversation_records(_message_list(messages, log), log)
    task = run.get("task_id", position)
    metadata = {
        "format": "tau-bench",
        "task_id": task,
        "trial": run.get("trial"),
        "reward": run.get("reward"),
    }
    info = run.get("info")
    if isinstance(info, Mapping) and isinstance(info.get("task"), Mapping):
        metadata["instruction"] = info["task"].get("instruction")
    return _trace(
        records,
        trace_id=f"tau-{text_of(task)}-{text_of(run.get('trial', 0))}",
        name=f"tau-bench:{PurePath(source).stem}:task-{text_of(task)}",
        metadata=metadata,
        log=log,
        source=label,
    )


def _trace(
    records: list[Record], *, trace_id: str, name: str, metadata: dict[str, Any], log: ImportLog, source: str
) -> Trace:
    return assemble(
        records,
        trace_id=trace_id,
        name=name,
        metadata={"imported_from": "messages", "source": source, "synthetic_times": True, **metadata},
        log=log,
        started_at="1970-01-01T00:00:00.000000Z",
        base=0,
    )


def _message_list(messages: Any, log: ImportLog) -> list[Mapping[str, Any]]:
    if not isinstance(messages, list):
        log.warn(f"expected a list of messages, found {type(messages).__name__}")
        return []
    out = []
    for position, message in enumerate(messages):
        if isinstance(message, Mapping) and "role" in message:
            out.append(message)
            continue
        # Kept, not dropped: the step numbers of the messages after it (Who&When's mistake_step) still match.
        log.warn(f"message {position} has no role; imported as an 'unknown' placeholder")
        if isinstance(message, Mapping):
            out.append({**message, "role": "unknown"})
        else:
            out.append({"role": "unknown", "content": message})
    return out


def conversation_records(messages: list[Mapping[str, Any]], log: ImportLog) -> list[Record]:
    """The spans of one conversation, as records with synthetic times (see the module docstring)."""
    builder = _Builder(log)
    for step, message in enumerate(messages):
        try:
            builder.add(step, message)
        except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
            log.warn(f"message {step} skipped: {describe(exc)}")
    return builder.records


class _Builder:
    def __init__(self, log: ImportLog) -> None:
        self.log = log
        self.records: list[Record] = []
        self.last_agent: str | None = None
        self.last_agent_message: str | None = None
        self.last_agent_span: str | None = None
        self.last_code_message: str | None = None  # the latest agent message with a code block
        self.unread: list[str] = []  # tool spans whose output no agent has read yet
        self.handoffs: dict[str, str] = {}  # target agent -> handoff span id waiting for it
        self.calls: dict[str, Record] = {}  # tool_call_id -> tool span awaiting its result
        self.function_call: str | None = None  # the call id given to a legacy function_call awaiting its result

    def add(self, step: int, message: Mapping[str, Any]) -> None:
        role = text_of(message.get("role") or "")
        name = message.get("name")
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        speaker, note = _speaker(role, name if isinstance(name, str) and name else None)
        attributes: dict[str, Any] = {"step": step, "role": role}
        if "index" in message:
            attributes["index"] = message["index"]
        start = step * STEP_NS

        if role in ("tool", "function") or _TERMINAL.search(speaker):
            self._tool_result(step, speaker, message, text, attributes, start)
            return
        if speaker.lower() in _PEOPLE and not (isinstance(name, str) and name):
            self._add(f"m{step}", None, "custom", role or speaker, start, input=content, attributes=attributes)
            return
        target = None
        if note is not None:
            attributes["note"] = note
            match = _HANDOFF_NOTE.match(note)
            if match is not None:
                target = match.group("target")
        if target is not None:
            attributes.update(from_agent=speaker, to_agent=target)
            span = self._add(
                f"m{step}",
                speaker,
                "handoff",
                target,
                start,
                input=content,
                attributes=attributes,
                context={"instruction": content},
            )
            self.handoffs[target] = span.span_id
            self.last_agent, self.last_agent_message = speaker, text
            return

        tool_calls = message.get("tool_calls") or []
        function_call = message.get("function_call")
        kind = "llm" if role == "assistant" and not (isinstance(name, str) and name) else "agent"
        if kind == "agent" and speaker == "Orchestrator":
            attributes.update(_orchestrator(text))
        output: Any = content
        if tool_calls:
            output = {"content": content, "tool_calls": tool_calls}
        elif isinstance(function_call, Mapping):
            # OpenAI's legacy single call: answered by the next `function` message, which has no call id.
            output = {"content": content, "function_call": function_call}
            tool_calls = [{"function": function_call}]
        links = list(self.unread)
        if speaker in self.handoffs:
            links.append(self.handoffs.pop(speaker))
        span = self._add(f"m{step}", speaker, kind, speaker, start, output=output, attributes=attributes, links=links)
        self.unread = []
        self.last_agent, self.last_agent_message, self.last_agent_span = speaker, text, span.span_id
        if "```" in text:
            self.last_code_message = text
        if kind == "agent":
            self._action(step, speaker, text, span)
        for position, call in enumerate(tool_calls):
            self._tool_call(step, position, speaker, call, span)
        if isinstance(function_call, Mapping) and not message.get("tool_calls"):
            self.function_call = f"m{step}.0"

    def _tool_call(self, step: int, position: int, agent: str, call: Any, llm: Record) -> None:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except (ValueError, RecursionError):
                self.log.warn(f"message {step}: tool call arguments are not JSON; kept as text")
        call_id = text_of(call.get("id") or f"m{step}.{position}")
        span = self._add(
            f"m{step}.call{position}",
            agent,
            "tool",
            text_of(function.get("name") or "tool"),
            step * STEP_NS + 1 + position,
            input=arguments,
            attributes={"step": step, "call_step": step, "tool_call_id": call_id},
            links=[llm.span_id],
        )
        self.calls[call_id] = span

    def _tool_result(
        self, step: int, speaker: str, message: Mapping[str, Any], text: str, attributes: dict[str, Any], start: int
    ) -> None:
        call_id = message.get("tool_call_id")
        if call_id is None and message.get("role") == "function" and self.function_call is not None:
            call_id, self.function_call = self.function_call, None
        span = self.calls.pop(text_of(call_id), None) if call_id is not None else None
        if span is not None:
            span.output = message.get("content")
            span.end_ns = start + STEP_NS - 1
            span.attributes["step"] = step
            if "index" in attributes:
                span.attributes["index"] = attributes["index"]
        else:
            if call_id is not None:
                self.log.warn(f"message {step}: tool result for unknown tool_call_id {quote(call_id)}")
            code = _CODE.findall(self.last_code_message or "")
            links = [self.last_agent_span] if self.last_agent_span else []
            if speaker in self.handoffs:
                links.append(self.handoffs.pop(speaker))
            span = self._add(
                f"m{step}",
                self.last_agent,
                "tool",
                text_of(message.get("name") or speaker),
                start,
                input={"code": "\n".join(code)} if code else {"request": self.last_agent_message},
                output=message.get("content"),
                attributes=attributes,
                links=links,
            )
            self.last_code_message = None  # that code has run
        exit_code = _EXIT.match(text)
        if exit_code is not None and exit_code.group("code") != "0":
            span.status = "error"
            span.error = {"type": f"exitcode {exit_code.group('code')}", "message": text.splitlines()[0]}
        elif text.startswith("Error"):
            span.status = "error"
            span.error = {"type": "ToolError", "message": text.splitlines()[0] if text else ""}
        self.unread.append(span.span_id)

    def _action(self, step: int, agent: str, text: str, parent: Record) -> None:
        first = text.strip().splitlines()[0] if text.strip() else ""
        for pattern, tool, fields in _ACTIONS:
            match = pattern.match(first)
            if match is not None:
                self._add(
                    f"m{step}.action",
                    agent,
                    "tool",
                    tool,
                    step * STEP_NS + 1,
                    end=step * STEP_NS + STEP_NS - 2,
                    parent=parent.span_id,
                    input=dict(zip(fields, match.groups(), strict=False)),
                    attributes={"step": step, "action": first},
                )
                return

    def _add(
        self,
        span_id: str,
        agent: str | None,
        kind: str,
        name: str,
        start: int,
        *,
        end: int | None = None,
        parent: str | None = None,
        input: Any = None,
        output: Any = None,
        attributes: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        links: list[str] | None = None,
    ) -> Record:
        record = Record(
            span_id=span_id,
            parent_id=parent,
            kind=kind,
            name=name,
            start_ns=start,
            end_ns=end if end is not None else start + STEP_NS - 1,
            agent=agent,
            input=input,
            output=output,
            attributes=attributes or {},
            context=context,
            links=links or [],
        )
        self.records.append(record)
        return record


def _speaker(role: str, name: str | None) -> tuple[str, str | None]:
    """``(speaker, note)`` from ``name`` or a role such as ``Orchestrator (-> WebSurfer)``."""
    if name:
        return name, None
    match = _ROLE.match(role)
    if match is not None and match.group("speaker"):
        return match.group("speaker"), match.group("note").strip()
    return role, None


def _orchestrator(text: str) -> dict[str, Any]:
    """What a Magentic-One orchestrator message says about the run's progress."""
    out: dict[str, Any] = {}
    if text.startswith("Updated Ledger"):
        ledger: dict[str, Any] = {}
        for key, pattern in _LEDGER.items():
            match = pattern.search(text)
            if match is not None:
                try:
                    ledger[key] = json.loads(match.group("answer"))
                except ValueError:  # a string with an escape JSON does not have: the ledger lacks that key
                    continue
        if ledger:
            out["ledger"] = ledger
            if isinstance(ledger.get("is_in_loop"), bool):
                out["is_in_loop"] = ledger["is_in_loop"]
    elif text.startswith("Stalled"):
        out["orchestrator_event"] = "stalled"
    elif text.startswith(("Initial plan", "New plan")):
        out["orchestrator_event"] = "plan"
    elif text.startswith("Next speaker"):
        out["orchestrator_event"] = "next_speaker"
    elif text.startswith("Request satisfied"):
        out["orchestrator_event"] = "request_satisfied"
    elif text.startswith("Replan counter exceeded"):
        out["orchestrator_event"] = "replan_limit"
    return out
