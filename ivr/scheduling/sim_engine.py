"""The center as a discrete-event model: callers wait in the catalog's queues,
agents from a shift plan take them under app_queue's rules.

Theory of operation. simpy keeps the clock and the event list; everything
else is a dispatcher kept in one invariant: *after every event, no ready
agent is eligible for any waiting caller*. Only four things can break it,
and each is followed at once by the one search it needs:

- a caller joins a queue (arrival, overflow, `when_empty`): it takes the best
  ready eligible agent of that queue, chosen by the queue's strategy;
- a caller's max penalty widens: the same search at the wider penalty;
- an agent becomes ready (shift start, back from a break, end of wrap-up):
  it takes the best waiting caller of all its queues;
- nothing else makes an agent ready or a caller eligible.

Because the invariant held before the event, the greedy choice is the one
app_queue would make: nobody ahead of the caller could use that agent.

Rules mirrored from app_queue (queues.conf as `ivr render` writes it):

- Order: higher caller priority first, FIFO within a priority (per queue).
  A caller whose turn comes but who may not use the free agent (its penalty is
  above the caller's max) does not block callers behind it (autofill = yes).
- Penalties: an agent is eligible if its penalty in the queue is <= the
  caller's max penalty, which starts at `max_penalty` (None: every member)
  and is raised by each `widen` step `after` seconds into *that* queue (the
  clock restarts on overflow, as a new Queue() call does).
- Among eligible ready agents, the lowest penalty first, then the strategy:
  `leastrecent` the longest since their last call ended (shared_lastcall =
  yes: one last call per agent; agents who had none yet go by seat order);
  `fewestcalls` fewest calls taken in this queue; `rrmemory` the first
  member after the one who took the last call (member order = seat order in
  the catalog), wrapping round: app_queue's rrpos, remembered per queue;
  `linear` the first member in seat order; `ringall` and `random` one at
  random (ringall's "first to pick up" is a race the model does not have);
  `wrandom` app_queue's weighted random over every eligible level
  (metric uniform in [0, 1000 * (1 + penalty))).
- An agent answering a call is busy in every queue for the talk time and
  then the wrap-up of the queue that answered it (app_queue really applies
  each queue's own wrapuptime to the shared last call; the brief's choice,
  and the same when wrap-ups are equal).
- Across queues an agent's next caller is the one with the highest priority,
  then the longest wait since it reached the center. (In app_queue it is a
  race between waiting callers' ring cycles; oldest-first is its expected
  outcome and keeps the model deterministic.)
- Overflow: `after` seconds unanswered in the queue, the caller moves to
  `overflow.queue` at the same priority; its patience and its wait go on.
- Empty: a queue with join_empty conditions is empty when no member counts:
  a member counts when logged in (on shift) and not excluded by a condition
  (`paused`: on a break or meal; `penalty`: above the queue's max_penalty;
  `inuse`/`wrapup`: busy). A caller arriving at an empty queue goes to its
  `when_empty`; with leave_when_empty, waiting callers go there the moment
  the last counting member pauses or logs off (app_queue notices within a
  second). Without `when_empty` the caller is sent away (`exited`).
- Breaks and shift ends pause the agent; a call in progress is finished first.
- Ring time is not modelled: a ready agent answers at once, and never lets a
  call ring out (no ring_timeout, no retry). Real ASA is higher by a few
  seconds per answered call.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import simpy

from ivr.catalog.model import Catalog, EmptyCondition, Queue
from ivr.metrics import kpi
from ivr.scheduling.model import Shift
from ivr.scheduling.sim_report import READY, TALK, WRAPUP, Row, SeatStats, SimulationReport, Tally

# Above every penalty a catalog allows (0..10): "every member".
NO_LIMIT = 1_000
WAITING, ANSWERED, ABANDONED, EXITED = range(4)
# An agent's shift changes, in the order they apply at equal times.
LOG_IN, BREAK_ENDS, BREAK_STARTS, LOG_OFF = range(4)
BUSY_CONDITIONS: frozenset[EmptyCondition] = frozenset({"inuse", "wrapup"})


@dataclass(frozen=True, slots=True)
class Call:
    """One caller: who they want, when they come, how long they talk, how long they wait at most."""

    group: str
    arrival: float
    # Conversation seconds; the wrap-up of the queue that answers follows.
    talk: float
    patience: float = math.inf
    # Queue priority; None: the group's (catalog tiers and lost_card, see `group_priorities`).
    priority: int | None = None


def group_priorities(catalog: Catalog) -> dict[str, int]:
    """Each skill group's caller priority, from the tier or lost-card policy that routes to it (else 0)."""
    found: dict[str, int] = {}
    routes = [(policy.queue, policy.priority) for policy in catalog.tiers.values()]
    if catalog.lost_card is not None:
        routes.append((catalog.lost_card.queue, catalog.lost_card.priority))
    for queue, priority in routes:
        if queue is not None:
            found[queue] = max(found.get(queue, 0), priority)
    return found


