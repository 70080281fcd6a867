"""Erlang B, C and A against figures obtained another way.

References, none of them the module's own formulas:
- published tables: Erlang B(10 lines, 5 E) = 0.01838; erlang.com's calculator
  manual (15 lines carry 8.108 E at 1 % blocking) and its forum (33.333 E at
  1 % need 45 lines); the classic 10-Erlang Erlang C table (N = 11..15);
- the M/M/N stationary distribution summed exactly with fractions, or in log
  space with `math.lgamma`;
- Erlang C waits summed over the queue an arrival finds (k ahead: the wait is
  Gamma(k+1, N mu), whose tail is a Poisson sum);
- Erlang A (M/M/N+M): the birth-death chain truncated at a long queue and its
  balance equations solved with numpy, then a tagged caller's passage through
  the queue as an absorbing Markov chain (matrix exponential for P(answered
  within t), a linear solve for the mean wait of the answered);
- Garnett, Mandelbaum & Reiman's closed forms evaluated with
  scipy.special.gammainc, for sizes the dense chain would be slow at.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm
from scipy.special import gammainc

from ivr.scheduling.erlang import (
    ErlangA,
    agents_for_target,
    asa_c,
    erlang_a,
    erlang_b,
    erlang_c,
    service_level_c,
)

# --- references ---------------------------------------------------------------


def erlang_c_exact(servers: int, load: Fraction) -> Fraction:
    """P(wait) from the M/M/N stationary distribution, in exact arithmetic."""
    term = Fraction(1)
    below = Fraction(0)  # sum_{j<N} A^j / j!
    for j in range(servers):
        below += term
        term = term * load / (j + 1)
    queued = term * servers / (servers - load)  # sum_{j>=N} A^j / j! = A^N/N! * N/(N-A)
    return queued / (below + queued)


def erlang_c_log_space(servers: int, load: float) -> float:
    """P(wait) from the M/M/N stationary distribution, summed in log space."""
    logs = [j * math.log(load) - math.lgamma(j + 1) for j in range(servers)]
    logs.append(servers * math.log(load) - math.lgamma(servers + 1) + math.log(servers / (servers - load)))
    top = max(logs)
    total = sum(math.exp(v - top) for v in logs)
    return math.exp(logs[-1] - top) / total


def erlang_c_by_queue_position(servers: int, load: float, aht: float, t: float) -> tuple[float, float]:
    """(P(answered within t), mean wait): an arrival finding k callers ahead
    waits for k+1 departures of the N busy agents, Gamma(k+1, N/AHT)."""
    rate_t = servers * t / aht
    p_wait = erlang_c_log_space(servers, load)
    rho = load / servers
    late = 0.0
    mean = 0.0
    k = 0
    share = p_wait * (1 - rho)  # P(k callers ahead) = C (1 - rho) rho^k
    poisson = math.exp(-rate_t)  # P(Poisson(rate_t) = i), i = 0
    cdf = poisson  # P(Gamma(k+1) <= t) = 1 - P(Poisson(rate_t) <= k)
    while share > 1e-20:
        late += share * cdf
        mean += share * (k + 1) * aht / servers
        k += 1
        share *= rho
        poisson *= rate_t / k
        cdf += poisson
    return 1 - late, mean


def erlang_a_by_markov_chain(servers: int, load: float, aht: float, patience: float, t: float) -> dict[str, float]:
    """M/M/N+M by its birth-death chain (truncated where the queue is negligible)
    and a tagged caller's absorbing chain; nothing of the module's series."""
    lam, mu, theta = load / aht, 1 / aht, 1 / patience
    queue = 64
    while True:
        size = servers + queue + 1
        gen = np.zeros((size, size))
        for j in range(size):
            if j + 1 < size:
                gen[j, j + 1] = lam
            if j > 0:
                gen[j, j - 1] = min(j, servers) * mu + max(j - servers, 0) * theta
            gen[j, j] = -gen[j].sum()
        balance = gen.T.copy()
        balance[-1, :] = 1.0
        rhs = np.zeros(size)
        rhs[-1] = 1.0
        pi = np.linalg.solve(balance, rhs)
        if pi[-1] < 1e-13 * pi.max():
            break
        queue *= 2
    p_wait = pi[servers:].sum()
    p_abandon = theta * (np.arange(size) - servers).clip(0) @ pi / lam
    # The tagged caller: i callers ahead (0..queue), then answered or abandoned.
    ahead = pi[servers:] / p_wait
    m = queue + 1
    tagged = np.zeros((m + 2, m + 2))
    answered, abandoned = m, m + 1
    for i in range(m):
        forward = servers * mu + i * theta  # an agent frees up or someone ahead hangs up
        tagged[i, answered if i == 0 else i - 1] = forward
        tagged[i, abandoned] = theta
        tagged[i, i] = -(forward + theta)
    at_t = np.concatenate([ahead, [0.0, 0.0]]) @ expm(tagged * t)
    service_level = (1 - p_wait) + p_wait * at_t[answered]
    abandoned_by_t = p_wait * at_t[abandoned]
    transient = -tagged[:m, :m]
    exit_answered = np.zeros(m)
    exit_answered[0] = servers * mu
    will_be_answered = np.linalg.solve(transient, exit_answered)
    time_in = np.linalg.solve(transient.T, ahead)  # expected time spent at each position
    wait_answered = p_wait * time_in @ will_be_answered
    return {
        "p_wait": p_wait,
        "p_abandon": p_abandon,
        "service_level": service_level,
        "service_level_excluding_abandons": service_level / (1 - abandoned_by_t),
        "asa": wait_answered / (1 - p_abandon),
        "mean_wait": p_wait * time_in.sum(),
        "occupancy": load * (1 - p_abandon) / servers,
    }


def erlang_a_closed_form(servers: int, load: float, aht: float, patience: float) -> tuple[float, float]:
    """(P(wait), P(abandon)) by Garnett, Mandelbaum & Reiman (2002), with
    A(x, y) = x e^y y^-x gamma(x, y) from scipy's regularised gammainc."""
    x, y = servers * patience / aht, load * patience / aht
    a = math.exp(math.log(x) + y - x * math.log(y) + math.lgamma(x) + math.log(gammainc(x, y)))
    b = erlang_b(servers, load)
    rho = load / servers
    p_wait = a * b / (1 + (a - 1) * b)
    return p_wait, p_wait * (1 / (rho * a) + 1 - 1 / rho)


