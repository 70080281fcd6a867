"""Erlang staffing maths: how many agents a group needs on the phones.

Pure functions, no I/O. Offered load A = arrival rate x AHT, in Erlangs; every
time (AHT, patience, the service-level threshold t, ASA) is in seconds.

Theory of operation
-------------------
Erlang B (M/M/N/N, blocked calls lost) by its recursion
    B(0) = 1,  B(n) = A B(n-1) / (n + A B(n-1)),
which stays in [0, 1] at every step: no factorials, no overflow, stable for
N and A in the thousands.

Erlang C (M/M/N, callers wait as long as it takes), from B:
    C = N B / (N - A (1 - B))                       P(wait), N > A
    SL(t) = 1 - C exp(-(N - A) t / AHT)             P(answered within t)
    ASA = C AHT / (N - A)                           mean wait, all callers
With N <= A the queue grows without bound: C = 1, SL = 0, ASA = inf.

Erlang A (M/M/N+M; Palm 1946; Garnett, Mandelbaum & Reiman, "Designing a
call center with impatient customers", MSOM 4(3), 2002, "GMR"; Mandelbaum &
Zeltyn, "The Palm/Erlang-A queue, with applications to call centers", 2005):
as C, but each waiting caller hangs up at rate theta = 1 / patience
(exponential patience with mean `patience` seconds). With mu = 1 / AHT and
lambda = A mu, GMR write
    x = N mu / theta = N patience / AHT,  y = lambda / theta = A patience / AHT,
    A(x, y) = x e^y y^-x gamma(x, y) = sum_k>=0 y^k / ((x+1)(x+2)...(x+k)),
gamma the lower incomplete gamma function, and give
    P(W > 0)       = A(x,y) B / (1 + (A(x,y) - 1) B)       B = Erlang B(N, A)
    P(Ab | W > 0)  = 1 / (rho A(x,y)) + 1 - 1/rho           rho = A / N.
Behind them: a caller who must wait finds k callers ahead with probability
p_k = y^k / ((x+1)...(x+k)) / A(x,y); with i ahead they move up at rate
N mu + i theta and hang up at rate theta, so they are answered with
probability x / (x+k+1). The rest is derived here from the same chain (and
checked in the tests against the chain solved numerically):
- a caller still waiting at t has callers ahead distributed as p_k with
  y' = y e^(-theta t) in place of y (sum over the k ahead at arrival the
  chance that, by t, service and abandons have brought them down to m), so
    P(W > t | W > 0)      = e^(-theta t) gamma(x, y') / gamma(x, y)
                          = A(x,y') / A(x,y) exp(-theta t - N mu t + y (1 - e^(-theta t)))
    P(answered | W > t)   = (x / y') (1 - 1 / A(x, y'));
- the service level is the share of ALL offered callers answered within t
  (an abandon, early or late, counts against it):
    SL(t) = P(W = 0) + P(W > 0) [P(answered | W > 0) - P(W > t | W > 0) P(answered | W > t)];
  `service_level_excluding_abandons` is the ACD variant that leaves the
  callers who hang up before t out of the denominator:
    answered within t / (offered - abandoned within t);
- ASA is the mean wait of the answered calls: a caller with k ahead who is
  answered went through k+1 stages of mean 1 / (theta (x+i)), i = 1..k+1:
    E[W; answered | W > 0] = (1/theta) sum_k p_k x/(x+k+1) sum_{i=1..k+1} 1/(x+i).

A(x, y) is summed by its power series (consecutive terms have the ratio
y / (x+k+1)), rescaled when terms pass 1e250 so an overloaded queue (y >> x)
cannot overflow: gamma(x, y) computed stably without scipy. P(Ab | W > 0)
and P(answered | W > 0) are summed term by term (sum_k p_k (k+1)/(x+k+1) and
sum_k p_k x/(x+k+1)) rather than from GMR's closed form, which subtracts
numbers close to 1 when patience is long. A series needs about
min(40 / (1 - rho), sqrt(75 x)) terms: a few hundred for real patience; only
patience of days at rho near 1 makes it long.

Staffing (`agents_for_target`) searches N upwards from the fewest the
occupancy cap allows (ceil(A / cap), and N > A for Erlang C), carrying B(n)
forward by its recursion: each further candidate costs O(1) for Erlang C;
Erlang A's candidates are galloped (start, +1, +2, +4, ...) then bisected,
since the service level rises and the ASA falls with every agent added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .model import StaffingModel

# Above this a series term is rescaled (by 1e-250) so the sum cannot overflow.
_RESCALE_ABOVE = 1e250
_RESCALE_BY = 1e-250
_LOG_RESCALE = 250 * math.log(10)
# Relative size of a series' remaining tail at which summing stops.
_TAIL = 1e-17
# Slack when comparing a load with a cap (A / cap computed in floating point).
_EPS = 1e-9


def _check(servers: int, load: float, aht: float = 1.0) -> None:
    if servers < 0:
        raise ValueError(f"servers must be >= 0, got {servers}")
    if not (load >= 0 and math.isfinite(load)):
        raise ValueError(f"load must be a finite number of Erlangs >= 0, got {load}")
    if not (aht > 0 and math.isfinite(aht)):
        raise ValueError(f"aht must be > 0 seconds, got {aht}")


def erlang_b(servers: int, load: float) -> float:
    """Probability that a call finds all `servers` busy and is lost (M/M/N/N)."""
    _check(servers, load)
    b = 1.0
    for n in range(1, servers + 1):
        b = load * b / (n + load * b)
    return b


def _c_from_b(servers: int, load: float, b: float) -> float:
    if load == 0:
        return 0.0
    if servers <= load:
        return 1.0
    return servers * b / (servers - load * (1.0 - b))


def erlang_c(servers: int, load: float) -> float:
    """Probability that a caller waits (M/M/N): 1.0 when servers <= load (the
    queue never empties), 0.0 when nobody calls."""
    return _c_from_b(servers, load, erlang_b(servers, load))


def service_level_c(servers: int, load: float, aht: float, target_seconds: float) -> float:
    """Erlang C share of callers answered within `target_seconds` (0.0 when servers <= load)."""
    _check(servers, load, aht)
    c = erlang_c(servers, load)
    if c >= 1.0:
        return 0.0
    return 1.0 - c * math.exp(-(servers - load) * target_seconds / aht)


def asa_c(servers: int, load: float, aht: float) -> float:
    """Erlang C average speed of answer over all callers, seconds (inf when servers <= load)."""
    _check(servers, load, aht)
    c = erlang_c(servers, load)
    if c == 0.0:
        return 0.0
    if servers <= load:
        return math.inf
    return c * aht / (servers - load)


@dataclass(frozen=True, slots=True)
class ErlangA:
    """What Erlang A predicts for `servers` agents (see the module docstring for the formulas)."""

    servers: int
    load: float
    # Share of callers who wait at all, and who hang up before an agent answers.
    p_wait: float
    p_abandon: float
    # Answered within t / offered (an abandon at any time counts against it).
    service_level: float
    # Answered within t / (offered - abandoned within t).
    service_level_excluding_abandons: float
    # Mean wait of the answered calls, seconds (inf when nobody is answered).
    asa: float
    # Mean wait of all callers, answered or not: P(abandon) x patience (Little's law).
    mean_wait: float
    # Busy share of the agents: carried load (A x (1 - P(abandon))) / servers.
    occupancy: float


def _series(x: float, y: float) -> tuple[float, float]:
    """sum_k u_k with u_k = y^k / ((x+1)...(x+k+1)), as (mantissa, log scale):
    the sum is mantissa x e^scale. A(x, y) = 1 + y sum_k u_k."""
    u = 1.0 / (x + 1.0)
    total = u
    scale = 0.0
    k = 0
    while True:
        ratio = y / (x + k + 2.0)
        # Past the largest term every later one shrinks by at least `ratio`.
        if ratio < 1.0 and u * ratio <= _TAIL * (1.0 - ratio) * total:
            return total, scale
        k += 1
        u *= ratio
        total += u
        if u > _RESCALE_ABOVE:
            u *= _RESCALE_BY
            total *= _RESCALE_BY
            scale += _LOG_RESCALE


@dataclass(frozen=True, slots=True)
class _Sums:
    """sum_k u_k, sum_k (k+1) u_k and sum_k H_k u_k, with
    u_k = y^k / ((x+1)...(x+k+1)) and H_k = sum_{i=1..k+1} 1/(x+i),
    all three as mantissas of the common factor e^scale."""

    u: float
    ahead: float
    stages: float
    scale: float


def _sums(x: float, y: float) -> _Sums:
    """`_series` with the two weighted sums that P(abandon) and the ASA need."""
    u = 1.0 / (x + 1.0)
    h = u
    su, sk, sh = u, u, h * u
    scale = 0.0
    k = 0
    while True:
        ratio = y / (x + k + 2.0)
        if ratio < 1.0:
            # Terms only shrink from here, at least by `ratio` each: bound the
            # tails (weights k+1 and H_k grow by at most 1 and 1/(x+1) a term).
            geo = ratio / (1.0 - ratio)
            if u * geo <= _TAIL * su:
                geo2 = geo / (1.0 - ratio)
                if u * ((k + 1) * geo + geo2) <= _TAIL * sk and u * (h * geo + geo2 / (x + 1.0)) <= _TAIL * sh:
                    return _Sums(su, sk, sh, scale)
        k += 1
        u *= ratio
        h += 1.0 / (x + k + 1.0)
        su += u
        sk += (k + 1) * u
        sh += h * u
        if u > _RESCALE_ABOVE:
            u *= _RESCALE_BY
            su *= _RESCALE_BY
            sk *= _RESCALE_BY
            sh *= _RESCALE_BY
            scale += _LOG_RESCALE


@dataclass(frozen=True, slots=True)
class _Wait:
    """The parts of Erlang A that the service level needs."""

    p_wait: float
    served_if_wait: float  # P(served | W > 0)
    still_waiting: float  # P(W > t | W > 0)
    service_level: float


def _wait(
    servers: int, load: float, aht: float, patience: float, target_seconds: float, b: float, u: float, scale: float
) -> _Wait:
    """P(wait), P(served | wait), P(W > t | wait) and the service level, from
    Erlang B `b` and the series sum_k u_k at y (mantissa `u`, log `scale`)."""
    x = servers * patience / aht
    y = load * patience / aht
    d = math.exp(-scale) + y * u  # A(x, y) = d e^scale
    log_a = scale + math.log(d)
    p_wait = b / (b + (1.0 - b) * math.exp(-log_a))
    served_if_wait = x * u / d

    theta_t = target_seconds / patience
    y_t = y * math.exp(-theta_t)
    u_t, scale_t = _series(x, y_t)
    d_t = math.exp(-scale_t) + y_t * u_t
    # P(W > t | W > 0); y (1 - e^-theta t) via expm1 keeps its digits when theta t is small.
    log_still = scale_t + math.log(d_t) - log_a - theta_t - servers * target_seconds / aht - y * math.expm1(-theta_t)
    still_waiting = math.exp(min(0.0, log_still))
    served_if_still = x * u_t / d_t
    service_level = (1.0 - p_wait) + p_wait * max(0.0, served_if_wait - still_waiting * served_if_still)
    return _Wait(p_wait, served_if_wait, still_waiting, service_level)


def _erlang_a(servers: int, load: float, aht: float, patience: float, target_seconds: float, b: float) -> ErlangA:
    """Erlang A with Erlang B(servers, load) = `b` already known."""
    if load == 0:
        return ErlangA(servers, load, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    if servers == 0:
        return ErlangA(servers, load, 1.0, 1.0, 0.0, 0.0, math.inf, patience, 0.0)
    x = servers * patience / aht
    y = load * patience / aht
    sums = _sums(x, y)
    w = _wait(servers, load, aht, patience, target_seconds, b, sums.u, sums.scale)
    d = math.exp(-sums.scale) + y * sums.u  # A(x, y) = d e^scale
    # Summed term by term (sum_k p_k (k+1)/(x+k+1)), not as 1 - P(served | wait).
    p_abandon = w.p_wait * sums.ahead / d
    waited_out = 1.0 - w.p_wait * w.still_waiting  # P(W <= t): answered or abandoned by t
    abandoned_by_t = max(0.0, waited_out - w.service_level)
    answered = 1.0 - p_abandon
    wait_answered = w.p_wait * patience * x * sums.stages / d
    return ErlangA(
        servers=servers,
        load=load,
        p_wait=w.p_wait,
        p_abandon=p_abandon,
        service_level=w.service_level,
        service_level_excluding_abandons=w.service_level / (1.0 - abandoned_by_t),
        asa=wait_answered / answered if answered > 0 else math.inf,
        mean_wait=p_abandon * patience,
        occupancy=min(1.0, load * answered / servers),
    )


def _erlang_c_as_a(servers: int, load: float, aht: float, target_seconds: float, b: float) -> ErlangA:
    """Infinite patience: Erlang C in Erlang A's shape."""
    c = _c_from_b(servers, load, b)
    if load > 0 and servers <= load:
        return ErlangA(servers, load, 1.0, 0.0, 0.0, 0.0, math.inf, math.inf, 1.0)
    sl = 1.0 - c * math.exp(-(servers - load) * target_seconds / aht) if load > 0 else 1.0
    asa = c * aht / (servers - load) if c > 0 else 0.0
    occupancy = load / servers if servers else 0.0
    return ErlangA(servers, load, c, 0.0, sl, sl, asa, asa, occupancy)


