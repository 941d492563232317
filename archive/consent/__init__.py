"""The consent ledger (同意会话存档): whether and since when each customer agreed to having
their chats archived, per member (single chats) and per customer group.

WeCom archives a chat with a customer only after that customer agreed (spec §9.17), so a
missing agreement explains missing data. Three sources feed one append-only event table:
WeCom's check APIs (spec §6.3, §6.4), the ``msg_audit_approved`` callback (spec §7.1, §8.8)
and archived ``agree``/``disagree`` messages (spec §4.5, §4.6)."""
