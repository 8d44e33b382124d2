"""Live capture of LangChain/LangGraph runs: a real multi-agent graph driven by a scripted chat model."""

from __future__ import annotations

import asyncio
import logging
import operator
import warnings
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import ToolNode, tools_condition

from pytest_agenttrace import recorder as native
from pytest_agenttrace.adapters import langchain as lc_adapter
from pytest_agenttrace.recorder import Recorder


@pytest.fixture(autouse=True)
def _installed() -> None:
    lc_adapter.install()


class ScriptedChatModel(BaseChatModel):
    """A deterministic chat model: replies from a script, tool calls included."""

    script: list[AIMessage]
    model: str = "scripted-chat"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        reply = self.script[self.calls]
        self.calls += 1
        reply = reply.model_copy(
            update={
                "usage_metadata": {
                    "input_tokens": 10 * len(messages),
                    "output_tokens": 5,
                    "total_tokens": 10 * len(messages) + 5,
                }
            }
        )
        return ChatResult(generations=[ChatGeneration(message=reply)], llm_output={"model_name": self.model})


class StyleGuide(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content="Be brief.", metadata={"id": "sg-1"})]


@tool
def web_search(query: str) -> str:
    """Search the web."""
    with native.memory_write("notes", value=f"results for {query}"):
        pass
    return f"3 results for {query}"