# --- Erlang B -----------------------------------------------------------------


def test_erlang_b_of_five_erlangs_on_ten_lines_is_the_tabulated_1_84_percent() -> None:
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-7)


def test_fifteen_lines_carry_8_108_erlangs_at_one_percent_blocking() -> None:
    # erlang.com calculator manual, to the 3 decimals it prints.
    assert erlang_b(15, 8.1075) < 0.01 < erlang_b(15, 8.1085)


def test_thirty_three_erlangs_at_one_percent_blocking_need_45_lines() -> None:
    # erlang.com forum: 1,200 calls an hour of 100 s = 33.333 Erlangs.
    assert erlang_b(44, 100 / 3) > 0.01 >= erlang_b(45, 100 / 3)


@pytest.mark.parametrize("load", [0.1, 1.0, 2.5, 7.0])
def test_erlang_b_for_one_and_two_lines_matches_the_closed_forms(load: float) -> None:
    assert erlang_b(1, load) == pytest.approx(load / (1 + load), rel=1e-14)
    assert erlang_b(2, load) == pytest.approx(load**2 / 2 / (1 + load + load**2 / 2), rel=1e-14)


def test_erlang_b_stays_exact_for_five_thousand_lines() -> None:
    load = 5000.0
    logs = [j * math.log(load) - math.lgamma(j + 1) for j in range(5001)]
    top = max(logs)
    expected = math.exp(logs[-1] - top) / sum(math.exp(v - top) for v in logs)
    assert erlang_b(5000, load) == pytest.approx(expected, rel=1e-9)


# --- Erlang C -----------------------------------------------------------------


def test_case_study_peak_needs_1095_agents_by_erlang_c() -> None:
    # 3.6 calls/s x 300 s = 1,080 Erlangs; 80 % answered within 20 s.
    level = agents_for_target(3.6 * 300, 300, 0.80, 20)

    assert level.agents == 1095
    assert level.model == "erlang_c"
    assert level.p_wait == pytest.approx(0.54, abs=0.005)
    assert level.asa == pytest.approx(10.8, abs=0.05)
    assert level.occupancy == pytest.approx(0.986, abs=0.0005)
    assert level.abandon_rate is None
    assert service_level_c(1094, 1080, 300, 20) < 0.80 <= service_level_c(1095, 1080, 300, 20)


