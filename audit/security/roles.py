"""Roles and the permissions each one carries (one table; the API checks permissions only).

Separation of duties: the admin manages users, rules and tokens but reads no chat
content; the auditor reads the access log and nothing else, so whoever reads chats is
watched by someone who cannot."""

from __future__ import annotations

from enum import StrEnum

from audit.errors import InvalidInput


class Role(StrEnum):
    ADMIN = "admin"
    COMPLIANCE_OFFICER = "compliance_officer"
    REVIEWER = "reviewer"
    MANAGER = "manager"
    AUDITOR = "auditor"


class Permission(StrEnum):
    ARCHIVE_STATUS = "archive:status"
    CONTENT_READ = "content:read"
    ALERTS_READ = "alerts:read"
    ALERTS_REVIEW = "alerts:review"
    RULES_READ = "rules:read"
    RULES_WRITE = "rules:write"
    MONITOR_READ = "monitor:read"
    USERS_ADMIN = "users:admin"
    ACCESS_LOG_READ = "access_log:read"
    HANDOVER_READ = "handover:read"
    HANDOVER_MANAGE = "handover:manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {Permission.ARCHIVE_STATUS, Permission.RULES_READ, Permission.RULES_WRITE, Permission.USERS_ADMIN}
    ),
    Role.COMPLIANCE_OFFICER: frozenset(
        {
            Permission.ARCHIVE_STATUS,
            Permission.CONTENT_READ,
            Permission.ALERTS_READ,
            Permission.ALERTS_REVIEW,
            Permission.RULES_READ,
            Permission.RULES_WRITE,
            Permission.MONITOR_READ,
            Permission.HANDOVER_READ,
        }
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.CONTENT_READ,
            Permission.ALERTS_READ,
            Permission.ALERTS_REVIEW,
            Permission.RULES_READ,
            Permission.MONITOR_READ,
        }
    ),
    # Handover managers read the conversations they are granted or scoped to.
    Role.MANAGER: frozenset(
        {Permission.CONTENT_READ, Permission.MONITOR_READ, Permission.HANDOVER_READ, Permission.HANDOVER_MANAGE}
    ),
    Role.AUDITOR: frozenset({Permission.ACCESS_LOG_READ}),
}

# Permissions that open chat content (messages, attachments, handover dossier excerpts). A
# token carrying one is created by its owner only: nobody reads content as someone else.
CONTENT_PERMISSIONS: frozenset[Permission] = frozenset({Permission.CONTENT_READ, Permission.HANDOVER_READ})


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(
            f"unknown role {value!r}", hint=f"use one of: {', '.join(role.value for role in Role)}"
        ) from None


def parse_permissions(values: list[str]) -> frozenset[Permission]:
    try:
        return frozenset(Permission(value) for value in values)
    except ValueError:
        raise InvalidInput(
            "unknown permission", hint=f"use any of: {', '.join(permission.value for permission in Permission)}"
        ) from None