def erlang_a(servers: int, load: float, aht: float, patience: float, target_seconds: float) -> ErlangA:
    """Erlang A (M/M/N+M) figures for `servers` agents, callers with mean
    patience `patience` seconds and the service-level threshold `target_seconds`.
    `patience` = inf is Erlang C (nobody hangs up)."""
    _check(servers, load, aht)
    if not patience > 0:
        raise ValueError(f"patience must be > 0 seconds, got {patience}")
    if not target_seconds >= 0:
        raise ValueError(f"target_seconds must be >= 0, got {target_seconds}")
    b = erlang_b(servers, load)
    if math.isinf(patience):
        return _erlang_c_as_a(servers, load, aht, target_seconds, b)
    return _erlang_a(servers, load, aht, patience, target_seconds, b)


@dataclass(frozen=True, slots=True)
class StaffingLevel:
    """The fewest agents that meet a target, and what they are predicted to achieve."""

    agents: int
    model: StaffingModel
    p_wait: float
    # Erlang C: P(answered within t); Erlang A: answered within t / offered.
    service_level: float
    # Mean wait of the answered calls, seconds (with Erlang C every caller is answered).
    asa: float
    occupancy: float
    # Erlang A only: the share of callers who hang up before an answer.
    abandon_rate: float | None


def _no_calls(model: StaffingModel) -> StaffingLevel:
    return StaffingLevel(0, model, 0.0, 1.0, 0.0, 0.0, 0.0 if model == "erlang_a" else None)