class _Caller:
    __slots__ = ("call", "first", "max_penalty", "order", "priority", "queue", "row", "state", "token")

    def __init__(self, call: Call, first: _Queue, priority: int, order: int, row: Row) -> None:
        self.call = call
        self.first = first
        self.priority = priority
        self.order = order
        self.row = row
        self.queue: _Queue | None = None
        # Bumped each time the caller leaves a queue: queue entries and timers
        # carrying an older token are stale.
        self.token = 0
        self.max_penalty = NO_LIMIT
        self.state = WAITING


class _Agent:
    __slots__ = ("answered", "busy", "calls", "group", "idle_since", "last_call_end", "memberships", "on_shift",
                 "order", "pauses", "seat", "seconds")  # fmt: skip

    def __init__(self, seat: str, order: int, group: str) -> None:
        self.seat = seat
        self.order = order
        self.group = group
        # (queue, penalty, pool, member position), in the agent's skill order.
        self.memberships: list[tuple[_Queue, int, _Pool, int]] = []
        self.on_shift = 0  # shifts in force (overlapping shifts of one seat add up)
        self.pauses = 0  # breaks and meals in force
        self.busy = False
        self.idle_since = 0.0
        self.last_call_end = -math.inf
        self.calls: dict[str, int] = {}  # queue id -> calls answered for it (fewestcalls)
        self.answered = 0
        self.seconds = [0.0, 0.0, 0.0]  # TALK, WRAPUP, READY over the run

    @property
    def ready(self) -> bool:
        return self.on_shift > 0 and self.pauses == 0 and not self.busy


class _Pool:
    """The ready agents of one queue at one penalty, in the strategy's order."""

    def __len__(self) -> int:
        raise NotImplementedError

    def add(self, agent: _Agent, position: int) -> None:
        raise NotImplementedError

    def remove(self, agent: _Agent) -> None:
        raise NotImplementedError

    def best(self) -> _Agent:
        """The agent the strategy picks; only called on a non-empty pool."""
        raise NotImplementedError

    def agents(self) -> Iterable[_Agent]:
        raise NotImplementedError


class _OrderedPool(_Pool):
    """Smallest key first (leastrecent, fewestcalls, linear); keys are fixed while an agent is ready.
    Removal is lazy: an entry is live while its sequence number is the agent's current one."""

    def __init__(self, key: Callable[[_Agent, int], tuple[float, ...]]) -> None:
        self._key = key
        self._heap: list[tuple[tuple[float, ...], int, _Agent]] = []
        self._live: dict[_Agent, int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._live)

    def add(self, agent: _Agent, position: int) -> None:
        self._seq += 1
        self._live[agent] = self._seq
        heapq.heappush(self._heap, (self._key(agent, position), self._seq, agent))
        if len(self._heap) > 64 and len(self._heap) > 4 * len(self._live):
            self._heap = [entry for entry in self._heap if self._live.get(entry[2]) == entry[1]]
            heapq.heapify(self._heap)

    def remove(self, agent: _Agent) -> None:
        del self._live[agent]

    def best(self) -> _Agent:
        heap, live = self._heap, self._live
        while live.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)
        return heap[0][2]

    def agents(self) -> Iterable[_Agent]:
        return self._live.keys()


