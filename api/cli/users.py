"""``wecom-audit users …``, ``tokens …`` and ``access-log …``: bootstrap the first admin,
manage accounts and API tokens from the server, verify the access log.

The command line acts as an administrator (whoever can run it on the server can read its
configuration anyway); every change is written to the access log as ``cli:<os user>``.
Passwords are read without echo, or from stdin with ``--password-stdin`` for scripts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from api.cli.support import console, err_console, operator_principal, transaction, with_app
from api.context import AppContext
from archive.clock import utcnow
from audit.accesslog import jobs as access_jobs
from audit.handover.inheritance import apply_pending_inheritances
from audit.security import admin
from audit.security import scope as scopes
from audit.security import service as security
from audit.security.principal import Principal
from config.settings import load_settings

app = typer.Typer(help="Users of the audit API and console.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for integrations.", no_args_is_help=True)
access_log_app = typer.Typer(help="The access log (who read which chats).", no_args_is_help=True)

T = TypeVar("T")


def _run(work: Callable[[Session, Principal], T]) -> T:
    """One committed unit of work as the CLI operator; errors become a message and exit 1."""

    def unit(context: AppContext) -> T:
        with transaction(context) as session:
            return work(session, operator_principal())

    return with_app(unit)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _departments(values: list[str]) -> list[tuple[str, int]]:
    parsed = []
    for value in values:
        corp_id, _, dept = value.rpartition(":")
        if not corp_id or not dept.isdigit():
            raise typer.BadParameter(f"{value!r}: write departments as CORP_ID:DEPT_ID")
        parsed.append((corp_id, int(dept)))
    return parsed


@app.command("add")
def add_user(
    username: str,
    role: Annotated[str, typer.Option(help="admin, compliance_officer, reviewer, manager or auditor.")],
    display_name: Annotated[str, typer.Option(help="Shown in the console.")] = "",
    scope_all: Annotated[bool, typer.Option("--scope-all", help="May read chats of every department.")] = False,
    department: Annotated[
        list[str] | None, typer.Option(help="CORP_ID:DEPT_ID; the user reads this department subtree (repeatable).")
    ] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    wecom_userid: Annotated[
        str | None,
        typer.Option(help="The user's WeCom userid: they inherit handover successors' conversations through it."),
    ] = None,
    corp: Annotated[
        str | None, typer.Option("--corp", help="Corp of --wecom-userid (default: the configured one).")
    ] = None,
) -> None:
    """Create a user (the first one is usually an admin: `users add alice --role admin`)."""
    password = _read_password(password_stdin)
    departments = _departments(department or [])

    def create(session: Session, actor: Principal) -> admin.NewUser:
        member = (load_settings().corp(corp).corp_id, wecom_userid) if wecom_userid else None
        return admin.add_user(
            session,
            actor,
            username=username,
            password=password,
            role=role,
            display_name=display_name,
            scope_all=scope_all,
            departments=departments,
            wecom_member=member,
            inherit=apply_pending_inheritances,
            now=utcnow(),
        )

    added = _run(create)
    console.print(f"Created user [bold]{added.user.username}[/] ({added.user.role}).")
    if added.inherited:
        console.print(f"Granted {added.inherited} conversations {wecom_userid} inherited through handover cases.")


@app.command("list")
def list_users() -> None:
    """Every user with role, scope and state."""
    users = _run(lambda session, _: security.list_users(session))
    table = Table("user", "name", "role", "scope", "state")
    for user in users:
        scope = "all departments" if user.scope_all else ", ".join(f"{c}:{d}" for c, d in user.departments) or "-"
        state = "disabled" if user.disabled else "active"
        table.add_row(user.username, user.display_name, user.role, scope, state)
    console.print(table)


@app.command("disable")
def disable_user(username: str) -> None:
    """Disable a user (kept for the access log; their sessions end at once)."""
    _run(lambda session, actor: security.disable_user(session, actor, username, utcnow()))
    console.print(f"Disabled [bold]{username}[/].")


@app.command("passwd")
def set_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Set a user's password (also unlocks the account, ends its sessions and revokes its API tokens)."""
    password = _read_password(password_stdin)
    _run(lambda session, actor: security.set_password(session, actor, username, password, utcnow()))
    console.print(f"Password of [bold]{username}[/] changed.")


@app.command("protect")
def protect(
    corp_id: str,
    userid: str,
    reason: Annotated[str, typer.Option(help="Why (e.g. 'executive').")],
    officer: Annotated[list[str], typer.Option(help="User name of an officer who may open these chats.")],
) -> None:
    """Protect a member: only the named officers may open chats they take part in."""
    _run(
        lambda session, actor: scopes.protect_person(
            session, actor, corp_id=corp_id, userid=userid, reason=reason, officers=officer, now=utcnow()
        )
    )
    console.print(f"{userid} is protected; officers: {', '.join(officer)}.")


@tokens_app.command("create")
def create_token(
    username: str,
    name: Annotated[str, typer.Option(help="What the token is for.")],
    permission: Annotated[list[str], typer.Option(help="A permission of the user's role (repeatable).")],
    ttl_days: Annotated[int, typer.Option(help="Days until it expires.")] = 90,
) -> None:
    """Create an API token. Its secret is printed once, here."""
    view, secret = _run(
        lambda session, actor: security.create_token(
            session,
            actor,
            username=username,
            name=name,
            permissions=permission,
            ttl=timedelta(days=ttl_days),
            now=utcnow(),
        )
    )
    console.print(f"Token {view.id} for {view.username}, expires {view.expires_at:%Y-%m-%d}. Store it now:")
    print(secret)  # plain stdout: it can be piped into a secret store


@tokens_app.command("list")
def list_tokens(username: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None) -> None:
    tokens = _run(lambda session, _: security.list_tokens(session, username))
    table = Table("id", "user", "name", "prefix", "permissions", "expires", "state")
    for token in tokens:
        state = "revoked" if token.revoked_at else "active"
        table.add_row(
            str(token.id),
            token.username,
            token.name,
            token.prefix + "…",
            " ".join(token.permissions),
            f"{token.expires_at:%Y-%m-%d}",
            state,
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: int) -> None:
    _run(lambda session, actor: security.revoke_token(session, actor, token_id, utcnow()))
    console.print(f"Token {token_id} revoked.")


@access_log_app.command("verify")
def verify_access_log() -> None:
    """Recompute the access log's hash chain (with the key in keyed mode) and check it against
    every checkpoint, in the database and in the anchor file; exit 1 if any row was changed
    or removed. A log that verifies is checkpointed (and switched to keyed mode if configured)."""
    done = _run_job(access_jobs.verify_and_checkpoint)
    report = done.report
    if not report.ok:
        for problem in report.problems[:20]:
            err_console.print(f"[bold red]Broken:[/] {problem}")
        settings = load_settings()
        err_console.print(
            f"[yellow]What to do:[/] treat this as possible tampering. Compare {settings.access_log_checkpoint_file} "
            "with its off-site copy; no checkpoint was written."
        )
        raise typer.Exit(code=1)
    keyed = f", keyed from row {report.keyed_from:,}" if report.keyed_from is not None else ""
    console.print(
        f"[green]Access log intact[/]: {report.checked:,} rows, head at {report.head_position:,}{keyed}, "
        f"{report.checkpoints_checked:,} checkpoint entries matched."
    )
    if done.checkpoint is not None:
        console.print(f"Checkpoint written at row {done.checkpoint.position:,}.")


def _run_job(job: Callable[[sessionmaker[Session]], T]) -> T:
    """A job that opens its own transactions; errors become a message and exit 1."""
    return with_app(lambda context: job(context.session_factory))