def agents_for_target(
    load: float,
    aht: float,
    service_level: float,
    target_seconds: float,
    *,
    patience: float | None = None,
    occupancy_cap: float = 1.0,
    max_asa: float | None = None,
) -> StaffingLevel:
    """Fewest agents N with SL(target_seconds) >= `service_level`, load / N <=
    `occupancy_cap` and (if given) ASA <= `max_asa`.

    Erlang A when `patience` (mean seconds a caller waits before hanging up) is
    finite, else Erlang C. The cap is on the offered load, so for Erlang A it is
    a little stricter than the predicted occupancy (carried load / N) reported.
    No load needs no agents. A target of 100 % is refused: no finite number of
    agents answers every caller within t.
    """
    _check(0, load, aht)
    if not 0.0 <= service_level < 1.0:
        raise ValueError(f"service_level must be in [0, 1), got {service_level}")
    if not target_seconds >= 0:
        raise ValueError(f"target_seconds must be >= 0, got {target_seconds}")
    if not 0.0 < occupancy_cap <= 1.0:
        raise ValueError(f"occupancy_cap must be in (0, 1], got {occupancy_cap}")
    if max_asa is not None and not max_asa > 0:
        raise ValueError(f"max_asa must be > 0 seconds, got {max_asa}")
    if patience is not None and not patience > 0:
        raise ValueError(f"patience must be > 0 seconds, got {patience}")
    use_a = patience is not None and math.isfinite(patience)
    model: StaffingModel = "erlang_a" if use_a else "erlang_c"
    if load == 0:
        return _no_calls(model)
    least = max(1, math.ceil(load / occupancy_cap - _EPS))
    if use_a and patience is not None:
        return _search_a(load, aht, service_level, target_seconds, patience, least, max_asa)
    return _search_c(load, aht, service_level, target_seconds, max(least, math.floor(load) + 1), max_asa)