def test_case_study_p_wait_matches_the_exact_stationary_distribution() -> None:
    assert erlang_c(1095, 1080.0) == pytest.approx(float(erlang_c_exact(1095, Fraction(1080))), rel=1e-10)


@pytest.mark.parametrize(("servers", "table"), [(11, 0.6821), (12, 0.4494), (13, 0.2853), (14, 0.1741), (15, 0.1020)])
def test_ten_erlangs_on_11_to_15_agents_wait_as_the_classic_table_says(servers: int, table: float) -> None:
    assert erlang_c(servers, 10.0) == pytest.approx(table, abs=5e-5)
    assert erlang_c(servers, 10.0) == pytest.approx(float(erlang_c_exact(servers, Fraction(10))), rel=1e-12)


@pytest.mark.parametrize("load", [0.2, 0.5, 0.9])
def test_erlang_c_for_one_and_two_agents_matches_the_closed_forms(load: float) -> None:
    assert erlang_c(1, load) == pytest.approx(load, rel=1e-14)  # M/M/1: P(wait) = rho
    rho = load  # two agents, load 2 rho
    assert erlang_c(2, 2 * load) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-14)


@pytest.mark.parametrize(
    ("servers", "load", "aht", "t"),
    [(11, 10.0, 180, 20), (13, 10.0, 180, 20), (15, 10.0, 180, 20), (55, 48.0, 240, 15), (1095, 1080.0, 300, 20)],
)
def test_erlang_c_service_level_and_asa_match_waits_summed_over_queue_positions(
    servers: int, load: float, aht: float, t: float
) -> None:
    service_level, mean_wait = erlang_c_by_queue_position(servers, load, aht, t)

    assert service_level_c(servers, load, aht, t) == pytest.approx(service_level, rel=1e-9)
    assert asa_c(servers, load, aht) == pytest.approx(mean_wait, rel=1e-9)


def test_erlang_c_stays_exact_for_five_thousand_agents() -> None:
    assert erlang_c(5000, 4930.5) == pytest.approx(erlang_c_log_space(5000, 4930.5), rel=1e-9)
    level = agents_for_target(4930.5, 300, 0.8, 20)
    assert service_level_c(level.agents - 1, 4930.5, 300, 20) < 0.8 <= level.service_level


def test_with_no_more_agents_than_erlangs_every_caller_waits_forever() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c(9, 10.5) == 1.0
    assert service_level_c(10, 10.0, 180, 20) == 0.0
    assert asa_c(10, 10.0, 180) == math.inf


def test_nobody_waits_when_nobody_calls() -> None:
    assert erlang_b(3, 0.0) == 0.0
    assert erlang_c(3, 0.0) == 0.0
    assert service_level_c(3, 0.0, 180, 20) == 1.0
    assert asa_c(3, 0.0, 180) == 0.0


# --- Erlang A -----------------------------------------------------------------

ERLANG_A_CASES = [
    # servers, load, aht, patience, t
    (12, 10.0, 180, 120, 20),
    (3, 2.5, 300, 60, 20),
    (10, 12.0, 180, 90, 30),  # overloaded: abandons keep the queue finite
    (110, 100.0, 240, 300, 20),
    (50, 30.0, 200, 10, 15),
    (5, 20.0, 300, 30, 0),
    (1, 0.5, 300, 100_000, 20),  # patient callers: nearly Erlang C
    (1095, 1080.0, 300, 120, 20),  # the case study's peak
]


@pytest.mark.parametrize(("servers", "load", "aht", "patience", "t"), ERLANG_A_CASES)
def test_erlang_a_matches_the_birth_death_chain(
    servers: int, load: float, aht: float, patience: float, t: float
) -> None:
    expected = erlang_a_by_markov_chain(servers, load, aht, patience, t)

    got = erlang_a(servers, load, aht, patience, t)

    for name, value in expected.items():
        assert getattr(got, name) == pytest.approx(value, rel=1e-6), name


