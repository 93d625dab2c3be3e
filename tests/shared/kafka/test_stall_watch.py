"""The rules that call a Kafka consumer wedged (pure: poll time and observations are numbers)."""

from __future__ import annotations

from kafka.structs import TopicPartition

from shared.kafka.stall import ASSIGNMENT_MISMATCH, EXPELLED, GroupView, StallWatch

P0 = TopicPartition("raw", 0)
P1 = TopicPartition("raw", 1)
P2 = TopicPartition("raw", 2)
ALL = frozenset({P0, P1, P2})


def watch() -> StallWatch:
    return StallWatch(fetch_stall_s=30.0, check_every_s=10.0, unassigned_s=30.0)


def checks(w: StallWatch, positions, rounds: int) -> list:
    """``rounds`` checks, each after 10 s of polling; the suspects of the last."""
    suspects: list = []
    for _ in range(rounds):
        assert w.note_poll(10.0)
        suspects = w.fetch_suspects(positions)
    return suspects


def test_a_check_is_due_only_after_enough_time_inside_poll():
    w = watch()
    assert not w.note_poll(4.0)
    assert not w.note_poll(5.9)
    assert w.note_poll(0.2)
    w.fetch_suspects({})
    assert not w.note_poll(9.0)  # the clock restarts at each check
    assert not w.note_poll(-5.0)  # a clock step back adds nothing


def test_a_partition_whose_position_does_not_move_becomes_a_suspect_after_the_stall_time():
    w = watch()
    assert checks(w, {P0: 100, P1: 7}, 3) == []  # first sight, then 10 s, 20 s still
    assert checks(w, {P0: 100, P1: 7}, 1) == [P0, P1]  # 30 s still


def test_progress_restarts_the_clock():
    w = watch()
    checks(w, {P0: 100}, 3)
    assert checks(w, {P0: 101}, 1) == []  # moved: still for 0 s
    assert checks(w, {P0: 101}, 2) == []  # 20 s
    assert checks(w, {P0: 101}, 1) == [P0]  # 30 s


def test_a_partition_that_left_our_assignment_forgets_its_history():
    w = watch()
    checks(w, {P0: 100}, 3)
    checks(w, {}, 1)  # revoked (or paused)
    assert checks(w, {P0: 100}, 3) == []  # back: a fresh start, not 40 s still


def test_a_suspect_at_its_end_offset_is_quiet_not_stuck_and_starts_over():
    w = watch()
    positions = {P0: 100, P1: 7}
    assert checks(w, positions, 4) == [P0, P1]
    assert w.fetch_verdict(positions, {P0: 100, P1: 9}) == [P1]
    assert checks(w, positions, 1) == [P1]  # P0's clock started again


def test_an_unknown_position_is_stuck_only_if_the_partition_has_records():
    w = watch()
    positions = {P0: None, P1: None}
    assert checks(w, positions, 4) == [P0, P1]
    assert w.fetch_verdict(positions, {P0: 0, P1: 5}) == [P1]


def test_time_outside_poll_never_counts():
    """Processing, restoring state or sleeping between polls is not the client's stall:
    only time spent inside poll is added, and the caller measures just that."""
    w = watch()
    checks(w, {P0: 100}, 1)
    assert not w.note_poll(9.0)  # ten minutes of restore between these polls add nothing
    assert w.note_poll(1.0)
    assert w.fetch_suspects({P0: 100}) == []  # 10 s still, not ten minutes


def group(state="Stable", **members) -> GroupView:
    return GroupView(state=state, members={m: frozenset(tps) for m, tps in members.items()})


def test_expelled_needs_two_checks_in_a_row_of_a_stable_group_without_us():
    w = watch()
    mine = frozenset({P0})
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) is None
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) == EXPELLED
    # after a verdict the count starts again
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) is None


def test_a_rebalance_or_an_unknown_view_in_between_breaks_the_run():
    w = watch()
    mine = frozenset({P0})
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) is None
    assert w.membership_verdict("me", mine, group("PreparingRebalance", other=[P0, P1])) is None
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) is None
    assert w.membership_verdict("me", mine, None) is None
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) is None
    assert w.membership_verdict("me", mine, group(other=[P0, P1])) == EXPELLED