class _RandomPool(_Pool):
    """Uniform pick (random, ringall): a list with swap-removal."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._items: list[_Agent] = []
        self._index: dict[_Agent, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, agent: _Agent, position: int) -> None:
        self._index[agent] = len(self._items)
        self._items.append(agent)

    def remove(self, agent: _Agent) -> None:
        index = self._index.pop(agent)
        last = self._items.pop()
        if last is not agent:
            self._items[index] = last
            self._index[last] = index

    def best(self) -> _Agent:
        return self._items[self._rng.randrange(len(self._items))]

    def agents(self) -> Iterable[_Agent]:
        return self._items


class _RoundRobinPool(_Pool):
    """rrmemory: the first ready member after the queue's last answering position, wrapping."""

    def __init__(self, queue: _Queue) -> None:
        self._queue = queue
        self._positions: list[int] = []
        self._by_position: dict[int, _Agent] = {}
        self._position_of: dict[_Agent, int] = {}

    def __len__(self) -> int:
        return len(self._positions)

    def add(self, agent: _Agent, position: int) -> None:
        bisect.insort(self._positions, position)
        self._by_position[position] = agent
        self._position_of[agent] = position

    def remove(self, agent: _Agent) -> None:
        position = self._position_of.pop(agent)
        del self._positions[bisect.bisect_left(self._positions, position)]
        del self._by_position[position]

    def best(self) -> _Agent:
        index = bisect.bisect_right(self._positions, self._queue.rrpos)
        return self._by_position[self._positions[index if index < len(self._positions) else 0]]

    def agents(self) -> Iterable[_Agent]:
        return self._position_of.keys()


class _Queue:
    __slots__ = ("classes", "id", "initial_max", "join_when", "leave_on_busy", "leave_when", "levels", "logged_in",
                 "overflow_after", "overflow_to", "pools", "priorities", "rrpos", "service_level_seconds", "spec",
                 "waiting", "when_empty", "widen", "wrapup")  # fmt: skip

    def __init__(self, spec: Queue) -> None:
        self.spec = spec
        self.id = spec.id
        self.wrapup = float(spec.wrapup)
        self.service_level_seconds = float(spec.service_level_seconds)
        self.initial_max = NO_LIMIT if spec.max_penalty is None else spec.max_penalty
        self.join_when = frozenset(spec.join_empty)
        self.leave_when = frozenset(spec.leave_when_empty)
        self.leave_on_busy = bool(self.leave_when & BUSY_CONDITIONS)
        # Waiting callers: priority -> FIFO of (caller, token); stale entries are skipped.
        self.classes: dict[int, deque[tuple[_Caller, int]]] = {}
        self.priorities: list[int] = []  # keys of `classes`, highest first
        self.waiting = 0
        self.pools: dict[int, _Pool] = {}
        self.levels: list[int] = []  # member penalties, lowest first
        self.logged_in: dict[_Agent, int] = {}  # agent -> penalty, members on shift
        self.rrpos = -1
        self.widen: list[tuple[float, int]] = []
        self.overflow_after = 0.0
        self.overflow_to: _Queue | None = None
        self.when_empty: _Queue | None = None

    def push(self, caller: _Caller) -> None:
        fifo = self.classes.get(caller.priority)
        if fifo is None:
            fifo = self.classes[caller.priority] = deque()
            self.priorities = sorted(self.classes, reverse=True)
        fifo.append((caller, caller.token))
        self.waiting += 1

    def first_for(self, penalty: int) -> _Caller | None:
        """The first waiting caller in queue order who may be answered by a member at `penalty`.

        Within a priority, callers widen in the order they joined, so if the
        head of a priority may not use the member, nobody behind it may.
        """
        for priority in self.priorities:
            fifo = self.classes[priority]
            while fifo and fifo[0][0].token != fifo[0][1]:
                fifo.popleft()
            if fifo and fifo[0][0].max_penalty >= penalty:
                return fifo[0][0]
        return None

    def waiting_callers(self) -> list[_Caller]:
        return [caller for p in self.priorities for caller, token in self.classes[p] if caller.token == token]


