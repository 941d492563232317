"""Display names of the people in a page: staff by their directory name, external
contacts and robots by a short label (the archive holds no customer names)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.orm import Session

from archive.directory import repository as directory
from archive.messages import is_external_id
from archive.repository import known_corp_ids


@dataclass(frozen=True)
class People:
    names: dict[str, str]

    def name(self, wecom_id: str) -> str:
        if wecom_id in self.names:
            return self.names[wecom_id]
        if is_external_id(wecom_id) and len(wecom_id) > 12:
            return f"{wecom_id[:4]}…{wecom_id[-4:]}"  # external ids are long and opaque
        return wecom_id

    def is_external(self, wecom_id: str) -> bool:
        return is_external_id(wecom_id)

    def is_staff(self, wecom_id: str) -> bool:
        return not is_external_id(wecom_id) and not wecom_id.startswith("wb")


def people_of(session: Session, ids: Collection[str]) -> People:
    if not ids:
        return People({})
    names: dict[str, str] = {}
    for corp_id in known_corp_ids(session):
        for userid, member in directory.members(session, corp_id).items():
            if userid in ids:
                names[userid] = member.name
    return People(names)
