"""Storage models of the corp's directory as WeCom knows it: departments, members and their
memberships, customers and who follows them, groups and their members, robots, the history
of changes and the state of the sync (issue 14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base, BigIntId, JsonDocument

DEPARTMENT_NAME_LENGTH = 128
MEMBER_NAME_LENGTH = 128


class DirectoryDepartment(Base):
    """A department of the corp; ``parent_id`` is NULL for the root."""

    __tablename__ = "directory_departments"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    dept_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(DEPARTMENT_NAME_LENGTH))
    parent_id: Mapped[int | None] = mapped_column(BigInteger)
    # False once the feed no longer lists it; kept because policies and memberships name it.
    is_active: Mapped[bool]
    updated_at: Mapped[datetime]


class DirectoryMember(Base):
    """A member (employee) of the corp. Members who leave become inactive, never deleted."""

    __tablename__ = "directory_members"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(MEMBER_NAME_LENGTH))
    is_active: Mapped[bool]
    updated_at: Mapped[datetime]
    # When the member left (WeCom status 5, delete_user, or no longer listed); None while active.
    left_at: Mapped[datetime | None]


class DirectoryMembership(Base):
    """A member's department. An inactive member keeps the memberships it last had."""

    __tablename__ = "directory_memberships"
    __table_args__ = (
        ForeignKeyConstraint(
            ["corp_id", "userid"], ["directory_members.corp_id", "directory_members.userid"], ondelete="CASCADE"
        ),
        Index(None, "corp_id", "dept_id"),
    )

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    dept_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


# --- added for the directory synced from WeCom (issue 14) -------------------------------------

CUSTOMER_NAME_LENGTH = 256
GROUP_NAME_LENGTH = 256
REMARK_LENGTH = 256


class DirectoryCustomer(Base):
    """An external contact (客户) as WeCom's customer-contact API describes it.

    ``type`` is WeCom's: 1 a WeChat user, 2 a WeCom user (then ``corp_name`` is theirs).
    Customers are never deleted: old messages still name them.
    """

    __tablename__ = "directory_customers"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    external_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(CUSTOMER_NAME_LENGTH))
    type: Mapped[int]
    corp_name: Mapped[str | None] = mapped_column(String(CUSTOMER_NAME_LENGTH))
    corp_full_name: Mapped[str | None] = mapped_column(String(CUSTOMER_NAME_LENGTH))
    updated_at: Mapped[datetime]


class DirectoryFollow(Base):
    """A member who added a customer (WeCom's ``follow_user``), with the member's remark.

    ``removed_at``/``removed_by`` record the end of the relation: ``customer`` when the
    customer deleted the member (del_follow_user), ``member`` when the member deleted the
    customer (del_external_contact), ``unknown`` when a sync no longer lists it."""

    __tablename__ = "directory_follows"
    __table_args__ = (Index(None, "corp_id", "external_userid"),)

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    external_userid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    remark: Mapped[str | None] = mapped_column(String(REMARK_LENGTH))
    remark_corp_name: Mapped[str | None] = mapped_column(String(REMARK_LENGTH))
    added_at: Mapped[datetime | None]  # WeCom's createtime
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime]


class DirectoryGroup(Base):
    """A group chat: a customer group (externalcontact/groupchat) or an internal archived
    group (msgaudit/groupchat/get). ``is_active`` is False once dismissed or no longer listed."""

    __tablename__ = "directory_groups"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    roomid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(GROUP_NAME_LENGTH))
    kind: Mapped[str] = mapped_column(String(16))  # "customer" or "internal"
    owner: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    created_at: Mapped[datetime | None]  # WeCom's create time
    is_active: Mapped[bool]
    updated_at: Mapped[datetime]


class DirectoryGroupMember(Base):
    """A member of a group as last synced. ``member_type``: 1 internal member, 2 external contact."""

    __tablename__ = "directory_group_members"
    __table_args__ = (
        ForeignKeyConstraint(
            ["corp_id", "roomid"], ["directory_groups.corp_id", "directory_groups.roomid"], ondelete="CASCADE"
        ),
        Index(None, "corp_id", "member_id"),
    )

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    roomid: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    member_type: Mapped[int]
    joined_at: Mapped[datetime | None]
    nickname: Mapped[str | None] = mapped_column(String(GROUP_NAME_LENGTH))  # group_nickname


class DirectoryRobot(Base):
    """A robot (``wb…`` sender), from msgaudit/get_robot_info."""

    __tablename__ = "directory_robots"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    robot_id: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(MEMBER_NAME_LENGTH))
    creator_userid: Mapped[str | None] = mapped_column(String(WECOM_ID_LENGTH))
    updated_at: Mapped[datetime]


class DirectoryChange(Base):
    """What changed in the directory and when: joins, departures, moves, renames, customers
    lost. Append-only; ``occurred_at`` is WeCom's time when it gives one (callbacks), else the
    time the change was observed (a sync)."""

    __tablename__ = "directory_changes"
    __table_args__ = (Index(None, "corp_id", "subject_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH))
    # member / department / customer / follow / group / robot
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(WECOM_ID_LENGTH))
    # joined / left / returned / moved / renamed / removed / ...
    change: Mapped[str] = mapped_column(String(32))
    before: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    after: Mapped[Any] = mapped_column(JsonDocument, nullable=True)
    occurred_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # "sync" or "callback"


class DirectorySyncRun(Base):
    """The state of one corp's directory sync: the step it is at, so a killed sync resumes
    there, and the report of the last finished run."""

    __tablename__ = "directory_sync_runs"

    corp_id: Mapped[str] = mapped_column(String(CORP_ID_LENGTH), primary_key=True)
    step: Mapped[str | None] = mapped_column(String(32))  # None: no run in progress
    cursor: Mapped[Any] = mapped_column(JsonDocument, nullable=True)  # the step's resume point
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    report: Mapped[Any] = mapped_column(JsonDocument, nullable=True)  # the last finished run
    error: Mapped[str | None] = mapped_column(String(512))
