"""Noticing a group consumer that its client library has left wedged.

Two CI runs failed the same way: a consumer that kafka-python 3.0.12 believed was
fine did nothing for minutes. In one, a member whose first assignment was empty
was dropped from the group and never rejoined, while it kept polling happily; in
the other, the chaos run's sentiment group stopped reading most of its partitions
after a broker restart and never started again. Neither raises anything, so the
worker's loop, its liveness probe and kafka-python's own retries all look healthy.

A third CI run met another shape of it: a notifier that joined its group when the
topic's partitions were not yet in its metadata was assigned nothing, and 90 s later
still held nothing, although kafka-python refreshes metadata every 15 s here and
rebalances when the partitions appear. One way the pinned version gets there is a
metadata refresh loop that ended (its failure goes to a future nobody reads), so
the group's leader never learns of the partitions; the rebuild log line now says
how old the client's metadata is and whether that loop still runs.

This module decides, from what can be observed from outside the client, when
such a consumer must be rebuilt. It has three independent checks, and none
fires on a slow but working consumer:

* **fetch** -- a partition we own and have not paused is behind its end offset
  (asked of the broker, not the client's cached high-water mark), and its
  position has not moved for ``fetch_stall_s`` of time spent *inside poll*. Time
  the worker spends processing, restoring state or sleeping does not count: a
  healthy client delivers a behind partition's next records within a fetch
  round-trip, so only a client that was polled for that long and still fetched
  nothing is stuck.
* **membership** -- the group coordinator says the group is ``Stable`` and
  either does not list our member id, or lists it with an assignment other than
  the one we hold, at two checks in a row. A stable group has finished its
  rebalance, so disagreement at two checks a check interval apart is not a
  rebalance in progress.
* **coverage** -- the group is ``Stable`` and some partition of the topics we
  subscribe to (as the broker lists them now, not the client's cached metadata)
  is assigned to no member, for ``unassigned_s`` of polling. A healthy leader
  learns of new partitions at its next metadata refresh and rebalances, so this
  is set to twice the refresh interval. Only the group's leader assigns, from its
  own metadata, so it is the member whose rebuild fixes this (its replacement
  assigns from fresh metadata); another member's rebuild only makes the old
  leader assign again. So the leader acts after ``unassigned_s``, the others only
  after four times that (in case the leader is too wedged to poll at all).

The verdict is a bounded reason code; the caller rebuilds the consumer (a fresh
member joins and resumes from the group's commits: duplicates, never loss) and
counts it in ``repwatch_consumer_rebuilds_total``. Pure: the caller passes in
every observation and the poll time spent, so tests drive it with numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kafka.structs import TopicPartition

FETCH_STALLED = "fetch_stalled"
EXPELLED = "expelled"
ASSIGNMENT_MISMATCH = "assignment_mismatch"
PARTITIONS_UNASSIGNED = "partitions_unassigned"
#: every reason a consumer is rebuilt for (the metric's ``reason`` label values)
REASONS = (FETCH_STALLED, EXPELLED, ASSIGNMENT_MISMATCH, PARTITIONS_UNASSIGNED)

#: how many times longer than the leader a member that does not assign waits before its rebuild
_NON_LEADER_WAIT = 4.0

#: the coordinator's word for a group whose rebalance is complete
STABLE = "Stable"


@dataclass(frozen=True, slots=True)
class GroupView:
    """The group as its coordinator describes it (DescribeGroups)."""

    state: str
    #: member id -> the partitions the coordinator assigned it
    members: Mapping[str, frozenset[TopicPartition]]


@dataclass(slots=True)
class _Progress:
    position: int | None
    #: poll time spent since the position last moved
    still_s: float = 0.0


@dataclass
class StallWatch:
    #: poll time a behind partition may go without its position moving
    fetch_stall_s: float
    #: poll time between two checks (each check costs the caller a broker request)
    check_every_s: float
    #: poll time a stable group may leave a partition of our topics with no member
    unassigned_s: float = 30.0
    _progress: dict[TopicPartition, _Progress] = field(default_factory=dict)
    _since_check_s: float = 0.0
    _disagreed: str | None = None
    #: the poll time spent at the check that is under way (set by fetch_suspects)
    _spent_s: float = 0.0
    #: poll time since a check first found some partition unowned (None: the last check did not)
    _uncovered_s: float | None = None

    def note_poll(self, spent_s: float) -> bool:
        """Add time spent inside poll; True when a check is due."""
        self._since_check_s += max(0.0, spent_s)
        return self._since_check_s >= self.check_every_s

    def fetch_suspects(self, positions: Mapping[TopicPartition, int | None]) -> list[TopicPartition]:
        """Start a check: ``positions`` of the owned, unpaused partitions (None: the
        client cannot say). Returns those whose position has not moved for
        ``fetch_stall_s`` of polling: the caller asks the broker for their end offsets."""
        spent, self._since_check_s = self._since_check_s, 0.0
        self._spent_s = spent
        for tp in [tp for tp in self._progress if tp not in positions]:
            del self._progress[tp]  # no longer ours (or paused): forget its history
        suspects = []
        for tp, pos in positions.items():
            p = self._progress.get(tp)
            if p is None or p.position != pos:
                self._progress[tp] = _Progress(pos)
                continue
            p.still_s += spent
            if p.still_s >= self.fetch_stall_s:
                suspects.append(tp)
        return sorted(suspects)

    def fetch_verdict(
        self, positions: Mapping[TopicPartition, int | None], ends: Mapping[TopicPartition, int]
    ) -> list[TopicPartition]:
        """The suspects that are really stuck: behind their end offset (a partition at
        its end is simply quiet, and its clock starts again)."""
        stuck = []
        for tp, end in ends.items():
            pos = positions.get(tp)
            # an unknown position counts as behind only if there is something to read
            if (pos if pos is not None else 0) >= end:
                self._progress[tp] = _Progress(pos)
            else:
                stuck.append(tp)
        return sorted(stuck)

    def membership_verdict(
        self, member_id: str, assignment: frozenset[TopicPartition], view: GroupView | None
    ) -> str | None:
        """A reason when the coordinator has disagreed with us at two checks in a row."""
        now = self._disagreement(member_id, assignment, view)
        verdict = now if now is not None and now == self._disagreed else None
        self._disagreed = None if verdict else now
        return verdict

    def coverage_verdict(
        self, view: GroupView | None, partitions: frozenset[TopicPartition] | None, leader: bool = True
    ) -> list[TopicPartition]:
        """Partitions of our topics (``partitions``, as the broker lists them; None: it
        could not be asked) that a stable group has left unowned for ``unassigned_s`` of
        polling (four times that unless we are the group's ``leader``); empty while that
        is not so. Called after ``fetch_suspects`` at a check."""
        if view is None or view.state != STABLE or partitions is None:
            self._uncovered_s = None  # unknown, or a rebalance under way: the clock starts again
            return []
        owned = frozenset().union(*view.members.values())
        unowned = partitions - owned
        if not unowned:
            self._uncovered_s = None
            return []
        # counted from the first check that saw it, not from the one before
        self._uncovered_s = 0.0 if self._uncovered_s is None else self._uncovered_s + self._spent_s
        wait = self.unassigned_s if leader else _NON_LEADER_WAIT * self.unassigned_s
        return sorted(unowned) if self._uncovered_s >= wait else []

    @staticmethod
    def _disagreement(member_id: str, assignment: frozenset[TopicPartition], view: GroupView | None) -> str | None:
        if view is None or view.state != STABLE:
            return None  # unknown, or a rebalance under way: nothing to judge yet
        if not member_id or member_id not in view.members:
            return EXPELLED
        if view.members[member_id] != assignment:
            return ASSIGNMENT_MISMATCH
        return None

    def reset(self) -> None:
        """After a rebuild: a new member starts with a clean slate."""
        self._progress.clear()
        self._since_check_s = 0.0
        self._disagreed = None
        self._spent_s = 0.0
        self._uncovered_s = None