@pytest.mark.parametrize(
    ("servers", "load", "aht", "patience"),
    [(12, 10.0, 180, 120), (1095, 1080.0, 300, 90), (5000, 4990.0, 300, 180), (900, 1000.0, 240, 60)],
)
def test_erlang_a_matches_garnett_mandelbaum_reiman_closed_forms(
    servers: int, load: float, aht: float, patience: float
) -> None:
    p_wait, p_abandon = erlang_a_closed_form(servers, load, aht, patience)

    got = erlang_a(servers, load, aht, patience, 20)

    assert got.p_wait == pytest.approx(p_wait, rel=1e-6)
    assert got.p_abandon == pytest.approx(p_abandon, rel=1e-6)


def test_erlang_a_survives_a_queue_far_beyond_its_agents() -> None:
    got = erlang_a(10, 2000.0, 300, 600, 20)

    # Ten agents carry (nearly) ten Erlangs; everyone else hangs up, and
    # with ~4,000 callers ahead nobody is answered within 20 s.
    assert got.occupancy == pytest.approx(1.0, abs=1e-6)
    assert got.p_abandon == pytest.approx(1 - 10 / 2000, rel=1e-6)
    assert got.service_level == pytest.approx(0.0, abs=1e-12)
    assert 0 < got.asa < math.inf


def test_erlang_a_needs_fewer_agents_than_erlang_c_when_callers_abandon() -> None:
    for load, aht, patience in [(10.0, 180, 120), (50.0, 240, 60), (1080.0, 300, 120)]:
        by_c = agents_for_target(load, aht, 0.8, 20)
        by_a = agents_for_target(load, aht, 0.8, 20, patience=patience)

        assert by_a.model == "erlang_a"
        assert by_a.agents < by_c.agents
        assert by_a.abandon_rate is not None and by_a.abandon_rate > 0


def test_erlang_a_converges_to_erlang_c_as_patience_grows() -> None:
    c_level = service_level_c(1095, 1080, 300, 20)
    c_wait, c_asa = erlang_c(1095, 1080), asa_c(1095, 1080, 300)
    gaps = [abs(erlang_a(1095, 1080, 300, p, 20).service_level - c_level) for p in (1e2, 1e3, 1e4, 1e5, 1e6)]

    assert gaps == sorted(gaps, reverse=True)
    patient = erlang_a(1095, 1080, 300, 1e9, 20)
    assert patient.service_level == pytest.approx(c_level, rel=1e-5)
    assert patient.p_wait == pytest.approx(c_wait, rel=1e-5)
    assert patient.asa == pytest.approx(c_asa, rel=1e-5)
    assert patient.p_abandon < 1e-6
    assert agents_for_target(1080, 300, 0.8, 20, patience=1e7).agents == 1095


def test_infinite_patience_is_erlang_c() -> None:
    got = erlang_a(13, 10.0, 180, math.inf, 20)

    assert got == ErlangA(
        servers=13,
        load=10.0,
        p_wait=erlang_c(13, 10.0),
        p_abandon=0.0,
        service_level=service_level_c(13, 10.0, 180, 20),
        service_level_excluding_abandons=service_level_c(13, 10.0, 180, 20),
        asa=asa_c(13, 10.0, 180),
        mean_wait=asa_c(13, 10.0, 180),
        occupancy=10 / 13,
    )


def test_erlang_a_with_no_agents_answers_nobody() -> None:
    got = erlang_a(0, 2.0, 180, 60, 20)

    assert (got.p_wait, got.p_abandon, got.service_level, got.asa) == (1.0, 1.0, 0.0, math.inf)


# --- staffing to a target -----------------------------------------------------


def test_occupancy_cap_adds_agents_beyond_the_service_level_target() -> None:
    level = agents_for_target(1080, 300, 0.8, 20, occupancy_cap=0.85)

    assert level.agents == math.ceil(1080 / 0.85) == 1271
    assert level.occupancy <= 0.85


def test_a_cap_met_exactly_is_not_rounded_up_by_floating_point() -> None:
    # 8.5 / 0.85 is 10.000000000000002 in floating point.
    assert agents_for_target(8.5, 60, 0.0, 20, occupancy_cap=0.85).agents == 10


def test_a_maximum_asa_adds_agents() -> None:
    level = agents_for_target(1080, 300, 0.8, 20, max_asa=5.0)

    assert level.agents > 1095
    assert level.asa <= 5.0 < asa_c(level.agents - 1, 1080, 300)


def test_a_maximum_asa_also_binds_erlang_a() -> None:
    loose = agents_for_target(200, 300, 0.5, 20, patience=300)
    strict = agents_for_target(200, 300, 0.5, 20, patience=300, max_asa=1.0)

    assert strict.agents > loose.agents
    assert strict.asa <= 1.0 < erlang_a(strict.agents - 1, 200, 300, 300, 20).asa


