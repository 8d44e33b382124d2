"""Live capture of LangChain and LangGraph runs (``pip install 'pytest-agenttrace[langchain]'``).

:class:`AgentTraceCallbackHandler` is a LangChain callback handler.
:func:`install` registers it through ``langchain_core``'s configure hook, so
every LangChain/LangGraph run in the process reports to it without passing
``callbacks=``; it ignores every event while no recorder is active, so
LangChain does not even call it then.

What becomes what:

* LangGraph nodes are agents: each node of the outermost graph (the first
  graph not inside another graph's node, whatever runnables wrap it) becomes an
  ``agent`` span named after the node (metadata ``langgraph_node``), except a
  node named ``tools`` (a ToolNode, whose tool calls belong to the agent that
  asked for them: a tool span outside any agent span gets the agent of the model call whose
  ``tool_calls`` held its ``tool_call_id``); a deeper node becomes an agent when it runs a subgraph
  (a sub-agent built with ``create_react_agent``, say).  The graph's own run
  is a ``custom`` span (recorded from its first node on when a wrapper's run
  is the root); LangGraph's internal runs (routers, prompt
  templates, ``RunnableSequence`` ...) are not recorded, their children go
  to the nearest recorded span.  A ``AgentExecutor`` run is an ``agent``.
* Chat models and LLMs: ``llm`` spans with ``attributes.model``,
  ``attributes.usage`` (``input_tokens``/``output_tokens``), the messages
  (the last 50) in ``input`` and the reply with its tool calls in ``output``.
* Tools: ``tool`` spans with the arguments in ``input`` and
  ``attributes.tool_call_id``.
* Retrievers: ``retrieval`` spans, ``attributes.source`` = the retriever's
  name, the documents in ``output``.
* ``Command(goto=..., graph=Command.PARENT)`` returned by a tool or a node of
  a sub-agent, and ``Command(goto=...)`` returned by an agent node: a
  ``handoff`` span from the current agent to ``goto`` with the command's
  ``update`` as ``context`` (plus ``Send.arg`` for a ``Send`` target).
* A stream the consumer stops (``GeneratorExit``) ends its spans ok with
  ``stream_closed_early``.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from ..exceptions import MissingExtraError
from ..recorder import SpanHandle, active_recorder
from . import _context
from ._context import log, register_parent_provider, resolve_parent, state_getter, state_peeker

try:
    from langchain_core.callbacks import BaseCallbackHandler as _BaseCallbackHandler
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    _IMPORT_ERROR: ImportError | None = _exc
    _BaseCallbackHandler = object  # type: ignore[assignment,misc]  # lets the module import; install() raises
else:
    _IMPORT_ERROR = None

if TYPE_CHECKING:
    from ..recorder import Recorder

__all__ = ["AgentTraceCallbackHandler", "install"]

SOURCE: Final = "langchain"
_MAX_MESSAGES: Final = 50
_MAX_DOCUMENTS: Final = 20
_TOOL_NODES: Final = frozenset({"tools"})
_PARENT: Final = "__parent__"


class _Run:
    """One LangChain run: the span recording it (``None``: not recorded) and its parent run."""

    __slots__ = ("handle", "is_node", "is_root", "name", "node", "parent")

    def __init__(
        self, handle: SpanHandle | None, parent: UUID | None, name: str, node: str | None, is_node: bool, is_root: bool
    ) -> None:
        self.handle = handle
        self.parent = parent
        self.name = name
        self.node = node
        self.is_node = is_node
        self.is_root = is_root


class _LCState:
    __slots__ = ("callers", "commands", "runs")

    def __init__(self) -> None:
        self.runs: dict[UUID, _Run] = {}
        #: Command objects already recorded as handoffs, by id (a tool's Command bubbles up as errors).
        #: The objects themselves are kept: a freed one's id is reused by the next Command.
        self.commands: dict[int, Any] = {}
        #: tool call id -> the agent whose model asked for it: a ToolNode of the outermost graph runs
        #: outside that agent's node, yet the call is the agent's.
        self.callers: dict[str, str] = {}


def _recorded_ancestor(state: _LCState, run_id: UUID | None) -> SpanHandle | None:
    """The span of ``run_id`` or of its nearest recorded ancestor run."""
    for _ in range(512):
        if run_id is None:
            return None
        run = state.runs.get(run_id)
        if run is None:
            return None
        if run.handle is not None:
            return run.handle
        run_id = run.parent
    return None


def _parent_for(rec: Recorder, state: _LCState, parent_run_id: UUID | None) -> SpanHandle | None:
    parent = _recorded_ancestor(state, parent_run_id)
    innermost = resolve_parent(rec)
    if parent is None or (
        innermost is not None and innermost.seq > parent.seq and _context.descends(rec, innermost, parent)
    ):
        return innermost
    return parent


def _current_langchain_parent(rec: Recorder) -> SpanHandle | None:
    """Parent provider: the LangChain run executing in this context, mapped."""
    state = _peek(rec)
    if state is None or not state.runs:  # nothing captured from LangChain in this recording
        return None
    from langchain_core.runnables.config import var_child_runnable_config

    config = var_child_runnable_config.get()
    if not config:
        return None
    manager = config.get("callbacks")
    run_id = getattr(manager, "parent_run_id", None)
    if run_id is None:
        return None
    return _recorded_ancestor(state, run_id)


_state: Callable[[Recorder], _LCState] = state_getter(SOURCE, lambda rec: _LCState(), _current_langchain_parent)
_peek: Callable[[Recorder], _LCState | None] = state_peeker(SOURCE)


# -- conversions ------------------------------------------------------------------


def _message(message: Any) -> Any:
    """A LangChain message as a plain dict (role, content, name, tool calls)."""
    if isinstance(message, Mapping):
        return dict(message)
    if isinstance(message, tuple) and len(message) == 2:
        return {"role": str(message[0]), "content": message[1]}
    role = getattr(message, "type", None)
    if role is None:
        return message
    if isinstance(role, str) and role.endswith("MessageChunk"):  # a streamed reply: "AIMessageChunk"
        role = role.removesuffix("MessageChunk").lower()
    out: dict[str, Any] = {
        "role": {"human": "user", "ai": "assistant"}.get(role, role),
        "content": getattr(message, "content", None),
    }
    name = getattr(message, "name", None)
    if name:
        out["name"] = name
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [{"id": c.get("id"), "name": c.get("name"), "args": c.get("args")} for c in tool_calls]
    call_id = getattr(message, "tool_call_id", None)
    if call_id:
        out["tool_call_id"] = call_id
    return out


def _messages(messages: Sequence[Any]) -> list[Any]:
    items = [_message(m) for m in messages]
    if len(items) > _MAX_MESSAGES:
        return [f"…[agenttrace: kept the last {_MAX_MESSAGES} of {len(items)} messages]", *items[-_MAX_MESSAGES:]]
    return items


def _value(value: Any) -> Any:
    """Chain inputs/outputs as plain data: messages become dicts.

    Lists are kept whole: the recorder caps them, with its truncation marker.
    """
    if isinstance(value, Mapping):
        return {str(k): _value(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    if hasattr(value, "type") and hasattr(value, "content"):
        return _message(value)
    return value


def _safely(convert: Any, *args: Any) -> Any:
    """``convert(*args)``, or an explicit marker when the payload cannot be read (logged)."""
    try:
        return convert(*args)
    except Exception:  # noqa: BLE001 - record the span without its payload
        log.warning("agenttrace: could not record a LangChain payload; recorded without it", exc_info=True)
        return "[agenttrace: payload could not be recorded]"


def _model_name(
    serialized: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, params: Mapping[str, Any] | None
) -> str | None:
    for source in (params or {}, metadata or {}):
        for key in ("model", "model_name", "ls_model_name", "model_id"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    kwargs = (serialized or {}).get("kwargs") or {}
    for key in ("model", "model_name"):
        value = kwargs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _usage(message: Any, llm_output: Mapping[str, Any] | None) -> dict[str, int]:
    meta = getattr(message, "usage_metadata", None)
    if isinstance(meta, Mapping):
        out = {
            k: int(meta[k]) for k in ("input_tokens", "output_tokens", "total_tokens") if isinstance(meta.get(k), int)
        }
        if out:
            return out
    token_usage = (llm_output or {}).get("token_usage") or (llm_output or {}).get("usage") or {}
    out = {}
    for ours, theirs in (
        ("input_tokens", "prompt_tokens"),
        ("output_tokens", "completion_tokens"),
        ("total_tokens", "total_tokens"),
    ):
        value = token_usage.get(theirs, token_usage.get(ours)) if isinstance(token_usage, Mapping) else None
        if isinstance(value, int):
            out[ours] = value
    return out


def _tool_input(input_str: str, inputs: Any) -> Any:
    if inputs is not None:
        return _value(inputs)
    try:
        return json.loads(input_str)
    except (TypeError, ValueError):
        return input_str


def _command(value: Any) -> Any:
    """The LangGraph ``Command`` in ``value`` (a tool/node output or a ParentCommand), if any."""
    try:
        from langgraph.errors import ParentCommand
        from langgraph.types import Command
    except ImportError:  # pragma: no cover - LangChain without LangGraph
        return None
    if isinstance(value, ParentCommand):
        value = value.args[0] if value.args else None
    if isinstance(value, Command):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, Command):
                return item
    return None


def _goto_names(goto: Any) -> list[str]:
    return [name for name, _ in _goto_targets(goto)]


_NO_ARG: Final = object()


def _goto_targets(goto: Any) -> list[tuple[str, Any]]:
    """``(node, Send.arg)`` of each target of ``goto`` (``_NO_ARG`` for a plain node name)."""
    items = goto if isinstance(goto, (list, tuple)) else [goto]
    targets = []
    for item in items:
        node = getattr(item, "node", item)  # Send(node, arg) or a node name
        if isinstance(node, str) and node and not node.startswith("__"):
            targets.append((node, getattr(item, "arg", _NO_ARG) if item is not node else _NO_ARG))
    return targets


# -- the handler ------------------------------------------------------------------


class AgentTraceCallbackHandler(_BaseCallbackHandler):
    """Records LangChain/LangGraph runs into the active recorder (see the module docstring)."""

    raise_error = False
    run_inline = True  # same context as the run: parenthood follows context variables

    # LangChain skips a handler's callbacks when it asks to be ignored: free when nothing records.
    @property
    def ignore_llm(self) -> bool:
        return active_recorder() is None

    ignore_chain = ignore_agent = ignore_retriever = ignore_chat_model = ignore_llm

    @property
    def ignore_retry(self) -> bool:
        return True

    @property
    def ignore_custom_event(self) -> bool:
        return True

    # -- helpers --
    @staticmethod
    def _route() -> tuple[Recorder, _LCState] | None:
        rec = _context.route(SOURCE)
        if rec is None:
            return None
        return rec, _state(rec)

    def _open(
        self,
        kind: str,
        name: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        *,
        agent: str | None = None,
        attributes: dict[str, Any] | None = None,
        input: Any = None,
        node: str | None = None,
    ) -> None:
        routed = self._route()
        if routed is None:
            return
        rec, state = routed
        parent = _parent_for(rec, state, parent_run_id)
        kwargs: dict[str, Any] = {"parent_id": parent.span_id if parent is not None else None}
        if agent is not None:
            kwargs["agent"] = agent
        handle = rec.start_span(kind, name, attributes=attributes, input=input, **kwargs)
        state.runs[run_id] = _Run(
            handle, parent_run_id, name, node, False, parent_run_id is None or parent_run_id not in state.runs
        )

    def _close(
        self,
        run_id: UUID,
        *,
        output: Any = None,
        error: BaseException | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> SpanHandle | None:
        rec = active_recorder()
        if rec is None:
            return None
        state = _state(rec)
        run = state.runs.get(run_id)
        if run is None or run.handle is None or run.handle.ended:
            return None
        handle = run.handle
        if attributes:
            handle.attributes.update(attributes)
        if output is not None:
            handle.output = output
        handle.end(error)
        return handle

    def _handoff(self, rec: Recorder, state: _LCState, command: Any, run_id: UUID, *, beside_tool: bool) -> None:
        if state.commands.get(id(command)) is command:
            return
        targets = _goto_targets(getattr(command, "goto", None))
        if not targets:
            return
        state.commands[id(command)] = command
        anchor = _recorded_ancestor(state, run_id)
        if beside_tool and anchor is not None and anchor.kind == "tool" and anchor.parent_id is not None:
            anchor = rec.handle(anchor.parent_id)  # the handoff is the agent's act, next to its tool call
        update = getattr(command, "update", None)
        context = (
            _safely(_value, update)
            if isinstance(update, Mapping)
            else ({"update": _safely(_value, update)} if update is not None else {})
        )
        if not isinstance(context, dict):
            context = {"update": context}
        for target, arg in targets:
            from_agent = anchor.agent if anchor is not None else None
            handed = context
            if arg is not _NO_ARG:  # Send(node, arg): the target's input is arg (the update goes to the state)
                sent = _safely(_value, arg)
                handed = {**context, **sent} if isinstance(sent, dict) else {**context, "arg": sent}
            handle = rec.start_span(
                "handoff",
                target,
                parent_id=anchor.span_id if anchor is not None else None,
                attributes={"from_agent": from_agent, "to_agent": target, "via": "langgraph.Command"},
                context=handed,
            )
            handle.end()

    @staticmethod
    def _graph_span(rec: Recorder, state: _LCState, graph: _Run) -> None:
        """Record ``graph`` (the outermost graph's run, not recorded when it is not a root) as ``custom``."""
        if graph.handle is not None:
            return
        with _graph_lock:  # parallel nodes start in threads: one span per graph
            if graph.handle is not None:
                return
            parent = _parent_for(rec, state, graph.parent)
            graph.handle = rec.start_span(
                "custom",
                graph.name,
                attributes={"langchain.run_type": "chain"},
                parent_id=parent.span_id if parent is not None else None,
            )

    # -- chains (graphs, nodes, agents) --
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            routed = self._route()
            if routed is None:
                return
            rec, state = routed
            name = str(
                kwargs.get("name") or (serialized or {}).get("name") or ((serialized or {}).get("id") or ["chain"])[-1]
            )
            metadata = metadata or {}
            node = metadata.get("langgraph_node")
            is_node = node is not None and node == name and any(t.startswith("graph:step:") for t in tags or ())
            parent_run = state.runs.get(parent_run_id) if parent_run_id is not None else None
            is_root = parent_run is None
            kind: str | None = None
            if is_root:
                kind = "agent" if name == "AgentExecutor" else "custom"
            elif is_node and parent_run is not None and parent_run_id is not None and _outermost(state, parent_run_id):
                # A node of the outermost graph (the parent run), which may run inside other runnables
                # (prep | graph, graph.with_retry()): recorded from its first node on, if not yet.
                self._graph_span(rec, state, parent_run)
                if node not in _TOOL_NODES:
                    kind = "agent"
            elif name == "AgentExecutor":
                kind = "agent"
            elif (
                parent_run is not None
                and parent_run.is_node
                and parent_run.handle is None
                and name == parent_run.name
                and "checkpoint_ns" in metadata
                and parent_run.name not in _TOOL_NODES
            ):
                kind = "agent"  # a deeper node running a subgraph: a sub-agent
            if kind is None:
                state.runs[run_id] = _Run(None, parent_run_id, name, node, is_node, False)
                return
            attributes: dict[str, Any] = {"langchain.run_type": "chain"}
            if node is not None and kind == "agent":
                attributes["langgraph_node"] = node
                if "langgraph_step" in metadata:
                    attributes["langgraph_step"] = metadata["langgraph_step"]
            parent = _parent_for(rec, state, parent_run_id)
            kwargs2: dict[str, Any] = {"parent_id": parent.span_id if parent is not None else None}
            if kind == "agent":
                kwargs2["agent"] = name
            handle = rec.start_span(
                kind, name, attributes=attributes, input=_safely(_value, inputs) if kind == "agent" else None, **kwargs2
            )
            state.runs[run_id] = _Run(handle, parent_run_id, name, node, is_node, is_root)
        except Exception:  # noqa: BLE001 - never break the run
            log.warning("agenttrace: could not record a LangChain chain start", exc_info=True)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            routed = self._route()
            if routed is None:
                return
            rec, state = routed
            run = state.runs.get(run_id)
            command = _command(outputs)
            if command is not None and run is not None and (run.is_node or run.handle is not None):
                graph = getattr(command, "graph", None)
                if graph == _PARENT or (graph is None and run.handle is not None and run.handle.kind == "agent"):
                    self._handoff(rec, state, command, run_id, beside_tool=False)
            if run is not None and run.handle is not None and not run.handle.ended:
                run.handle.output = _safely(_value, outputs) if command is None else {"command": repr(command)}
                run.handle.end()
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain chain end", exc_info=True)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            routed = self._route()
            if routed is None:
                return
            rec, state = routed
            command = _command(error)
            if command is not None:
                # Command(graph=PARENT) travels up as an exception: control flow, not a failure.
                if getattr(command, "graph", None) == _PARENT:
                    self._handoff(rec, state, command, run_id, beside_tool=True)
                self._close(run_id)
                return
            if _is_control_flow(error):
                self._close(run_id, attributes={"interrupted": type(error).__name__})
                return
            if isinstance(error, GeneratorExit):  # the consumer stopped reading a stream: not a failure
                self._close(run_id, attributes={"stream_closed_early": True})
                return
            self._close(run_id, error=error)
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain chain error", exc_info=True)

    # -- models --
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            model = _model_name(serialized, metadata, kwargs.get("invocation_params"))
            batch = messages[0] if messages else []
            attributes: dict[str, Any] = {"model": model} if model else {}
            provider = (metadata or {}).get("ls_provider")
            if provider:
                attributes["provider"] = provider
            self._open(
                "llm",
                model or str(kwargs.get("name") or "chat_model"),
                run_id,
                parent_run_id,
                attributes=attributes,
                input=_safely(_messages, batch),
            )
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain chat model start", exc_info=True)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            model = _model_name(serialized, metadata, kwargs.get("invocation_params"))
            self._open(
                "llm",
                model or str(kwargs.get("name") or "llm"),
                run_id,
                parent_run_id,
                attributes={"model": model} if model else {},
                input=list(prompts),
            )
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain LLM start", exc_info=True)

    def on_llm_end(self, response: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            generations = getattr(response, "generations", None) or [[]]
            first = generations[0][0] if generations and generations[0] else None
            message = getattr(first, "message", None)
            llm_output = getattr(response, "llm_output", None) or {}
            attributes: dict[str, Any] = {}
            usage = _usage(message, llm_output)
            if usage:
                attributes["usage"] = usage
            model = (getattr(message, "response_metadata", None) or {}).get("model_name") or llm_output.get(
                "model_name"
            )
            if model:
                attributes["model"] = model
            output = (
                _safely(_message, message)
                if message is not None
                else (getattr(first, "text", None) if first is not None else None)
            )
            tool_calls = getattr(message, "tool_calls", None)
            if tool_calls:
                attributes["tool_calls"] = [c.get("name") for c in tool_calls]
            handle = self._close(run_id, output=output, attributes=attributes)
            if tool_calls and handle is not None and handle.agent is not None:
                routed = self._route()
                if routed is not None:
                    callers = routed[1].callers
                    for call in tool_calls:
                        if call.get("id"):
                            callers[str(call["id"])] = handle.agent
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain LLM end", exc_info=True)
            self._close(run_id)

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            if isinstance(error, GeneratorExit):  # the consumer stopped reading the stream: what came, ok
                generations = getattr(kwargs.get("response"), "generations", None) or [[]]
                first = generations[0][0] if generations and generations[0] else None
                message = getattr(first, "message", None)
                self._close(
                    run_id,
                    output=_safely(_message, message) if message is not None else None,
                    attributes={"stream_closed_early": True},
                )
                return
            self._close(run_id, error=error)
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain LLM error", exc_info=True)

    # -- tools --
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
            attributes: dict[str, Any] = {}
            call_id = kwargs.get("tool_call_id")
            caller = None
            if call_id:
                attributes["tool_call_id"] = str(call_id)
                routed = self._route()
                if routed is not None:
                    caller = routed[1].callers.pop(str(call_id), None)
                    # Inside an agent's own run (its subgraph's ToolNode) the tool is that agent's: ids
                    # are not unique (scripted models reuse "call_1"; parallel agents overwrite).
                    if _enclosing_agent(routed[1], parent_run_id) is not None:
                        caller = None
            self._open(
                "tool",
                name,
                run_id,
                parent_run_id,
                agent=caller,  # the agent that asked for the call, wherever its ToolNode runs
                attributes=attributes,
                input=_safely(_tool_input, input_str, inputs),
            )
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain tool start", exc_info=True)

    def on_tool_end(self, output: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        try:
            routed = self._route()
            if routed is None:
                return
            rec, state = routed
            command = _command(output)
            if command is not None:
                self._close(
                    run_id,
                    output={
                        "command": {
                            "goto": _goto_names(getattr(command, "goto", None)),
                            "graph": getattr(command, "graph", None),
                        }
                    },
                )
                if getattr(command, "graph", None) != _PARENT:
                    # Command(graph=PARENT) bubbles up as ParentCommand: recorded there, once.
                    self._handoff(rec, state, command, run_id, beside_tool=True)
                return
            status = getattr(output, "status", None)
            content = getattr(output, "content", output)
            handle = self._close(run_id, output=_safely(_value, content))
            if handle is not None and status == "error":
                handle.set_status("error", {"type": "ToolError", "message": str(content)[:500]})
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain tool end", exc_info=True)
            self._close(run_id)

    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            if _command(error) is not None or _is_control_flow(error):
                self._close(run_id)
                return
            self._close(run_id, error=error)
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain tool error", exc_info=True)

    # -- retrievers --
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            name = str(kwargs.get("name") or (serialized or {}).get("name") or "retriever")
            self._open("retrieval", name, run_id, parent_run_id, attributes={"source": name}, input=query)
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain retriever start", exc_info=True)

    def on_retriever_end(
        self, documents: Sequence[Any], *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            docs = [
                {"page_content": getattr(d, "page_content", str(d)), "metadata": dict(getattr(d, "metadata", {}) or {})}
                for d in list(documents)[:_MAX_DOCUMENTS]
            ]
            self._close(run_id, output=docs, attributes={"documents": len(documents)})
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain retriever end", exc_info=True)
            self._close(run_id)

    def on_retriever_error(
        self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            self._close(run_id, error=error)
        except Exception:  # noqa: BLE001
            log.warning("agenttrace: could not record a LangChain retriever error", exc_info=True)


def _enclosing_agent(state: _LCState, run_id: UUID | None) -> SpanHandle | None:
    """The ``agent`` span of the nearest recorded LangChain run at or above ``run_id`` that is an agent."""
    for _ in range(512):
        run = state.runs.get(run_id) if run_id is not None else None
        if run is None:
            return None
        if run.handle is not None and run.handle.kind == "agent":
            return run.handle
        run_id = run.parent
    return None


def _outermost(state: _LCState, graph_run_id: UUID) -> bool:
    """Whether the run ``graph_run_id`` (a graph: its child is a node) runs inside no graph node."""
    run_id: UUID | None = graph_run_id
    for _ in range(512):
        run = state.runs.get(run_id) if run_id is not None else None
        if run is None:
            return True
        if run.is_node:
            return False
        run_id = run.parent
    return False


def _is_control_flow(error: BaseException) -> bool:
    try:
        from langgraph.errors import GraphBubbleUp
    except ImportError:  # pragma: no cover - LangChain without LangGraph
        return False
    return isinstance(error, GraphBubbleUp)


# -- installation -------------------------------------------------------------------

_graph_lock = threading.Lock()
_HANDLER: AgentTraceCallbackHandler | None = None
_VAR: contextvars.ContextVar[Any] | None = None
_install_lock = threading.Lock()


def install() -> AgentTraceCallbackHandler:
    """Register the handler with LangChain's configure hook (idempotent).

    Every LangChain/LangGraph run then reports to it, in every thread and
    task; it records only while a recorder is active.  Raises
    :class:`~pytest_agenttrace.exceptions.MissingExtraError` without the extra.
    """
    global _HANDLER, _VAR
    if _IMPORT_ERROR is not None:
        raise MissingExtraError("LangChain/LangGraph capture", "langchain", "langchain-core") from _IMPORT_ERROR
    with _install_lock:
        # By module name (not the package attribute): the module LangChain's configure reads.
        hooks_module = importlib.import_module("langchain_core.tracers.context")

        if _HANDLER is None or _VAR is None:
            _HANDLER = AgentTraceCallbackHandler()
            # The default is the handler itself, so every context (threads included) sees it.
            _VAR = contextvars.ContextVar("agenttrace_langchain_handler", default=_HANDLER)
        hooks = getattr(hooks_module, "_configure_hooks", None)
        if hooks is None or not any(hook[0] is _VAR for hook in hooks):
            hooks_module.register_configure_hook(_VAR, inheritable=True)
        register_parent_provider(_current_langchain_parent)
    return _HANDLER
