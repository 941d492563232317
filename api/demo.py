"""`wecom-audit demo`: the simulated company on WeCom's side, wecom-audit on ours.

Starts the simulator's server, builds and points the fake Finance SDK at it, registers
the simulated corp's private keys as an admin would (``keys add``), and runs the normal
scheduler on the embedded defaults — everything past the vendor edge is production code.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr
from rich.console import Console
from sqlalchemy.orm import Session

from api.context import AppContext
from api.unit_of_work import transaction
from archive.clock import utcnow
from archive.directory.jobs import run_sync
from archive.directory.service import sync_status
from archive.simulator.consent import ConsentWorld
from archive.simulator.directory import DirectoryWorld
from archive.simulator.fakesdk import build_fake_sdk
from archive.simulator.handover import HandoverWorld
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from audit.detect.rules.service import ensure_starter_rules
from audit.events.service import list_contact_events, record_contact_event
from config.settings import CorpSettings, Settings

# The simulated WeCom answers at once: no need to pace the demo's sync like a real corp's.
DEMO_DIRECTORY_CALLS_PER_MINUTE = 60_000
# Far more deletion events than the demo ever records (its leavers delete a few customers).
DEMO_CONTACT_EVENTS_MAX = 10_000


@dataclass
class DemoEnvironment:
    simulator: SimulatedWeCom
    server: SimulatorServer
    context: AppContext


def prepare_demo(settings: Settings, console: Console) -> DemoEnvironment:
    sim_settings = settings.simulator
    simulator = SimulatedWeCom(settings.data_dir / "simulator", seed=sim_settings.seed)
    if simulator.store.count() == 0:
        history = int(sim_settings.history_days * sim_settings.messages_per_day)
        console.print(f"Simulating up to {history:,} messages of chat history for {simulator.company.name}…")
        simulator.populate(
            history, messages_per_day=sim_settings.messages_per_day, rotate_after=int(history * 0.6), stop_at_end=True
        )
    server = SimulatorServer(
        simulator.store,
        corp_id=simulator.corp_id,
        secret=simulator.archive_secret,
        host=sim_settings.host,
        port=sim_settings.port,
    ).start()
    # The fake SDK (in the worker process) finds the simulated WeCom through this variable.
    os.environ["WECOM_FAKE_SDK_URL"] = server.url
    # WeCom's customer-contact API on the same server: two members have left, with customers
    # and groups to hand over (`handover:discover` opens their cases).
    handover = HandoverWorld.build(simulator.company, server.clock_ms()).install(server)
    # Consent to archiving (msgaudit/check_*_agree) as the chats imply; on a fresh start one
    # customer declines, then agrees a day later (the `consent:check` job records both).
    consent = ConsentWorld(simulator, handover.callbacks).install(server)
    if not consent.story_played():
        now_ms = server.clock_ms()
        consent.play_disagree_then_agree(now_ms - 30 * 3_600_000, now_ms - 6 * 3_600_000)
    settings.wecom = CorpSettings(
        corp_id=simulator.corp_id,
        archive_secret=SecretStr(simulator.archive_secret),
        contact_secret=SecretStr(handover.contact_secret),
        api_base_url=server.url,
    )
    settings.sdk.library_path = build_fake_sdk()
    # WeCom's directory API (通讯录, customers by member, internal groups, robots) on the
    # same server, over the same handover state.
    directory = DirectoryWorld(handover).install(server)
    context = AppContext(settings)
    context.migrate()
    # The same directory sync as a real installation (ADR 0020): once as WeCom was before the
    # two members left (the demo's installation knew them), then as it is now, which records
    # their departures (they keep their departments, so their old chats stay in scope).
    with transaction(context) as session:
        first_start = sync_status(session, simulator.corp_id).last_report is None
    if first_start:
        with directory.before_departures():
            sync_demo_directory(context, console)
    sync_demo_directory(context, console)
    with transaction(context) as session:
        record_departure_deletions(session, handover)
        seeded = ensure_starter_rules(session, utcnow(), settings.detection.lexicon_data_dir)
    if seeded:
        console.print(f"Loaded {seeded} starter lexicon groups (`wecom-audit lexicon list` shows them).")
    registered = set(context.keyring(simulator.corp_id).versions())
    for pair in simulator.key_pairs():
        if pair.version not in registered:
            context.key_store.add(simulator.corp_id, pair.version, pair.private_pem())
    return DemoEnvironment(simulator, server, context)


def sync_demo_directory(context: AppContext, console: Console) -> None:
    """``wecom-audit directory sync`` (an interrupted sync of an earlier start resumes)."""
    settings = context.settings
    report = run_sync(
        context.session_factory,
        settings.corp(),
        calls_per_minute=max(settings.scheduler.directory_calls_per_minute, DEMO_DIRECTORY_CALLS_PER_MINUTE),
        trigger="demo",
    )
    if report.counts:
        changes = ", ".join(f"{key} {value}" for key, value in sorted(report.counts.items()))
        console.print(f"Directory synced from the simulated WeCom ({report.api_calls} calls): {changes}.")


def record_departure_deletions(session: Session, handover: HandoverWorld) -> None:
    """The customers the leavers deleted in their last days, as the callback endpoint
    stores WeCom's ``del_external_contact`` events (once: the demo restarts keep them)."""
    corp_id = handover.company.corp_id
    recorded = {
        (event.user_id, event.external_user_id)
        for event in list_contact_events(
            session, corp_id, change_type="del_external_contact", limit=DEMO_CONTACT_EVENTS_MAX
        )
    }
    for deletion in handover.deletions:
        if (deletion.userid, deletion.external_userid) not in recorded:
            record_contact_event(
                session,
                corp_id=corp_id,
                change_type="del_external_contact",
                user_id=deletion.userid,
                external_user_id=deletion.external_userid,
                occurred_at=datetime.fromtimestamp(deletion.deleted_ms / 1000, UTC),
                raw={"ChangeType": "del_external_contact", "UserID": deletion.userid},
            )


