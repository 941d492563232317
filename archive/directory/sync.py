"""The directory sync from WeCom: departments, members, customers and follows, groups, robots.

Contract:
- One sync per corp at a time: the ``directory:<corp>`` lease (``archive.repository``) is
  taken before anything is read and renewed in every transaction that writes; a sync that
  finds it held raises :class:`DirectorySyncBusy`.
- Steps run in order (``STEPS``). Every transaction writes a slice of one step *and* moves
  ``DirectorySyncRun.step``/``cursor`` past it, so a sync killed anywhere resumes at the
  step and slice it was in, and no slice is ever half written.
- Incremental: rows are compared before they are written; an unchanged directory writes
  nothing but the run row. Re-reading a slice after a crash changes nothing twice.
- Nothing is deleted. Departures, removed departments, dismissed groups and lost customers
  are marked (``is_active``/``left_at``/``removed_at``) and recorded as ``DirectoryChange``
  rows dated when the sync observed them.
- "No longer listed" is judged against the step's plan — the ids WeCom listed when the
  step began, kept in the cursor — so a resumed step judges against the same list.
- WeCom's answers are validated by ``archive.wecom.directory``: a malformed answer fails
  the sync (typed error, recorded on the run row), it is never skipped.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from archive import repository as archive_repository
from archive.clock import Clock, utcnow
from archive.directory import repository
from archive.directory.errors import DirectorySyncBusy
from archive.directory.writes import GroupData, SliceWriter
from archive.errors import ArchiveError, LeaseLostError
from archive.puller import _holder_is_dead_local_process, default_holder
from archive.wecom.contacts import WeComContacts
from archive.wecom.directory import (
    CallPacer,
    Follow,
    Member,
    NotInternalGroupError,
    Robot,
    WeComDirectory,
)
from archive.wecom.errors import WeComApiError, WeComConfigurationError, WeComRejectedError, WeComTransientError
from config.database import session_scope
from config.logs import get_logger

log = get_logger("archive.directory")

STEPS: Final = ("departments", "members", "customers", "groups", "robots")
DONE: Final = "done"  # every step written; only the report is missing
MEMBER_CHUNK: Final = 50  # user/get calls per transaction
# Members per customers slice: one batch/get_by_user walk (≤100 userids allowed) can be
# thousands of pages for big books, and a slice must end well inside the lease's TTL.
FOLLOW_USERS_CHUNK: Final = 10
GROUP_CHUNK: Final = 20  # group reads per transaction
ROBOT_CHUNK: Final = 50
DEFAULT_LEASE_TTL: Final = timedelta(minutes=10)  # renewed by every slice
ERROR_MAX_CHARS: Final = 512

ProgressCallback = Callable[[str, int, int], None]  # step, done, total


@dataclass(frozen=True)
class DirectorySyncReport:
    """What one sync changed (``counts`` keyed ``<kind>.<change>``), how long it took and how
    many WeCom calls it made (those of an interrupted run it resumed included)."""

    corp_id: str
    trigger: str
    counts: dict[str, int]
    api_calls: int
    duration_s: float
    resumed_from: str | None
    finished_at: datetime

    def count(self, key: str) -> int:
        return self.counts.get(key, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "corp_id": self.corp_id,
            "trigger": self.trigger,
            "counts": dict(sorted(self.counts.items())),
            "api_calls": self.api_calls,
            "duration_s": self.duration_s,
            "resumed_from": self.resumed_from,
            "finished_at": self.finished_at.isoformat(),
        }


@dataclass
class _State:
    step: str
    step_cursor: dict[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    earlier_calls: int = 0  # WeCom calls of the interrupted runs this one resumes
    resumed_from: str | None = None

    def cursor_json(self, calls: int) -> dict[str, Any]:
        return {
            "run": {"counts": dict(self.counts), "calls": calls, "resumed_from": self.resumed_from},
            "step": self.step_cursor,
        }


class DirectorySync:
    """Syncs one corp's directory from WeCom into the ``directory_*`` tables."""

    def __init__(
        self,
        corp_id: str,
        directory: WeComDirectory,
        contacts: WeComContacts,
        session_factory: sessionmaker[Session],
        *,
        pacer: CallPacer,
        clock: Clock = utcnow,
        holder: str | None = None,
        lease_ttl: timedelta = DEFAULT_LEASE_TTL,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.corp_id = corp_id
        self.directory = directory
        self.contacts = contacts
        self.session_factory = session_factory
        self.pacer = pacer  # the pacer of both clients: it counts their calls
        self.clock = clock
        self.holder = holder or default_holder()
        self.lease_ttl = lease_ttl
        self.progress = progress

    @property
    def lease_name(self) -> str:
        return repository.sync_lease_name(self.corp_id)

    async def run(self, trigger: str = "manual") -> DirectorySyncReport:
        """Sync (or resume the interrupted sync) to the end. A failure is recorded on the
        run row, which keeps its step for the next run, and raised."""
        started = time.monotonic()
        self._acquire()
        try:
            state = self._begin()
            log.info("archive.directory.sync.started", corp_id=self.corp_id, trigger=trigger, step=state.step)
            steps = {
                "departments": self._departments,
                "members": self._members,
                "customers": self._customers,
                "groups": self._groups,
                "robots": self._robots,
            }
            while state.step in steps:
                await steps[state.step](state)
            report = self._finish(state, trigger, started)
        except BaseException as exc:
            self._record_failure(exc)
            raise
        finally:
            self._release()
        log.info(
            "archive.directory.sync.completed",
            corp_id=self.corp_id,
            trigger=trigger,
            api_calls=report.api_calls,
            duration_s=report.duration_s,
            resumed_from=report.resumed_from,
            **{key.replace(".", "_"): value for key, value in report.counts.items()},
        )
        return report

    # --- run bookkeeping ----------------------------------------------------------------------

    def _acquire(self) -> None:
        with session_scope(self.session_factory) as session:
            current = archive_repository.lease_holder(session, self.lease_name)
            dead = current if current and _holder_is_dead_local_process(current) else None
            if archive_repository.acquire_lease(
                session, self.lease_name, self.holder, self.clock(), self.lease_ttl, take_over_from=dead
            ):
                return
        raise DirectorySyncBusy(
            f"a directory sync of corp {self.corp_id} is already running ({current})",
            hint="wait for it to finish (`wecom-audit directory status` shows its step)",
        )

    def _release(self) -> None:
        try:
            with session_scope(self.session_factory) as session:
                archive_repository.release_lease(session, self.lease_name, self.holder)
        except Exception as exc:  # the database that failed the run may refuse this too: the lease expires
            log.warning("archive.directory.lease_not_released", corp_id=self.corp_id, error_type=type(exc).__name__)

    def _begin(self) -> _State:
        with session_scope(self.session_factory) as session:
            run = repository.sync_run(session, self.corp_id) or repository.add_sync_run(session, self.corp_id)
            if run.step is None or (run.step not in STEPS and run.step != DONE):
                state = _State(STEPS[0], {})
                run.started_at = self.clock()
            else:
                saved = run.cursor if isinstance(run.cursor, dict) else {}
                progress = saved.get("run", {})
                state = _State(
                    run.step,
                    dict(saved.get("step", {})),
                    Counter(progress.get("counts", {})),
                    int(progress.get("calls", 0)),
                    progress.get("resumed_from") or run.step,
                )
            run.step, run.cursor, run.error = state.step, state.cursor_json(state.earlier_calls), None
        return state

    def _save(
        self, state: _State, write: Callable[[SliceWriter], None] | None, step: str, cursor: dict[str, Any]
    ) -> None:
        """One transaction: renew the lease, write a slice, move the run past it."""
        with session_scope(self.session_factory) as session:
            now = self.clock()
            if not archive_repository.renew_lease(session, self.lease_name, self.holder, now, self.lease_ttl):
                raise LeaseLostError(
                    f"the directory sync lease of corp {self.corp_id} was taken over",
                    hint="another sync took over after this one stalled; it carries on from the saved step",
                )
            counts_before = Counter(state.counts)
            try:
                if write is not None:
                    write(SliceWriter(session, self.corp_id, state.counts, now))
                run = repository.sync_run(session, self.corp_id)
                assert run is not None  # created by _begin, never deleted
                run.step = step
                saved = _State(step, cursor, state.counts, state.earlier_calls, state.resumed_from)
                run.cursor = saved.cursor_json(state.earlier_calls + self.pacer.calls)
                session.flush()
            except BaseException:
                state.counts = counts_before  # the slice is rolled back: so are its counts
                raise
        state.step, state.step_cursor = step, cursor

    def _finish(self, state: _State, trigger: str, started: float) -> DirectorySyncReport:
        report = DirectorySyncReport(
            corp_id=self.corp_id,
            trigger=trigger,
            counts=dict(state.counts),
            api_calls=state.earlier_calls + self.pacer.calls,
            duration_s=round(time.monotonic() - started, 3),
            resumed_from=state.resumed_from,
            finished_at=self.clock(),
        )
        with session_scope(self.session_factory) as session:
            run = repository.sync_run(session, self.corp_id)
            assert run is not None
            run.step, run.cursor, run.error = None, None, None
            run.finished_at, run.report = report.finished_at, report.to_json()
        return report

    def _record_failure(self, exc: BaseException) -> None:
        # Archive errors carry no URL, secret or content (see archive.wecom); anything else is
        # recorded by type only, as a database error's text can quote row values.
        message = str(exc) if isinstance(exc, ArchiveError) else f"unexpected {type(exc).__name__}"
        log.error("archive.directory.sync.failed", corp_id=self.corp_id, error_type=type(exc).__name__)
        try:
            with session_scope(self.session_factory) as session:
                run = repository.sync_run(session, self.corp_id)
                if run is not None:
                    run.error = message[:ERROR_MAX_CHARS]
                    if _plan_went_stale(exc) and isinstance(run.cursor, dict):
                        # WeCom refused something the plan names (a member who left since the
                        # step listed them, a group dismissed since): resuming the same slice
                        # would fail forever, so the next run re-lists the step from its start.
                        run.cursor = {**run.cursor, "step": {}}
        except Exception as record_error:  # the database may be what failed
            log.warning(
                "archive.directory.failure_not_recorded", corp_id=self.corp_id, error_type=type(record_error).__name__
            )

    def _tick(self, step: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(step, done, total)

    # --- the steps: read WeCom, then write slices (archive.directory.writes) --------------------

    async def _departments(self, state: _State) -> None:
        departments = await self.directory.departments()
        self._tick("departments", 0, len(departments))
        self._save(state, lambda writer: writer.departments(departments), "members", {})
        self._tick("departments", len(departments), len(departments))

    async def _members(self, state: _State) -> None:
        cursor = state.step_cursor
        if "plan" not in cursor:
            refs = await self.directory.member_refs()
            with session_scope(self.session_factory) as session:
                baseline = not repository.members(session, self.corp_id)
            cursor = {"plan": sorted(ref.userid for ref in refs), "next": 0, "baseline": baseline}
            self._save(state, None, "members", cursor)
        plan: list[str] = list(cursor["plan"])
        baseline = bool(cursor["baseline"])
        done = int(cursor["next"])
        self._tick("members", done, len(plan))
        while done < len(plan):
            chunk = plan[done : done + MEMBER_CHUNK]
            fetched = [(userid, await self.directory.member(userid)) for userid in chunk]

            def write(writer: SliceWriter, fetched: list[tuple[str, Member | None]] = fetched) -> None:
                for userid, member in fetched:
                    writer.member(userid, member, baseline=baseline)

            done += len(chunk)
            self._save(state, write, "members", {**cursor, "next": done})
            self._tick("members", done, len(plan))
        self._save(state, lambda writer: writer.members_not_listed(set(plan)), "customers", {})

    async def _customers(self, state: _State) -> None:
        cursor = state.step_cursor
        if "plan" not in cursor:
            users = await self.directory.follow_users()
            with session_scope(self.session_factory) as session:
                baseline = not repository.has_follows(session, self.corp_id)
            cursor = {"plan": sorted(set(users)), "next": 0, "baseline": baseline}
            self._save(state, None, "customers", cursor)
        plan: list[str] = list(cursor["plan"])
        baseline = bool(cursor["baseline"])
        done = int(cursor["next"])
        self._tick("customers", done, len(plan))
        while done < len(plan):
            chunk = plan[done : done + FOLLOW_USERS_CHUNK]
            follows = await self.directory.follows_of(chunk)

            def write(writer: SliceWriter, chunk: list[str] = chunk, follows: list[Follow] = follows) -> None:
                writer.follows(chunk, follows, baseline=baseline)

            done += len(chunk)
            self._save(state, write, "customers", {**cursor, "next": done})
            self._tick("customers", done, len(plan))
        # Members no longer in get_follow_user_list (departed ones above all) keep their follows
        # as they were: a departed member's customers await a handover (spec §8.1), not lost.
        self._save(state, None, "groups", {})

    async def _groups(self, state: _State) -> None:
        cursor = state.step_cursor
        if "plan" not in cursor:
            customer_ids = sorted({summary.chat_id for summary in await self.contacts.group_chats()})
            # Internal groups have no list API: the archive's group conversations name them. A
            # stored customer group is not asked of msgaudit again (it would answer 301059).
            with session_scope(self.session_factory) as session:
                archived = repository.archived_group_roomids(session, self.corp_id)
                known = {r for r, g in repository.groups(session, self.corp_id).items() if g.kind == "customer"}
            listed = set(customer_ids) | known
            plan = [["customer", roomid] for roomid in customer_ids]
            plan += [["internal", roomid] for roomid in archived if roomid not in listed]
            cursor = {"plan": plan, "next": 0}
            self._save(state, None, "groups", cursor)
        plan_rows: list[list[str]] = [list(item) for item in cursor["plan"]]
        done = int(cursor["next"])
        self._tick("groups", done, len(plan_rows))
        while done < len(plan_rows):
            chunk = plan_rows[done : done + GROUP_CHUNK]
            fetched: list[GroupData] = []
            for kind, roomid in chunk:
                group = await self._read_group(kind, roomid)
                if group is None:
                    state.counts["groups.unlisted_customer"] += 1
                else:
                    fetched.append(group)

            def write(writer: SliceWriter, fetched: list[GroupData] = fetched) -> None:
                for group in fetched:
                    writer.group(group)

            done += len(chunk)
            self._save(state, write, "groups", {**cursor, "next": done})
            self._tick("groups", done, len(plan_rows))
        listed_customer_groups = {roomid for kind, roomid in plan_rows if kind == "customer"}
        self._save(state, lambda writer: writer.customer_groups_not_listed(listed_customer_groups), "robots", {})

    async def _read_group(self, kind: str, roomid: str) -> GroupData | None:
        if kind == "customer":
            chat = await self.contacts.group_chat(roomid)
            return GroupData(
                roomid,
                "customer",
                chat.name,
                chat.owner or None,
                chat.create_time,
                {m.userid: (m.type, m.join_time) for m in chat.members},
            )
        try:
            group = await self.directory.internal_group(roomid)
        except NotInternalGroupError:
            # A customer group groupchat/list does not list (dismissed, or outside the app's
            # range): counted in the report (``groups.unlisted_customer``), nothing stored.
            return None
        return GroupData(
            roomid,
            "internal",
            group.name,
            group.creator or None,
            group.created_at,
            {m.userid: (1, m.joined_at) for m in group.members},
        )

    async def _robots(self, state: _State) -> None:
        cursor = state.step_cursor
        if "plan" not in cursor:
            # Robots have no list API either: the archive's ``wb…`` senders name them.
            with session_scope(self.session_factory) as session:
                robot_ids = repository.archived_robot_ids(session, self.corp_id)
            cursor = {"plan": robot_ids, "next": 0}
            self._save(state, None, "robots", cursor)
        plan: list[str] = list(cursor["plan"])
        done = int(cursor["next"])
        while done < len(plan):
            chunk = plan[done : done + ROBOT_CHUNK]
            fetched: list[Robot] = []
            for robot_id in chunk:
                try:
                    fetched.append(await self.directory.robot(robot_id))
                except WeComRejectedError:  # a robot WeCom no longer knows: counted, kept as last read
                    state.counts["robots.unknown"] += 1

            def write(writer: SliceWriter, fetched: list[Robot] = fetched) -> None:
                writer.robots(fetched)

            done += len(chunk)
            self._save(state, write, "robots", {**cursor, "next": done})
            self._tick("robots", done, len(plan))
        self._save(state, None, DONE, {})


def _plan_went_stale(exc: BaseException) -> bool:
    """WeCom answered about the data (not the secret, scope or network): the step's plan may
    name what no longer exists."""
    return isinstance(exc, WeComApiError) and not isinstance(exc, WeComConfigurationError | WeComTransientError)
