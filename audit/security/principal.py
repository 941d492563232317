"""Who is asking: a signed-in user (session), an integration (API token) or the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from audit.security.errors import PermissionDenied
from audit.security.roles import Permission, Role


@dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    role: Role
    # The role's permissions, narrowed to the token's for token requests.
    permissions: frozenset[Permission]
    via: str  # session | token | cli
    session_digest: str | None = None
    token_id: int | None = None
    # The purpose remembered for the session (content reads need one).
    purpose: str | None = None
    # Carried into access-log rows so a row can be matched with the request's log lines.
    request_id: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(
                f"the {self.role.value} role{' (with this token)' if self.via == 'token' else ''} "
                f"may not do this ({permission.value})",
                hint="ask an administrator for a role or token with this permission",
            )
