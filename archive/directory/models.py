"""Storage models of the org directory: departments, members and their memberships."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import CORP_ID_LENGTH, WECOM_ID_LENGTH, Base

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