def test_no_calls_need_no_agents() -> None:
    assert agents_for_target(0.0, 300, 0.8, 20).agents == 0
    assert agents_for_target(0.0, 300, 0.8, 20, patience=60).agents == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"load": 10.0, "aht": 300, "service_level": 1.0, "target_seconds": 20},
        {"load": -1.0, "aht": 300, "service_level": 0.8, "target_seconds": 20},
        {"load": 10.0, "aht": 0, "service_level": 0.8, "target_seconds": 20},
        {"load": 10.0, "aht": 300, "service_level": 0.8, "target_seconds": -1},
        {"load": 10.0, "aht": 300, "service_level": 0.8, "target_seconds": 20, "occupancy_cap": 0.0},
        {"load": 10.0, "aht": 300, "service_level": 0.8, "target_seconds": 20, "patience": 0.0},
        {"load": 10.0, "aht": 300, "service_level": 0.8, "target_seconds": 20, "max_asa": 0.0},
    ],
)
def test_targets_no_staff_can_meet_and_nonsense_inputs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        agents_for_target(**kwargs)


# --- properties ---------------------------------------------------------------

loads = st.floats(min_value=0.05, max_value=400.0, allow_nan=False)
ahts = st.floats(min_value=20.0, max_value=900.0, allow_nan=False)
patiences = st.one_of(st.none(), st.floats(min_value=5.0, max_value=3000.0, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(load=loads, extra=st.integers(min_value=1, max_value=40), aht=ahts, t=st.integers(0, 120))
def test_more_agents_answer_sooner_by_erlang_c(load: float, extra: int, aht: float, t: int) -> None:
    n = math.floor(load) + extra
    assert erlang_b(n + 1, load) <= erlang_b(n, load)
    assert erlang_c(n + 1, load) <= erlang_c(n, load)
    assert service_level_c(n + 1, load, aht, t) >= service_level_c(n, load, aht, t)
    assert asa_c(n + 1, load, aht) <= asa_c(n, load, aht)


@settings(max_examples=60, deadline=None)
@given(
    load=loads,
    n=st.integers(min_value=1, max_value=450),
    aht=ahts,
    patience=st.floats(min_value=5.0, max_value=3000.0),
    t=st.integers(0, 120),
)
def test_more_agents_answer_sooner_by_erlang_a(load: float, n: int, aht: float, patience: float, t: int) -> None:
    fewer, more = erlang_a(n, load, aht, patience, t), erlang_a(n + 1, load, aht, patience, t)

    tol = 1e-12
    assert more.p_wait <= fewer.p_wait + tol
    assert more.p_abandon <= fewer.p_abandon + tol
    assert more.service_level >= fewer.service_level - tol
    assert more.asa <= fewer.asa * (1 + 1e-9) + tol
    for got in (fewer, more):
        assert 0 <= got.p_abandon <= got.p_wait <= 1
        assert 0 <= got.service_level <= got.service_level_excluding_abandons <= 1 + tol
        assert 0 <= got.occupancy <= 1 + tol


@settings(max_examples=60, deadline=None)
@given(
    load=loads,
    aht=ahts,
    target=st.floats(min_value=0.0, max_value=0.97),
    t=st.integers(0, 120),
    patience=patiences,
    cap=st.floats(min_value=0.5, max_value=1.0),
)
def test_agents_for_target_is_the_fewest_that_meet_every_constraint(
    load: float, aht: float, target: float, t: int, patience: float | None, cap: float
) -> None:
    level = agents_for_target(load, aht, target, t, patience=patience, occupancy_cap=cap)

    def figures(n: int) -> tuple[float, float]:
        if patience is None:
            return service_level_c(n, load, aht, t), load / n
        return erlang_a(n, load, aht, patience, t).service_level, load / n

    sl, occupancy = figures(level.agents)
    assert sl >= target
    assert occupancy <= cap + 1e-9
    assert level.service_level == pytest.approx(sl, rel=1e-12)
    if level.agents > 1:
        sl_less, occupancy_less = figures(level.agents - 1)
        assert sl_less < target or occupancy_less > cap + 1e-9 or (patience is None and level.agents - 1 <= load)
