"""The conversation view renders every message type as what it is (images inline, voice
playable in the browser, files downloadable, cards, links, mini programs, red packets,
chat records), marks recalled messages with what they said, and keeps to the caller's
scope."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from archive.media.models import MediaTask
from archive.models import Message
from config.database import session_scope
from tests.api.world import PASSWORD, PURPOSE
from tests.console.conftest import ConsoleSite, Watched

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator

# What each type's bubble shows (the tag text, Chinese) when it is not plain text.
TYPE_TAGS = {
    "voice": "语音",
    "video": "视频",
    "file": "文件",
    "link": "链接",
    "weapp": "小程序",
    "card": "名片",
    "location": "位置",
    "redpacket": "红包",
    "external_redpacket": "互通红包",
    "chatrecord": "聊天记录",
    "revoke": "撤回",
    "vote": "投票",
    "meeting": "会议邀请",
    "docmsg": "在线文档",
}


def one_message_per_type(site: ConsoleSite) -> dict[str, tuple[int, int, bool]]:
    """msgtype → (message id, conversation id, has a downloaded attachment)."""
    with session_scope(site.world.context.session_factory) as session:
        done = set(session.execute(select(MediaTask.message_id).where(MediaTask.status == "done")).scalars())
        found: dict[str, tuple[int, int, bool]] = {}
        rows = session.execute(
            select(Message.msgtype, Message.id, Message.conversation_id)
            .where(Message.conversation_id.is_not(None))
            .order_by(Message.id)
        )
        for msgtype, message_id, conversation_id in rows:
            assert conversation_id is not None  # the query keeps only messages in a conversation
            current = found.get(msgtype)
            if current is None or (message_id in done and not current[2]):
                found[msgtype] = (message_id, conversation_id, message_id in done)
    return found


def open_at(tab: Watched, message_id: int, conversation_id: int) -> Locator:
    tab.goto(f"/console/conversations/{conversation_id}?anchor={message_id}")
    bubble = tab.page.locator(f'[data-message-id="{message_id}"][data-anchor]')
    bubble.wait_for()
    return bubble


def test_every_message_type_is_rendered_as_what_it_is(tab: Watched, console_site: ConsoleSite) -> None:
    samples = one_message_per_type(console_site)
    tab.login("compliance_officer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    for msgtype, (message_id, conversation_id, downloaded) in sorted(samples.items()):
        bubble = open_at(tab, message_id, conversation_id)
        assert bubble.get_attribute("data-msgtype") == msgtype
        content = bubble.locator(".bubble")
        assert content.inner_text().strip() or content.locator("img").count(), f"{msgtype} renders nothing"
        if msgtype in TYPE_TAGS:
            assert TYPE_TAGS[msgtype] in content.locator(".tag").first.inner_text(), msgtype
        if msgtype in ("image", "emotion") and downloaded:
            image = content.locator("img").first
            image.wait_for()
            assert tab.page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
            )


def test_voice_is_transcoded_and_plays_in_the_browser(tab: Watched, console_site: ConsoleSite) -> None:
    message_id, conversation_id, downloaded = one_message_per_type(console_site)["voice"]
    assert downloaded, "the media job downloaded no voice message"
    tab.login("compliance_officer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    bubble = open_at(tab, message_id, conversation_id)
    audio = bubble.locator("audio")
    source = audio.get_attribute("src")
    assert source and source.endswith("/voice")
    response = tab.page.request.get(console_site.at(source))
    assert response.status == 200 and response.headers["content-type"] == "audio/ogg"
    assert response.body()[:4] == b"OggS"
    # The browser itself decodes it: metadata loads and the duration is known.
    duration = audio.evaluate(
        """(audio) => new Promise((resolve, reject) => {
            audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
            audio.addEventListener('error', () => reject(new Error('cannot play: ' + audio.error.code)));
            audio.preload = 'metadata'; audio.load();
        })"""
    )
    assert duration > 0


def test_files_download_and_recalled_messages_show_what_they_said(tab: Watched, console_site: ConsoleSite) -> None:
    samples = one_message_per_type(console_site)
    tab.login("compliance_officer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    message_id, conversation_id, downloaded = samples["file"]
    if downloaded:
        bubble = open_at(tab, message_id, conversation_id)
        with tab.page.expect_download() as download:
            bubble.get_by_role("link").first.click()
        assert download.value.suggested_filename.startswith(f"{message_id}-")
    recall_id, conversation_id, _ = samples["revoke"]
    with session_scope(console_site.world.context.session_factory) as session:
        recall = session.get(Message, recall_id)
        assert recall is not None
        original = session.execute(
            select(Message).where(Message.msgid == recall.body["pre_msgid"])
        ).scalar_one_or_none()
    bubble = open_at(tab, recall_id, conversation_id)
    if original is not None and original.text:
        assert original.text.strip()[:10] in bubble.locator("q").inner_text()
        marked = tab.page.locator(f'[data-message-id="{original.id}"] .recalled-tag')
        if tab.page.locator(f'[data-message-id="{original.id}"]').count():
            assert marked.inner_text() == "已撤回"
    else:
        assert "撤回了一条消息" in bubble.inner_text()


def test_a_conversation_with_many_kinds_of_message(tab: Watched, console_site: ConsoleSite) -> None:
    """The screenshot of the conversation view: the conversation with the most message types."""
    with session_scope(console_site.world.context.session_factory) as session:
        kinds: dict[int, set[str]] = defaultdict(set)
        for conversation_id, msgtype in session.execute(select(Message.conversation_id, Message.msgtype)):
            if conversation_id is not None:
                kinds[conversation_id].add(msgtype)
    richest = max(kinds, key=lambda c: len(kinds[c]))
    tab.login("compliance_officer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    tab.goto(f"/console/conversations/{richest}")
    assert tab.page.locator(".bubble-row").count() >= len(kinds[richest])
    tab.page.wait_for_load_state("networkidle")
    tab.screenshot("conversation-types")


def test_a_reviewer_cannot_open_a_conversation_outside_their_scope(tab: Watched, console_site: ConsoleSite) -> None:
    world = console_site.world
    tab.expected_statuses.add(403)
    tab.login("reviewer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    response = tab.goto(f"/console/conversations/{world.in_conversation}")
    assert response.status == 200
    response = tab.goto(f"/console/conversations/{world.out_conversation}")
    assert response.status == 403
    assert tab.page.get_by_role("heading", name="403 没有权限").is_visible()
    response = tab.goto(f"/console/messages/{world.out_message}")
    assert response.status == 403


def test_times_are_shown_in_the_browsers_zone(browser: Browser, console_site: ConsoleSite) -> None:
    context = browser.new_context(timezone_id="America/New_York", locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(console_site.at("/console/login"))
        page.get_by_label("用户名").fill("compliance_officer")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.goto(console_site.at("/console/search"))
        page.get_by_label("目的").fill(PURPOSE)
        page.get_by_role("button", name="继续").click()
        page.wait_for_load_state()
        # console.js remembered the browser's zone on the first page: later pages use it.
        page.goto(console_site.at(f"/console/conversations/{console_site.world.in_conversation}"))
        stamp = page.locator("time").first
        shown = stamp.inner_text()
        stamped = stamp.get_attribute("datetime")
        assert stamped is not None
        moment = datetime.fromisoformat(stamped)
        assert shown == moment.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S")
    finally:
        context.close()


def test_a_conversation_exports_with_its_manifest(tab: Watched, console_site: ConsoleSite) -> None:
    conversation_id = console_site.world.in_conversation
    tab.login("compliance_officer")
    tab.goto("/console/search")
    tab.give_purpose(PURPOSE)
    tab.goto(f"/console/conversations/{conversation_id}")
    with tab.page.expect_download() as download:
        tab.page.get_by_role("button", name="导出此会话").click()
    with zipfile.ZipFile(download.value.path()) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        exported = archive.read(manifest["file"])
    lines = exported.splitlines()
    assert hashlib.sha256(exported).hexdigest() == manifest["sha256"]
    assert manifest["conversation_id"] == conversation_id
    assert manifest["count"] == len(lines) > 0