@tool
def transfer_to_writer(summary: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Hand the findings to the writer."""
    return Command(
        goto="writer",
        graph=Command.PARENT,
        update={"messages": [ToolMessage("handed off", tool_call_id=tool_call_id)], "summary": summary},
    )


@tool
def publish(text: str) -> str:
    """Publish the article."""
    raise ConnectionError("CMS unreachable")


class TeamState(MessagesState):
    summary: str


def _agent(name: str, model: ScriptedChatModel, tools: list[Any], retriever: BaseRetriever | None = None) -> Any:
    def call_model(state: TeamState) -> dict[str, Any]:
        if retriever is not None:
            retriever.invoke("house style")
        return {"messages": [model.bind_tools(tools).invoke(state["messages"])]}

    graph = StateGraph(TeamState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name=name)


def _team() -> Any:
    researcher = _agent(
        "researcher",
        ScriptedChatModel(
            script=[
                AIMessage(
                    "", tool_calls=[{"name": "web_search", "args": {"query": "otel genai"}, "id": "call_search"}]
                ),
                AIMessage(
                    "",
                    tool_calls=[
                        {"name": "transfer_to_writer", "args": {"summary": "GenAI semconv"}, "id": "call_transfer"}
                    ],
                ),
            ]
        ),
        [web_search, transfer_to_writer],
    )
    writer = _agent(
        "writer",
        ScriptedChatModel(
            script=[
                AIMessage("", tool_calls=[{"name": "publish", "args": {"text": "draft"}, "id": "call_publish"}]),
                AIMessage("Could not publish; draft saved."),
            ],
            model="writer-model",
        ),
        [publish],
        retriever=StyleGuide(),
    )
    graph = StateGraph(TeamState)
    graph.add_node("researcher", researcher, destinations=("writer",))
    graph.add_node("writer", writer)
    graph.add_edge(START, "researcher")
    graph.add_edge("writer", END)
    return graph.compile()


def _tree(rec: Recorder) -> list[str]:
    return [f"{'  ' * depth}{s.kind}:{s.name}@{s.agent}" for s, depth in rec.trace.walk()]


EXPECTED = [
    "custom:LangGraph@None",
    "  agent:researcher@researcher",
    "    llm:scripted-chat@researcher",
    "    tool:web_search@researcher",
    "      memory_write:notes@researcher",
    "    llm:scripted-chat@researcher",
    "    tool:transfer_to_writer@researcher",
    "    handoff:writer@researcher",
    "  agent:writer@writer",
    "    retrieval:StyleGuide@writer",
    "    llm:writer-model@writer",
    "    tool:publish@writer",
    "    retrieval:StyleGuide@writer",
    "    llm:writer-model@writer",
]


def test_langgraph_multi_agent_graph_with_parent_command_handoff(agenttrace: Recorder) -> None:
    result = _team().invoke({"messages": [("user", "write about otel")]})
    assert result["messages"][-1].content == "Could not publish; draft saved."
    assert _tree(agenttrace) == EXPECTED
    trace = agenttrace.trace
    (handoff,) = trace.find("handoff")
    assert handoff.attributes["from_agent"] == "researcher" and handoff.attributes["to_agent"] == "writer"
    assert handoff.context is not None and handoff.context["summary"] == "GenAI semconv"
    search, transfer, publish_ = trace.find("tool")
    assert search.input == {"query": "otel genai"} and search.attributes["tool_call_id"] == "call_search"
    assert search.output == "3 results for otel genai" and search.status == "ok"
    assert transfer.attributes["tool_call_id"] == "call_transfer" and transfer.status == "ok"
    assert publish_.status == "error" and publish_.error is not None and "CMS unreachable" in publish_.error["message"]
    first_llm = trace.find("llm")[0]
    assert first_llm.attributes["model"] == "scripted-chat"
    assert first_llm.attributes["usage"] == {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    assert first_llm.input == [{"role": "user", "content": "write about otel"}]
    assert first_llm.output["tool_calls"] == [
        {"id": "call_search", "name": "web_search", "args": {"query": "otel genai"}}
    ]
    retrieval = trace.find("retrieval")[0]
    assert retrieval.attributes["source"] == "StyleGuide" and retrieval.output[0]["page_content"] == "Be brief."
    # The graph's control flow (Command bubbling up as ParentCommand) is not an error.
    assert [s.name for s in trace.spans if s.status == "error"] == ["publish"]


def test_handoff_rules_see_langgraph_handoffs(agenttrace: Recorder) -> None:
    from pytest_agenttrace.spec.engine import check_trace

    _team().invoke({"messages": [("user", "write about otel")]})
    spec = {
        "spec": "team",
        "rules": [
            {
                "id": "writer-gets-summary",
                "handoff": {"from": "researcher", "to": "writer", "requires": ["summary", "sources"]},
            },
            {"id": "search-stays-with-researcher", "scope": {"tool": "web_search", "only_agents": ["researcher"]}},
        ],
    }
    result = check_trace(agenttrace.trace, spec)
    assert [(v.rule, "sources" in v.message) for v in result.violations] == [("writer-gets-summary", True)]


def _flat_graph() -> Any:
    """researcher -> a ToolNode of the outermost graph -> researcher: the tool runs outside the agent's node."""
    model = ScriptedChatModel(
        script=[
            AIMessage("", tool_calls=[{"name": "web_search", "args": {"query": "weather"}, "id": "call_flat"}]),
            AIMessage("It is sunny."),
        ]
    )

    def researcher(state: TeamState) -> dict[str, Any]:
        return {"messages": [model.bind_tools([web_search]).invoke(state["messages"])]}

    graph = StateGraph(TeamState)
    graph.add_node("researcher", researcher)
    graph.add_node("tools", ToolNode([web_search]))
    graph.add_edge(START, "researcher")
    graph.add_conditional_edges("researcher", tools_condition)
    graph.add_edge("tools", "researcher")
    return graph.compile()


def test_a_tool_run_by_a_top_level_tool_node_belongs_to_the_agent_that_asked(agenttrace: Recorder) -> None:
    from pytest_agenttrace.spec.engine import check_trace

    with agenttrace.agent("orchestrator"), agenttrace.delegate("researcher", allowed_tools=["web_search"]):
        _flat_graph().invoke({"messages": [("user", "weather?")]})
    (search,) = agenttrace.trace.find("tool")
    assert search.agent == "researcher"  # not the graph's (none) nor the delegating orchestrator
    assert search.attributes["tool_call_id"] == "call_flat"
    spec = {
        "rules": [
            {"id": "attributed", "detect": "unattributed_action"},
            {"id": "search-by-researcher", "scope": {"tool": "web_search", "only_agents": ["researcher"]}},
        ]
    }
    assert list(check_trace(agenttrace.trace, spec).violations) == []
    assert "out_of_scope" not in search.attributes


def test_a_langgraph_tool_outside_the_delegation_is_marked(agenttrace: Recorder) -> None:
    with agenttrace.agent("orchestrator"), agenttrace.delegate("researcher", allowed_tools=["read_file"]):
        _flat_graph().invoke({"messages": [("user", "weather?")]})
    (search,) = agenttrace.trace.find("tool")
    assert search.attributes["out_of_scope"] is True


def test_async_graph_records_the_same_tree(agenttrace: Recorder) -> None:
    asyncio.run(_team().ainvoke({"messages": [("user", "write about otel")]}))
    assert _tree(agenttrace) == EXPECTED


def test_node_returning_command_goto_is_a_handoff(agenttrace: Recorder) -> None:
    def planner(state: TeamState) -> Command:
        return Command(goto="coder", update={"summary": "plan ready"})

    def coder(state: TeamState) -> dict[str, Any]:
        with native.tool("edit_file"):
            pass
        return {"summary": "done"}

    graph = StateGraph(TeamState)
    graph.add_node("planner", planner, destinations=("coder",))
    graph.add_node("coder", coder)
    graph.add_edge(START, "planner")
    graph.add_edge("coder", END)
    with agenttrace.agent("pipeline"):
        graph.compile(name="pipeline_graph").invoke({"messages": []})
    assert _tree(agenttrace) == [
        "agent:pipeline@pipeline",
        "  custom:pipeline_graph@pipeline",
        "    agent:planner@planner",
        "      handoff:coder@planner",
        "    agent:coder@coder",
        "      tool:edit_file@coder",
    ]
    (handoff,) = agenttrace.trace.find("handoff")
    assert handoff.context == {"summary": "plan ready"}


class _LoopState(MessagesState):
    n: int


def test_every_command_handoff_of_a_long_loop_is_recorded(agenttrace: Recorder) -> None:
    # Each Command is freed after its node returns, and CPython hands its id to the next one: a
    # handoff must not be taken for one already recorded because an earlier Command had its id.
    def planner(state: _LoopState) -> Command:
        if state.get("n", 0) >= 40:
            return Command(goto=END)
        return Command(goto="coder", update={"n": state.get("n", 0) + 1})

    def coder(state: _LoopState) -> Command:
        return Command(goto="planner", update={"messages": [("ai", f"code {state['n']}")]})

    graph = StateGraph(_LoopState)
    graph.add_node("planner", planner, destinations=("coder", END))
    graph.add_node("coder", coder, destinations=("planner",))
    graph.add_edge(START, "planner")
    graph.compile().invoke({"messages": [("user", "go")], "n": 0}, {"recursion_limit": 200})
    handoffs = [(s.attributes.get("from_agent"), s.name) for s in agenttrace.trace.find("handoff")]
    assert handoffs == [("planner", "coder"), ("coder", "planner")] * 40  # before the fix: 75 of 80


def test_nothing_recorded_without_a_recorder_and_failures_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert _team().invoke({"messages": [("user", "x")]})["messages"][-1].content == "Could not publish; draft saved."

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("mapping bug")

    monkeypatch.setattr(lc_adapter, "_message", broken)
    caplog.set_level(logging.WARNING, logger="pytest_agenttrace")
    rec = Recorder("broken")
    with rec:
        result = _team().invoke({"messages": [("user", "x")]})
    assert result["messages"][-1].content == "Could not publish; draft saved."
    assert "could not record a LangChain" in caplog.text
    kinds = {s.kind for s in rec.finish().spans}
    assert {"agent", "tool", "handoff"} <= kinds  # the rest was still recorded


# -- wrapped graphs, Send handoffs, shared tool call ids, stopped streams, long lists --------------------


def _two_agent_graph() -> Any:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    def node(reply: str) -> Any:
        def run(state: MessagesState) -> dict[str, Any]:
            model = GenericFakeChatModel(messages=iter([AIMessage(reply)]))
            return {"messages": [model.invoke(state["messages"])]}

        return run

    graph = StateGraph(MessagesState)
    graph.add_node("researcher", node("found"))
    graph.add_node("writer", node("written"))
    graph.add_edge(START, "researcher")
    graph.add_edge("researcher", "writer")
    graph.add_edge("writer", END)
    return graph.compile()


@pytest.mark.parametrize(
    ("wrap", "root"),
    [
        ("prep | graph", "RunnableSequence"),
        ("graph.with_retry()", "LangGraph"),
        ("graph.with_fallbacks([graph])", "RunnableWithFallbacks"),
    ],
)
def test_a_graph_wrapped_in_another_runnable_keeps_its_agents(agenttrace: Recorder, wrap: str, root: str) -> None:
    from langchain_core.runnables import RunnableLambda

    graph = _two_agent_graph()
    runnable = {
        "prep | graph": lambda: RunnableLambda(lambda text: {"messages": [("user", text)]}) | graph,
        "graph.with_retry()": graph.with_retry,
        "graph.with_fallbacks([graph])": lambda: graph.with_fallbacks([graph]),
    }[wrap]()
    runnable.invoke("hi" if wrap.startswith("prep") else {"messages": [("user", "hi")]})
    assert _tree(agenttrace) == [  # before the fix: no agent spans, every llm span's agent None
        f"custom:{root}@None",
        "  custom:LangGraph@None",
        "    agent:researcher@researcher",
        "      llm:chat_model@researcher",
        "    agent:writer@writer",
        "      llm:chat_model@writer",
    ]


class _FanOutState(TypedDict, total=False):
    results: Annotated[list[str], operator.add]
    task: str


def test_a_send_handoff_carries_the_sends_arg(agenttrace: Recorder) -> None:
    from langgraph.types import Send

    def planner(state: _FanOutState) -> Command:
        return Command(goto=[Send("worker", {"task": "alpha"}), Send("worker", {"task": "beta"})], update={"n": 2})

    def worker(state: _FanOutState) -> dict[str, Any]:
        return {"results": [state["task"]]}

    graph = StateGraph(_FanOutState)
    graph.add_node("planner", planner, destinations=("worker",))
    graph.add_node("worker", worker)
    graph.add_edge(START, "planner")
    graph.add_edge("worker", END)
    assert graph.compile().invoke({"results": []})["results"] == ["alpha", "beta"]
    contexts = [h.context for h in agenttrace.trace.find("handoff")]
    assert contexts == [{"n": 2, "task": "alpha"}, {"n": 2, "task": "beta"}]  # before the fix: the update only


def test_parallel_agents_reusing_a_tool_call_id_keep_their_own_tools(agenttrace: Recorder) -> None:
    import time

    @tool
    def read_db(query: str) -> str:
        """Read the database."""
        return "rows"

    def agent(name: str, delay: float, after: float, tool_: Any) -> Any:
        # Both models ask with id "call_1"; the timing lets the analyst's model answer between the
        # researcher's model and the researcher's tool call.
        model = ScriptedChatModel(
            script=[
                AIMessage("", tool_calls=[{"name": tool_.name, "args": {"query": "x"}, "id": "call_1"}]),
                AIMessage("done"),
            ]
        )

        def call_model(state: MessagesState) -> dict[str, Any]:
            time.sleep(delay)
            reply = model.invoke(state["messages"])
            time.sleep(after)
            return {"messages": [reply]}

        graph = StateGraph(MessagesState)
        graph.add_node("model", call_model)
        graph.add_node("tools", ToolNode([tool_]))
        graph.add_edge(START, "model")
        graph.add_conditional_edges("model", tools_condition)
        graph.add_edge("tools", "model")
        return graph.compile(name=name)

    top = StateGraph(MessagesState)
    top.add_node("researcher", agent("researcher", 0.0, 0.05, web_search))
    top.add_node("analyst", agent("analyst", 0.02, 0.1, read_db))
    top.add_edge(START, "researcher")
    top.add_edge(START, "analyst")
    top.add_edge("researcher", END)
    top.add_edge("analyst", END)
    top.compile().invoke({"messages": [("user", "hi")]})
    tools = {s.name: s.agent for s in agenttrace.trace.find("tool")}
    assert tools == {"web_search": "researcher", "read_db": "analyst"}  # before: web_search@analyst
    for span, _depth in agenttrace.trace.walk():
        if span.kind == "tool":
            parent = agenttrace.trace.get_span(span.parent_id)
            assert parent is not None and parent.agent == span.agent


def test_stopping_a_stream_is_not_an_error(agenttrace: Recorder) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    for _ in _two_agent_graph().stream({"messages": [("user", "hi")]}):
        break
    model = GenericFakeChatModel(messages=iter([AIMessage("one two three")]))
    for _ in model.stream("hi"):
        break
    spans = agenttrace.trace.spans
    assert [s for s in spans if s.status != "ok"] == []  # before the fix: GeneratorExit errors
    graph_span, llm_span = spans[0], spans[-1]
    assert graph_span.kind == "custom" and graph_span.attributes["stream_closed_early"] is True
    assert llm_span.kind == "llm" and llm_span.attributes["stream_closed_early"] is True
    assert llm_span.output == {"role": "assistant", "content": "one"}  # what came before the break


def test_long_tool_payloads_are_not_cut_silently(agenttrace: Recorder) -> None:
    @tool
    def bulk_delete(ids: list[int]) -> list[int]:
        """Delete records."""
        return ids

    bulk_delete.invoke({"ids": list(range(100))})
    bulk_delete.invoke({"ids": list(range(40, 100))})
    bulk_delete.invoke({"ids": list(range(300))})
    first, second, long = agenttrace.trace.find("tool")
    assert first.input == {"ids": list(range(100))} and len(first.output) == 100  # before: the last 50
    assert second.input != first.input
    assert long.input["ids"][:200] == list(range(200))  # the recorder's cap, with its marker
    assert long.input["ids"][-1] == "…[agenttrace: truncated 100 of 300 items]"
