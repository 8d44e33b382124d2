"""The ``deadlock`` detector: agents waiting on each other at the same time.

A sweep line over the ``wait`` spans' intervals keeps the wait-for graph of the
moment (agent -> ``attributes.waiting_on``).  Each wait that starts adds an
edge; if the target can already reach the waiting agent, the edges on that
path and the new one form a cycle whose waits all overlap (they are all
active at this instant).  A search touches only the active edges between
distinct agents, forward from the target and backward from the waiter by turns
until one side runs out (:meth:`_WaitGraph.reachable`), so the cost is
``O(waits x log waits + waits x the smaller side's active agent pairs)``.
"""

from __future__ import annotations

from operator import itemgetter

from ...model import Span, Trace
from ._registry import Finding, agent_name, detector, duration_text, str_list

__all__ = ["deadlock"]


class _WaitGraph:
    """Active waits keyed by (waiter, target) so a search walks agent pairs, not spans."""

    __slots__ = ("edges", "sources", "targets")

    def __init__(self) -> None:
        self.edges: dict[tuple[str, str], dict[str, Span]] = {}
        self.targets: dict[str, dict[str, None]] = {}
        self.sources: dict[str, dict[str, None]] = {}

    def add(self, waiter: str, target: str, span: Span) -> None:
        self.edges.setdefault((waiter, target), {})[span.span_id] = span
        self.targets.setdefault(waiter, {})[target] = None
        self.sources.setdefault(target, {})[waiter] = None

    def remove(self, waiter: str, target: str, span: Span) -> None:
        spans = self.edges.get((waiter, target))
        if spans is None:
            return
        spans.pop(span.span_id, None)
        if not spans:
            del self.edges[(waiter, target)]
            del self.targets[waiter][target]
            del self.sources[target][waiter]

    def reachable(self, source: str, goal: str) -> bool:
        """Whether ``goal`` can be reached from ``source``: searched forward and backward by turns.

        Whichever side runs out first answers "no", so a search costs what the smaller side holds
        (a chain of waits begun from its far end: the new waiter has no one waiting on it yet).
        """
        if source == goal:
            return True
        ahead, behind = {source}, {goal}
        forward, backward = [source], [goal]
        while forward and backward:
            if _meets(self.targets, forward, ahead, behind) or _meets(self.sources, backward, behind, ahead):
                return True
        return False

    def path(self, source: str, goal: str) -> list[str] | None:
        """Agents from ``source`` to ``goal`` along active waits (depth-first), or ``None``.

        The depth-first search, which picks the path reported, runs only once :meth:`reachable`
        said there is one: most waits close no cycle, and answering that costs the smaller side.
        """
        if source == goal:
            return [source]
        if not self.reachable(source, goal):
            return None
        previous: dict[str, str] = {source: source}
        stack = [source]
        while stack:
            node = stack.pop()
            for nxt in self.targets.get(node, ()):
                if nxt in previous:
                    continue
                previous[nxt] = node
                if nxt == goal:
                    out = [goal]
                    while out[-1] != source:
                        out.append(previous[out[-1]])
                    return out[::-1]
                stack.append(nxt)
        return None

    def newest(self, waiter: str, target: str) -> Span:
        spans = self.edges[(waiter, target)]
        return spans[next(reversed(spans))]


def _meets(neighbours: dict[str, dict[str, None]], frontier: list[str], seen: set[str], other_side: set[str]) -> bool:
    """One step of a search: the next agent of ``frontier``'s neighbours queued; whether one is on the other side."""
    for agent in neighbours.get(frontier.pop(), ()):
        if agent in other_side:
            return True
        if agent not in seen:
            seen.add(agent)
            frontier.append(agent)
    return False


@detector(
    "deadlock",
    "Wait spans whose intervals overlap and whose agent -> waiting_on edges form a cycle.",
)
def deadlock(trace: Trace) -> list[Finding]:
    """One finding per distinct set of overlapping waits that close a cycle."""
    edges = [
        (span, span.agent, target)
        for span in trace.index.by_kind.get("wait", ())
        if span.agent and span.end_ns > span.start_ns  # an instantaneous wait overlaps nothing
        for target in str_list(span.attributes.get("waiting_on"))
    ]
    # Only waits between agents that wait on each other somewhere in the run can deadlock:
    # keep the edges inside a strongly connected component of the whole run's wait-for graph.
    cyclic = _cyclic_pairs({(waiter, target) for _, waiter, target in edges})
    events: list[tuple[int, int, int, Span, str, str]] = []
    for position, (span, waiter, target) in enumerate(edges):
        if (waiter, target) in cyclic:
            # Ends sort before starts at the same instant: touching intervals do not overlap.
            events.append((span.end_ns, 0, position, span, waiter, target))
            events.append((span.start_ns, 1, position, span, waiter, target))
    events.sort(key=itemgetter(0, 1, 2))
    graph = _WaitGraph()
    seen: set[frozenset[str]] = set()
    findings: list[Finding] = []
    for time, is_start, _, span, waiter, target in events:
        if not is_start:
            graph.remove(waiter, target, span)
            continue
        back = graph.path(target, waiter)
        graph.add(waiter, target, span)
        if back is None:
            continue
        agents = [waiter, *back[:-1]]  # waiter -> target -> ... (back to waiter)
        waits = [graph.newest(a, b) for a, b in zip(agents, [*agents[1:], agents[0]], strict=True)]
        # Tell the story from the wait that began first.
        order = trace.index.order  # built on first use: only a found cycle needs it
        first = min(range(len(waits)), key=lambda i: (waits[i].start_ns, order.get(waits[i].span_id, 0)))
        agents, waits = agents[first:] + agents[:first], waits[first:] + waits[:first]
        cycle = [*agents, agents[0]]
        ids = tuple(dict.fromkeys(w.span_id for w in waits))
        if frozenset(ids) in seen:
            continue
        seen.add(frozenset(ids))
        until = min(w.end_ns for w in waits)
        chain_text = " -> ".join(agent_name(a) for a in cycle)
        pairs = "; ".join(
            f"{agent_name(w.agent)} waits on {' and '.join(str_list(w.attributes.get('waiting_on')))} (span {w.span_id})"
            for w in waits
        )
        findings.append(
            Finding(
                message=(
                    f"deadlock: {pairs}, all at once from {duration_text(time)} to {duration_text(until)}; break the cycle or add a timeout"
                ),
                spans=ids,
                expected="no cycle of agents waiting on each other",
                found=f"wait cycle {chain_text}",
                details={"cycle": cycle, "overlap_ns": [time, until]},
            )
        )
    return findings


def _cyclic_pairs(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``(waiter, target)`` pairs that lie on some cycle (Tarjan's SCC, iterative)."""
    graph: dict[str, list[str]] = {}
    for waiter, target in pairs:
        graph.setdefault(waiter, []).append(target)
        graph.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    component: dict[str, int] = {}
    stack: list[str] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
            targets = graph[node]
            if child < len(targets):
                work.append((node, child + 1))
                nxt = targets[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt not in component:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    component[member] = index[node]
                    if member == node:
                        break
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return {(a, b) for a, b in pairs if a == b or component[a] == component[b]}