class Center:
    """The dispatcher over one run: build it, then `run()` it once for the report."""

    def __init__(
        self,
        catalog: Catalog,
        calls: Sequence[Call],
        shifts: Sequence[Shift],
        seed: int,
        intervals: Iterable[tuple[str, float]] = (),
    ) -> None:
        self.rng = random.Random(seed)
        self.tally = Tally()
        for group, start in intervals:  # reported even if no call came
            self.tally.row(group, start)
        self.queues = {spec.id: _Queue(spec) for spec in catalog.queues}
        unknown = sorted({call.group for call in calls} - self.queues.keys())
        if unknown:
            raise ValueError(f"calls for unknown skill groups: {', '.join(unknown)}")
        if any(not (call.talk >= 0 and call.patience > 0) for call in calls):
            raise ValueError("every call needs talk >= 0 and patience > 0 seconds")
        for queue in self.queues.values():
            spec = queue.spec
            if spec.overflow is not None:
                queue.overflow_to = self.queues.get(spec.overflow.queue)
                queue.overflow_after = float(spec.overflow.after)
            if spec.when_empty is not None:
                queue.when_empty = self.queues.get(spec.when_empty)
        self.agents = self._agents(catalog, shifts)
        for queue in self.queues.values():
            queue.widen = self._widen_steps(queue)
        start = min([call.arrival for call in calls] + [shift.start for shift in shifts], default=0.0)
        self.env = simpy.Environment(initial_time=start)
        priorities = group_priorities(catalog)
        self.callers = [
            _Caller(
                call,
                self.queues[call.group],
                priorities.get(call.group, 0) if call.priority is None else call.priority,
                order,
                self.tally.row(call.group, call.arrival),
            )
            for order, call in enumerate(sorted(calls, key=lambda call: call.arrival))
        ]
        # simpy runs events due at the same time in the order they were scheduled:
        # shifts first, so agents logging in as the run starts are there for the first callers.
        for shift in shifts:
            self.env.process(self._shift(self.agents[shift.seat], shift))
        self.env.process(self._arrivals())

    def run(self, seed: int, started: float) -> SimulationReport:
        """Run to the end (every caller decided or stranded) and report; `started` is the wall clock's
        reading when the work began (`time.perf_counter`), the one figure not derived from the inputs."""
        self.env.run()
        for caller in self.callers:
            if caller.state == WAITING:
                caller.row.unserved += 1
        seats = {
            agent.seat: SeatStats(agent.seat, agent.answered, *agent.seconds)
            for agent in sorted(self.agents.values(), key=lambda agent: agent.order)
        }
        return self.tally.report(seats, len(self.callers), seed, time.perf_counter() - started)

    # -- building -----------------------------------------------------------

    def _agents(self, catalog: Catalog, shifts: Sequence[Shift]) -> dict[str, _Agent]:
        """One agent per seat in the plan, skills from the catalog; a seat the
        catalog does not know (a what-if hire) has its shift's group at penalty 0."""
        skills = {seat.id: seat.skills for seat in catalog.seats}
        order = {seat.id: index for index, seat in enumerate(catalog.seats)}
        agents: dict[str, _Agent] = {}
        for shift in shifts:
            if shift.seat not in agents:
                index = order.get(shift.seat, len(order) + len(agents))
                agents[shift.seat] = _Agent(shift.seat, index, shift.group)
        members: dict[str, list[tuple[_Agent, int]]] = {queue_id: [] for queue_id in self.queues}
        for agent in sorted(agents.values(), key=lambda agent: agent.order):
            for queue_id, penalty in skills.get(agent.seat, {agent.group: 0}).items():
                if queue_id in members:
                    members[queue_id].append((agent, penalty))
        for queue_id, listed in members.items():
            queue = self.queues[queue_id]
            queue.levels = sorted({penalty for _, penalty in listed})
            queue.pools = {penalty: self._pool(queue) for penalty in queue.levels}
            for position, (agent, penalty) in enumerate(listed):
                agent.memberships.append((queue, penalty, queue.pools[penalty], position))
        return agents

    def _pool(self, queue: _Queue) -> _Pool:
        strategy = queue.spec.strategy
        if strategy == "leastrecent":
            return _OrderedPool(lambda agent, position: (agent.last_call_end, position))
        if strategy == "fewestcalls":
            return _OrderedPool(lambda agent, position: (agent.calls.get(queue.id, 0), position))
        if strategy == "linear":
            return _OrderedPool(lambda agent, position: (position,))
        if strategy == "rrmemory":
            return _RoundRobinPool(queue)
        return _RandomPool(self.rng)  # random, ringall, wrandom (picked across levels in `_pick`)

    @staticmethod
    def _widen_steps(queue: _Queue) -> list[tuple[float, int]]:
        """The widen steps that let in at least one member not eligible before."""
        steps, admitted = [], queue.initial_max
        for step in sorted(queue.spec.widen, key=lambda step: step.after):
            if any(admitted < level <= step.max_penalty for level in queue.levels):
                steps.append((float(step.after), step.max_penalty))
            admitted = max(admitted, step.max_penalty)
        return steps

    # -- processes ----------------------------------------------------------

    def _arrivals(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        for caller in self.callers:
            if caller.call.arrival > env.now:
                yield env.timeout(caller.call.arrival - env.now)
            self._arrive(caller)

    def _shift(self, agent: _Agent, shift: Shift) -> Generator[simpy.Event, Any, None]:
        changes = [(shift.start, LOG_IN), (shift.end, LOG_OFF)]
        for pause in shift.activities:
            changes += [(pause.start, BREAK_STARTS), (pause.end, BREAK_ENDS)]
        env = self.env
        for at, change in sorted(changes):
            if at > env.now:
                yield env.timeout(at - env.now)
            self._change(agent, change, shift.group)

    def _later(self, delay: float, action: Callable[..., None], *args: Any) -> None:
        self.env.timeout(delay).callbacks.append(partial(action, *args))

    # -- callers ------------------------------------------------------------

    def _arrive(self, caller: _Caller) -> None:
        caller.row.offered += 1
        self._enter(caller, caller.first)
        if caller.state == WAITING and caller.call.patience < math.inf:
            self._later(caller.call.patience, self._abandon, caller)

    def _enter(self, caller: _Caller, queue: _Queue) -> None:
        hops = 0
        while queue.join_when and self._empty(queue, queue.join_when):
            target = queue.when_empty
            hops += 1
            if target is None or hops > len(self.queues):
                self._exit(caller, queue)
                return
            self._count_move(caller, queue, target, "empty")
            queue = target
        caller.max_penalty = queue.initial_max
        agent = self._pick(queue, caller.max_penalty)
        if agent is not None:
            self._answer(caller, agent, queue)
            return
        caller.queue = queue
        queue.push(caller)
        token = caller.token
        for after, penalty in queue.widen:
            self._later(after, self._widen, caller, token, penalty)
        if queue.overflow_to is not None:
            self._later(queue.overflow_after, self._overflow, caller, token)

    def _leave(self, caller: _Caller) -> _Queue:
        queue = caller.queue
        assert queue is not None
        queue.waiting -= 1
        caller.queue = None
        caller.token += 1
        return queue

    def _widen(self, caller: _Caller, token: int, penalty: int, _event: simpy.Event) -> None:
        if caller.token != token or caller.queue is None:
            return
        caller.max_penalty = max(caller.max_penalty, penalty)
        agent = self._pick(caller.queue, caller.max_penalty)
        if agent is not None:
            self._answer(caller, agent, caller.queue)

    def _overflow(self, caller: _Caller, token: int, _event: simpy.Event) -> None:
        if caller.token != token or caller.queue is None or caller.queue.overflow_to is None:
            return
        target = caller.queue.overflow_to
        self._count_move(caller, self._leave(caller), target, "overflow")
        self._enter(caller, target)

    def _abandon(self, caller: _Caller, _event: simpy.Event) -> None:
        if caller.state != WAITING:
            return
        self._leave(caller)
        caller.state = ABANDONED
        if kpi.is_short_abandon(self.env.now - caller.call.arrival):
            caller.row.short_abandoned += 1
        else:
            caller.row.abandoned += 1

    def _exit(self, caller: _Caller, queue: _Queue) -> None:
        caller.state = EXITED
        self.tally.row(queue.id, caller.call.arrival).exited += 1

    def _count_move(self, caller: _Caller, source: _Queue, target: _Queue, how: Literal["overflow", "empty"]) -> None:
        out, into = self.tally.row(source.id, caller.call.arrival), self.tally.row(target.id, caller.call.arrival)
        if how == "overflow":
            out.overflowed_out += 1
            into.overflowed_in += 1
        else:
            out.empty_out += 1
            into.empty_in += 1

    # -- matching -----------------------------------------------------------

    def _pick(self, queue: _Queue, max_penalty: int) -> _Agent | None:
        """The ready member the queue's strategy rings for a caller at `max_penalty`."""
        if queue.spec.strategy == "wrandom":
            return self._pick_weighted(queue, max_penalty)
        pools = queue.pools
        for level in queue.levels:
            if level > max_penalty:
                break
            pool = pools[level]
            if len(pool):
                return pool.best()
        return None

    def _pick_weighted(self, queue: _Queue, max_penalty: int) -> _Agent | None:
        best: tuple[float, int] | None = None
        chosen = None
        for level in queue.levels:
            if level > max_penalty:
                break
            for agent in queue.pools[level].agents():
                metric = (self.rng.random() * 1000 * (1 + level), agent.order)
                if best is None or metric < best:
                    best, chosen = metric, agent
        return chosen

    def _answer(self, caller: _Caller, agent: _Agent, queue: _Queue) -> None:
        if caller.queue is not None:  # it was waiting (not answered on joining)
            self._leave(caller)
        caller.state = ANSWERED
        wait = self.env.now - caller.call.arrival
        row = caller.row
        row.answered += 1
        row.answered_wait_seconds += wait
        if kpi.answered_within(wait, caller.first.service_level_seconds):
            row.answered_within += 1
        if wait <= 0:
            row.answered_immediately += 1
        self._take(agent, queue, caller.call.talk)

    def _take(self, agent: _Agent, queue: _Queue, talk: float) -> None:
        now = self.env.now
        self._unready(agent)
        agent.busy = True
        end_of_talk = now + talk
        done = end_of_talk + queue.wrapup
        self.tally.spend(agent.group, now, end_of_talk, TALK)
        self.tally.spend(agent.group, end_of_talk, done, WRAPUP)
        agent.answered += 1
        agent.seconds[TALK] += talk
        agent.seconds[WRAPUP] += queue.wrapup
        agent.last_call_end = end_of_talk
        agent.calls[queue.id] = agent.calls.get(queue.id, 0) + 1
        if queue.spec.strategy == "rrmemory":
            for member_queue, _, _, position in agent.memberships:
                if member_queue is queue:
                    queue.rrpos = position
        self._later(done - now, self._done, agent)
        if any(q.leave_on_busy for q, _, _, _ in agent.memberships):
            self._leave_if_empty(agent, busy_only=True)

    def _done(self, agent: _Agent, _event: simpy.Event) -> None:
        agent.busy = False
        if agent.ready:
            self._ready(agent)
            self._serve(agent)

    def _serve(self, agent: _Agent) -> None:
        """The ready agent takes the best caller waiting in any of its queues."""
        best: _Caller | None = None
        best_queue: _Queue | None = None
        for queue, penalty, _, _ in agent.memberships:
            if not queue.waiting:
                continue
            caller = queue.first_for(penalty)
            if caller is not None and (best is None or (-caller.priority, caller.order) < (-best.priority, best.order)):
                best, best_queue = caller, queue
        if best is not None and best_queue is not None:
            self._answer(best, agent, best_queue)

    # -- agents -------------------------------------------------------------

    def _change(self, agent: _Agent, change: int, group: str) -> None:
        was_ready = agent.ready
        if change == LOG_IN:
            agent.on_shift += 1
            agent.group = group
            if agent.on_shift == 1:
                for queue, penalty, _, _ in agent.memberships:
                    queue.logged_in[agent] = penalty
        elif change == LOG_OFF:
            agent.on_shift -= 1
            if agent.on_shift == 0:
                for queue, _, _, _ in agent.memberships:
                    queue.logged_in.pop(agent, None)
        elif change == BREAK_STARTS:
            agent.pauses += 1
        else:
            agent.pauses -= 1
        if was_ready and not agent.ready:
            self._unready(agent)
        elif agent.ready and not was_ready:
            self._ready(agent)
            self._serve(agent)
        if change in (BREAK_STARTS, LOG_OFF):
            self._leave_if_empty(agent, busy_only=False)

    def _ready(self, agent: _Agent) -> None:
        agent.idle_since = self.env.now
        for _, _, pool, position in agent.memberships:
            pool.add(agent, position)

    def _unready(self, agent: _Agent) -> None:
        """The agent stops being ready (answers, pauses, logs off): its ready time is counted."""
        self.tally.spend(agent.group, agent.idle_since, self.env.now, READY)
        agent.seconds[READY] += self.env.now - agent.idle_since
        for _, _, pool, _ in agent.memberships:
            pool.remove(agent)

    # -- empty queues -------------------------------------------------------

    @staticmethod
    def _empty(queue: _Queue, conditions: frozenset[EmptyCondition]) -> bool:
        """No member counts under app_queue's joinempty/leavewhenempty `conditions`."""
        paused = "paused" in conditions
        busy = bool(conditions & BUSY_CONDITIONS)
        penalty = "penalty" in conditions
        for agent, level in queue.logged_in.items():
            if (paused and agent.pauses) or (busy and agent.busy) or (penalty and level > queue.initial_max):
                continue
            return False
        return True

    def _leave_if_empty(self, agent: _Agent, *, busy_only: bool) -> None:
        for queue, _, _, _ in agent.memberships:
            if not queue.waiting or not queue.leave_when or (busy_only and not queue.leave_on_busy):
                continue
            if not self._empty(queue, queue.leave_when):
                continue
            for caller in queue.waiting_callers():
                self._leave(caller)
                if queue.when_empty is None:
                    self._exit(caller, queue)
                else:
                    self._count_move(caller, queue, queue.when_empty, "empty")
                    self._enter(caller, queue.when_empty)