def _search_c(
    load: float, aht: float, target: float, target_seconds: float, start: int, max_asa: float | None
) -> StaffingLevel:
    n = start
    b = erlang_b(n, load)
    while True:
        c = _c_from_b(n, load, b)
        sl = 1.0 - c * math.exp(-(n - load) * target_seconds / aht)
        asa = c * aht / (n - load)
        if sl >= target and (max_asa is None or asa <= max_asa):
            return StaffingLevel(n, "erlang_c", c, sl, asa, load / n, None)
        n += 1
        b = load * b / (n + load * b)


def _search_a(
    load: float,
    aht: float,
    target: float,
    target_seconds: float,
    patience: float,
    start: int,
    max_asa: float | None,
) -> StaffingLevel:
    # Erlang B for start, start+1, ... carried forward as the search needs them.
    bs = [erlang_b(start, load)]

    def b(n: int) -> float:
        while len(bs) <= n - start:
            m = start + len(bs)
            bs.append(load * bs[-1] / (m + load * bs[-1]))
        return bs[n - start]

    seen: dict[int, ErlangA] = {}

    def meets(n: int) -> bool:
        r = seen[n] = _erlang_a(n, load, aht, patience, target_seconds, b(n))
        return r.service_level >= target and (max_asa is None or r.asa <= max_asa)

    low, high, step = start - 1, start, 1
    while not meets(high):
        low, high, step = high, high + step, step * 2
    while high - low > 1:
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid
    best = seen[high]
    return StaffingLevel(high, "erlang_a", best.p_wait, best.service_level, best.asa, best.occupancy, best.p_abandon)