class LiveTraffic:
    """Keeps the simulated company chatting while the demo runs."""

    def __init__(self, simulator: SimulatedWeCom, messages_per_minute: int) -> None:
        self.simulator = simulator
        self.messages_per_day = messages_per_minute * 1440
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.simulator.generate_until(int(time.time() * 1000), messages_per_day=self.messages_per_day)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class SentimentTraining:
    """Trains the sentiment model once, in the background, when none exists yet.

    The demo shows pulled data first: the thread starts after the scheduler, and the
    detection stage runs without sentiment until the model exists, then picks it up
    (``TrainedSentiment`` looks again on every run while the model is missing).
    """

    def __init__(self, settings: Settings, console: Console) -> None:
        self._model_dir = settings.sentiment_model_dir
        self._console = console
        self._thread = threading.Thread(target=self._run, name="sentiment-training", daemon=True)

    def needed(self) -> bool:
        try:
            from audit.nlp.sentiment import model_versions
        except ImportError:  # the nlp extra is not installed: detection runs without sentiment
            return False
        return not model_versions(self._model_dir)

    def start(self) -> None:
        """Start training if no model exists (a daemon thread: stopping the demo abandons it,
        and the next start trains again; a half-written version is never used)."""
        if not self.needed():
            return
        self._console.print(
            "Training the sentiment model once (about a minute, in the background); "
            "until it is ready, detection runs without sentiment."
        )
        self._thread.start()

    def _run(self) -> None:
        from audit.nlp.sentiment import ensure_model

        try:
            path = ensure_model(self._model_dir)
        except Exception as exc:  # reported, not fatal: the demo goes on without sentiment
            self._console.print(
                f"[yellow]Sentiment training failed ({type(exc).__name__}: {exc}); "
                "run `wecom-audit nlp train` to see why.[/]"
            )
            return
        self._console.print(f"Sentiment model ready: [bold]{path.name}[/] (used from the next detection run).")


DEMO_OFFICER = "demo"
DEMO_USERS = ((DEMO_OFFICER, "compliance_officer"), ("demo-manager", "manager"))


def ensure_demo_users(context: AppContext) -> dict[str, str]:
    """Company-wide demo accounts to sign in with — a compliance officer (``demo``) and a
    handover manager (``demo-manager``); returns the new passwords by username the first
    time (shown once), nothing for accounts that already exist."""
    import secrets

    from audit.errors import Conflict
    from audit.security import service as security

    created: dict[str, str] = {}
    for username, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            with transaction(context) as session:
                security.create_user(
                    session,
                    security.cli_principal("demo"),
                    username=username,
                    password=password,
                    role=role,
                    scope_all=True,
                    now=utcnow(),
                )
        except Conflict:
            continue
        created[username] = password
    return created