def test_agreement_is_never_a_verdict():
    w = watch()
    for _ in range(5):
        assert w.membership_verdict("me", frozenset({P0}), group(me=[P0], other=[P1])) is None
        assert w.membership_verdict("me", frozenset(), group(me=[], other=[P0, P1])) is None


def test_holding_other_partitions_than_the_coordinator_assigned_us():
    w = watch()
    view = group(me=[P1], other=[P0])
    assert w.membership_verdict("me", frozenset({P0}), view) is None
    assert w.membership_verdict("me", frozenset({P0}), view) == ASSIGNMENT_MISMATCH


def test_a_member_with_no_id_in_a_stable_group_is_expelled():
    """Reset to no member id, yet not rejoining: the coordinator cannot list us."""
    w = watch()
    assert w.membership_verdict("", frozenset(), group(other=[P0, P1])) is None
    assert w.membership_verdict("", frozenset(), group(other=[P0, P1])) == EXPELLED


def coverage(w: StallWatch, view, partitions=ALL, spent_s: float = 10.0) -> list:
    """One check after ``spent_s`` of polling: its coverage verdict."""
    w.note_poll(spent_s)
    w.fetch_suspects({})
    return w.coverage_verdict(view, partitions)


def test_a_partition_no_member_owns_is_a_verdict_after_the_unassigned_time_counted_from_first_sight():
    """The CI wedge: the only member joined before the topic's partitions were in its
    metadata, holds nothing, and the coordinator calls the group stable."""
    w = watch()
    assert coverage(w, group(me=[]), spent_s=500.0) == []  # first sight: the time before it does not count
    assert coverage(w, group(me=[])) == []  # 10 s
    assert coverage(w, group(me=[])) == []  # 20 s
    assert coverage(w, group(me=[])) == [P0, P1, P2]  # 30 s
    # only what is unowned is named
    w = watch()
    for _ in range(3):
        coverage(w, group(me=[P0], other=[P2]))
    assert coverage(w, group(me=[P0], other=[P2])) == [P1]


def test_a_member_that_does_not_assign_waits_four_times_as_long():
    """Only the leader's rebuild brings fresh metadata to the assignment; another member's only makes the
    old leader assign again, so it acts only if the leader has not, for much longer."""
    w = watch()
    verdicts = []
    for _ in range(13):  # first sight, then 10 s of polling per check
        w.note_poll(10.0)
        w.fetch_suspects({})
        verdicts.append(w.coverage_verdict(group(me=[], leader=[]), ALL, leader=False))
    assert [bool(v) for v in verdicts] == [False] * 12 + [True]  # 120 s, where the leader needs 30 s


def test_full_coverage_a_rebalance_or_an_unknown_answer_starts_the_clock_again():
    for breaker in (
        lambda w: coverage(w, group(me=[P0, P1], other=[P2])),
        lambda w: coverage(w, group("PreparingRebalance", me=[])),
        lambda w: coverage(w, None),
        lambda w: coverage(w, group(me=[]), partitions=None),
    ):
        w = watch()
        for _ in range(3):
            assert coverage(w, group(me=[])) == []
        assert breaker(w) == []
        for _ in range(3):
            assert coverage(w, group(me=[])) == [], "the run was not broken"
        assert coverage(w, group(me=[])) == [P0, P1, P2]


def test_more_members_than_partitions_is_full_coverage():
    w = watch()
    for _ in range(10):
        assert coverage(w, group(a=[P0], b=[P1], c=[P2], d=[], e=[])) == []


def test_partitions_of_a_topic_we_do_not_subscribe_are_not_ours_to_judge():
    w = watch()
    for _ in range(10):
        assert coverage(w, group(me=[P0, P1, P2, TopicPartition("other", 0)])) == []


def test_reset_forgets_everything():
    w = watch()
    checks(w, {P0: 100}, 3)
    w.membership_verdict("me", frozenset(), group(other=[P0]))
    for _ in range(3):
        coverage(w, group(me=[]))
    w.reset()
    assert checks(w, {P0: 100}, 3) == []
    assert w.membership_verdict("me", frozenset(), group(other=[P0])) is None
    assert coverage(w, group(me=[])) == []
