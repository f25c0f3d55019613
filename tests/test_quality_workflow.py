"""Workflow stages and quality against exact results: Jackson networks, review loops, majority votes,
audit interval coverage. Tolerances follow from replications (4 standard errors)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.model.engine import run_replication
from tests.helpers import scenario, within
from tests.theory import mmc_mean_wait


def _base(accuracy: float, volume: float = 800.0, hours: str = "60h", workers: int = 80,
          handling: str = "1m") -> dict:
    """Ample fast staff, so quality depends only on the decision rules (timing is irrelevant)."""
    return {
        "name": "quality", "seed": 5,
        "horizon": {"start": "2027-01-04", "duration": hours},
        "queues": {"q": {"volume": {"mean": volume, "per": "hour"}, "skill": "s", "sla": {"target": "24h"},
                         "handling_time": {"mean": handling, "dist": "exponential"}}},
        "workflows": {"standard": {}},
        "pools": {"labellers": {"headcount": workers, "skills": ["s"], "accuracy": accuracy},
                  "qa": {"headcount": workers, "skills": ["qa", "senior", "policy"], "accuracy": 0.95}},
    }


def _quality(data, reps=3, **changes):
    s = scenario(data, **changes)
    return [run_replication(s, k).kpis["queues"]["q"] for k in range(reps)]


# -- review and rework ----------------------------------------------------------------------------------

def test_full_review_is_an_open_jackson_network():
    """Label station (14 servers, mu 1/h) -> review (7 servers, mu 2/h) -> back to labelling w.p. e d.

    Every label is wrong w.p. e = 0.2 independently, a review catches it w.p. d = 0.9, so each review
    sends the item back w.p. e d: Bernoulli feedback, exponential stations, i.e. a Jackson network with
    lambda_1 = lambda_2 = lambda / (1 - e d). Mean turnaround = (L1 + L2) / lambda (Little), which holds
    whatever order reworks take in the label queue (work-conserving, same service law).
    Delivered quality = 1 - e(1 - d)/(1 - e d); reworks per item = e d / (1 - e d). The mean wait per
    visit at each station is its M/M/c Wq (reworks keep their old arrival time and go first, which
    reorders the label queue but, with one exponential service law, does not change its length).
    """
    lam, e, d = 10.0, 0.2, 0.9
    data = _base(1 - e, volume=lam, hours="3000h")
    data["horizon"]["warmup"] = "300h"
    data["pools"]["labellers"]["headcount"] = 14
    data["pools"]["qa"]["headcount"] = 7
    data["queues"]["q"]["handling_time"] = {"mean": "1h", "dist": "exponential"}
    data["workflows"]["standard"] = {"review": {"sample": 1.0, "detection": d, "skill": "qa",
                                                "handling_time": {"mean": "30m", "dist": "exponential"}},
                                     "rework": {"handling_factor": 1.0, "max_loops": 20}}
    s = scenario(data)
    runs = [run_replication(s, k) for k in range(6)]
    lam_net = lam / (1 - e * d)
    l1 = lam_net * (mmc_mean_wait(lam_net, 1.0, 14) + 1.0)
    l2 = lam_net * (mmc_mean_wait(lam_net, 2.0, 7) + 0.5)
    q = [r.kpis["queues"]["q"] for r in runs]
    for values, expected in (([x["tat_mean_h"] for x in q], (l1 + l2) / lam),
                             ([x["label_wait_mean_h"] for x in q], mmc_mean_wait(lam_net, 1.0, 14)),
                             ([x["review_wait_mean_h"] for x in q], mmc_mean_wait(lam_net, 2.0, 7)),
                             ([x["quality"] for x in q], 1 - e * (1 - d) / (1 - e * d)),
                             ([x["rework_rate"] for x in q], e * d / (1 - e * d)),
                             ([r.kpis["pools"]["labellers"]["utilization"] for r in runs], lam_net / 14),
                             ([r.kpis["pools"]["qa"]["utilization"] for r in runs], lam_net / (7 * 2.0))):
        ok, msg = within(values, expected)
        assert ok, msg


def _review_loop_quality(e: float, s: float, d: float, m: int) -> float:
    """Exact delivered quality for the loop rule.

    A decision is wrong w.p. e. It is reviewed w.p. s; after a rework it is always reviewed again.
    R(m) = P(still wrong at delivery | wrong and under review with m reworks left):
    R(0) = 1 (a catch with no rework left is delivered as it stands), R(m) = (1 - d) + d e R(m - 1)
    (missed, or caught and reworked into a new label that is wrong again w.p. e).
    Quality = 1 - e [(1 - s) + s R(m)]; with m = 1 and a rework that is always right this is the
    textbook 1 - e (1 - s d).
    """
    r = 1.0
    for _ in range(m):
        r = (1 - d) + d * e * r
    return 1 - e * ((1 - s) + s * r)


@pytest.mark.parametrize("sample,detection,loops", [(0.1, 0.9, 1), (0.5, 0.8, 2), (1.0, 0.7, 0)])
def test_sampled_review_quality_follows_the_loop_rule(sample, detection, loops):
    e = 0.15
    data = _base(1 - e)
    data["workflows"]["standard"] = {"review": {"sample": sample, "detection": detection, "skill": "qa",
                                                "handling_time": {"mean": "30s"}},
                                     "rework": {"max_loops": loops, "handling_factor": 0.6}}
    ok, msg = within([x["quality"] for x in _quality(data)], _review_loop_quality(e, sample, detection, loops))
    assert ok, msg


# -- consensus ------------------------------------------------------------------------------------------

def test_three_passes_majority_vote():
    a = 0.8
    data = _base(a)
    data["workflows"]["standard"] = {"label": {"passes": 3}}
    ok, msg = within([x["quality"] for x in _quality(data)], a ** 3 + 3 * a ** 2 * (1 - a))
    assert ok, msg


def test_two_passes_tie_goes_to_adjudication():
    a, b = 0.8, 0.95
    data = _base(a)
    data["workflows"]["standard"] = {"label": {"passes": 2},
                                     "adjudication": {"skill": "senior", "handling_time": {"mean": "2m"}}}
    ok, msg = within([x["quality"] for x in _quality(data)], a ** 2 + 2 * a * (1 - a) * b)
    assert ok, msg


def test_passes_go_to_different_workers_even_when_there_are_just_enough():
    """Three passes, three workers, a backlog: every item still gets its three labels and is delivered."""
    data = _base(0.9, volume=0.0, hours="100h", workers=3)
    data["queues"]["q"]["initial_backlog"] = 40
    data["queues"]["q"]["handling_time"] = {"mean": "1h", "dist": "constant"}
    data["workflows"]["standard"] = {"label": {"passes": 3}}
    run = run_replication(scenario(data), 0)
    q = run.kpis["queues"]["q"]
    assert q["completed"] == 40
    # three workers, 1 h per label, 120 labels: the last item is done at 40 h, and no worker idled
    assert run.kpis["pools"]["labellers"]["busy_hours"] == pytest.approx(120.0)
    assert q["tat_mean_h"] == pytest.approx(np.mean(np.arange(1, 41)), rel=1e-9)


def test_escalated_items_take_the_experts_decision():
    """Escalation w.p. p, expert accuracy 0.95: quality = (1 - p) a + p 0.95."""
    a, p = 0.8, 0.3
    data = _base(a)
    data["workflows"]["standard"] = {"escalation": {"probability": p, "skill": "policy",
                                                    "handling_time": {"mean": "5m"}}}
    runs = _quality(data)
    ok, msg = within([x["quality"] for x in runs], (1 - p) * a + p * 0.95)
    assert ok, msg
    ok, msg = within([x["escalation_rate"] for x in runs], p)
    assert ok, msg


def test_turnaround_counts_until_the_last_pass_and_the_adjudication():
    """Two constant 1 h passes in parallel, then a 2 h adjudication on every tie (accuracy 0.5: half tie)."""
    data = _base(0.5, volume=0.0, hours="50h", workers=2)
    data["queues"]["q"]["initial_backlog"] = 1
    data["queues"]["q"]["handling_time"] = {"mean": "1h", "dist": "constant"}
    data["workflows"]["standard"] = {"label": {"passes": 2},
                                     "adjudication": {"skill": "senior", "handling_time": {"mean": "2h",
                                                                                             "dist": "constant"}}}
    tats = [run_replication(scenario(data, seed=k), 0).kpis["queues"]["q"]["tat_mean_h"] for k in range(12)]
    assert all(t == pytest.approx(1.0) or t == pytest.approx(3.0) for t in tats), tats
    assert any(t == pytest.approx(3.0) for t in tats) and any(t == pytest.approx(1.0) for t in tats)


# -- audit ----------------------------------------------------------------------------------------------

def test_audit_interval_covers_true_quality_about_95_percent_of_the_time():
    """200 replications, ~400 audited items each, true quality 0.9: coverage within 3 binomial SEs of 95%."""
    data = _base(0.9, volume=200.0, hours="10h")
    data["workflows"]["standard"] = {"audit": {"sample": 0.2}}
    s = scenario(data)
    covered = 0
    reps = 200
    for k in range(reps):
        q = run_replication(s, k).kpis["queues"]["q"]
        assert 300 < q["audited_items"] < 500
        covered += q["audited_quality_low"] <= 0.9 <= q["audited_quality_high"]
    assert abs(covered / reps - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / reps)


# -- metamorphic ----------------------------------------------------------------------------------------

def _review(sample):
    data = _base(0.85)
    data["workflows"]["standard"] = {"review": {"sample": sample, "detection": 0.9, "skill": "qa",
                                                "handling_time": {"mean": "30s"}}}
    return data


def test_more_qc_sample_means_higher_quality_and_more_review_hours():
    results = [run_replication(scenario(_review(s)), 0) for s in (0.05, 0.15, 0.5)]
    quality = [r.kpis["queues"]["q"]["quality"] for r in results]
    review_hours = [r.kpis["pools"]["qa"]["busy_hours"] for r in results]
    assert quality == sorted(quality) and review_hours == sorted(review_hours)


def test_more_passes_mean_higher_quality_and_more_labelling_hours():
    results = []
    for passes in (1, 3, 5):
        data = _base(0.8, volume=1000.0, workers=200)
        data["workflows"]["standard"] = {"label": {"passes": passes}}
        results.append(run_replication(scenario(data), 0))
    quality = [r.kpis["queues"]["q"]["quality"] for r in results]
    hours = [r.kpis["pools"]["labellers"]["busy_hours"] for r in results]
    assert quality == sorted(quality) and hours == sorted(hours)
    assert hours[1] == pytest.approx(3 * hours[0], rel=0.05)


def test_higher_difficulty_means_lower_quality():
    quality = [run_replication(scenario(_base(0.9), **{"queues.q.difficulty": d}), 0).kpis["queues"]["q"]["quality"]
               for d in (0.5, 1.0, 2.0)]
    assert quality == sorted(quality, reverse=True)
    hard = _quality(_base(0.9), **{"queues.q.difficulty": 2.0})
    ok, msg = within([x["quality"] for x in hard], 1 - 0.1 * 2.0)  # error = min(0.5, (1 - a) x difficulty)
    assert ok, msg


def test_a_senior_who_labels_and_reviews_shares_time_between_both():
    """One pool with both skills: every item is labelled and reviewed by it; busy = labels + reviews."""
    data = _base(0.9, volume=20.0, hours="200h", workers=4, handling="5m")
    data["pools"] = {"seniors": {"headcount": 4, "skills": ["s", "qa"], "accuracy": 0.9}}
    data["workflows"]["standard"] = {"review": {"sample": 1.0, "detection": 0.0, "skill": "qa",
                                                "handling_time": {"mean": "5m", "dist": "exponential"}}}
    runs = [run_replication(scenario(data), k) for k in range(4)]
    busy = [r.kpis["pools"]["seniors"]["busy_hours"] / r.kpis["queues"]["q"]["completed"] for r in runs]
    ok, msg = within(busy, 10 / 60)
    assert ok, msg


def test_a_pools_busy_hours_split_by_skill_add_up_and_match_each_stages_work():
    """The same senior pool: its busy hours by skill sum to its busy hours exactly, and labelling and
    review each take 5 minutes per item (the handling means)."""
    data = _base(0.9, volume=20.0, hours="200h", workers=4, handling="5m")
    data["pools"] = {"seniors": {"headcount": 4, "skills": ["s", "qa"], "accuracy": 0.9}}
    data["workflows"]["standard"] = {"review": {"sample": 1.0, "detection": 0.0, "skill": "qa",
                                                "handling_time": {"mean": "5m", "dist": "exponential"}}}
    runs = [run_replication(scenario(data), k) for k in range(4)]
    for r in runs:
        assert sum(r.busy_by_skill["seniors"].values()) == pytest.approx(r.kpis["pools"]["seniors"]["busy_hours"])
    for skill in ("s", "qa"):
        ok, msg = within([r.busy_by_skill["seniors"][skill] / r.kpis["queues"]["q"]["completed"] for r in runs],
                         5 / 60)
        assert ok, (skill, msg)


def test_pool_quality_is_the_share_of_its_labels_that_were_right():
    """Two pools label one queue with accuracy 0.9 and 0.7, and review catches errors for rework: each
    pool's quality is its own accuracy (first labels and reworks alike), whoever takes which item,
    while the queue's delivered quality is higher than either (1 - e[(1-s) + s R(m)] per label mix)."""
    data = _base(0.9)
    data["pools"]["vendor"] = {"headcount": 80, "skills": ["s"], "accuracy": 0.7}
    data["workflows"]["standard"] = {"review": {"skill": "qa", "sample": 1.0, "detection": 0.9,
                                                "handling_time": {"mean": "1m"}}}
    runs = [run_replication(scenario(data), k) for k in range(3)]
    for pool, accuracy in (("labellers", 0.9), ("vendor", 0.7)):
        ok, message = within([r.kpis["pools"][pool]["quality"] for r in runs], accuracy)
        assert ok, f"{pool}: {message}"
    assert np.isnan(runs[0].kpis["pools"]["qa"]["quality"])  # reviews are not labels
    delivered = np.mean([r.kpis["queues"]["q"]["quality"] for r in runs])
    assert delivered > 0.9
