"""The simulated company: a wealth-management / insurance firm, its staff, customers and groups.

``build_company(seed)`` is deterministic: the same seed always gives the same company.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Literal

from archive.simulator import phrases

_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Department:
    id: int
    name: str
    parent_id: int | None


@dataclass(frozen=True)
class Employee:
    userid: str
    name: str
    department_id: int
    archived: bool  # the archiving licence is enabled (on the msgaudit permit list)


@dataclass(frozen=True)
class Customer:
    external_userid: str  # "wm…" / "wo…", 32 characters
    name: str
    corp_name: str | None
    type: int  # 1 WeChat user, 2 WeCom user


@dataclass(frozen=True)
class Group:
    roomid: str  # "wr" + 30 characters
    name: str
    owner: str
    members: tuple[str, ...]
    kind: Literal["internal", "customer"]


@dataclass(frozen=True)
class Robot:
    robot_id: str  # "wb…"
    name: str
    creator_userid: str


@dataclass(frozen=True)
class Company:
    corp_id: str
    name: str
    departments: tuple[Department, ...]
    employees: tuple[Employee, ...]
    customers: tuple[Customer, ...]
    groups: tuple[Group, ...]
    robots: tuple[Robot, ...]
    follows: tuple[tuple[str, str], ...]  # (employee userid, customer external_userid)
    _employees_by_id: dict[str, Employee] = field(init=False, repr=False, compare=False)
    _customers_by_id: dict[str, Customer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_employees_by_id", {e.userid: e for e in self.employees})
        object.__setattr__(self, "_customers_by_id", {c.external_userid: c for c in self.customers})

    def employee(self, userid: str) -> Employee:
        return self._employees_by_id[userid]

    def customer(self, external_userid: str) -> Customer:
        return self._customers_by_id[external_userid]

    def is_employee(self, user_id: str) -> bool:
        return user_id in self._employees_by_id

    @property
    def short_name(self) -> str:
        """The brand as staff say it, e.g. "鼎盛财富" for "上海鼎盛财富管理有限公司"."""
        for suffix, short, _slug in phrases.COMPANY_KINDS:
            if self.name.endswith(suffix):
                return self.name[2 : -len(suffix)] + short
        return self.name

    def department(self, department_id: int) -> Department:
        for dept in self.departments:
            if dept.id == department_id:
                return dept
        raise KeyError(department_id)


def _opaque_id(rng: random.Random, prefix: str, corp_segment: str, used: set[str]) -> str:
    while True:
        ident = prefix + corp_segment + "AA" + "".join(rng.choices(_ID_ALPHABET, k=22))
        if ident not in used:
            used.add(ident)
            return ident


def _person_name(rng: random.Random) -> tuple[str, str]:
    """A Chinese name and its pinyin (CamelCase), surnames weighted toward the common ones."""
    idx = min(int(rng.paretovariate(0.9)) - 1, len(phrases.SURNAMES) - 1)
    if rng.random() < 0.5:
        idx = rng.randrange(len(phrases.SURNAMES))
    sur, sur_py = phrases.SURNAMES[idx]
    parts = [rng.choice(phrases.GIVEN) for _ in range(1 if rng.random() < 0.3 else 2)]
    return sur + "".join(p[0] for p in parts), sur_py + "".join(p[1] for p in parts)


def build_company(seed: int, *, employees: int = 40, customers: int = 240, groups: int = 16) -> Company:
    if employees < 2 or customers < 1 or groups < 0:
        raise ValueError("need at least 2 employees and 1 customer")
    rng = random.Random(seed)
    corp_id = "ww" + f"{rng.getrandbits(64):016x}"
    brand, _slug = rng.choice(phrases.COMPANY_BRANDS)
    suffix, _short, _kind_slug = rng.choice(phrases.COMPANY_KINDS)
    name = rng.choice(phrases.CITIES[:4]) + brand + suffix
    corp_segment = "".join(rng.choices(_ID_ALPHABET, k=6))

    # departments: 1 is the company; the table's parent indices are shifted by 2
    departments = [Department(1, name, None)]
    for i, (dept_name, parent, _w, _facing) in enumerate(phrases.DEPARTMENTS):
        departments.append(Department(i + 2, dept_name, 1 if parent is None else parent + 2))
    weights = [w for _n, _p, w, _f in phrases.DEPARTMENTS]
    facing_ids = {i + 2 for i, row in enumerate(phrases.DEPARTMENTS) if row[3]}

    # employees: every department staffed first, then weighted
    dept_of: list[int] = list(range(2, 2 + min(employees, len(phrases.DEPARTMENTS))))
    dept_of += rng.choices(range(2, 2 + len(phrases.DEPARTMENTS)), weights=weights, k=employees - len(dept_of))
    dept_of.sort()
    staff: list[Employee] = []
    used_names: set[str] = set()
    used_ids: set[str] = set()
    for dept_id in dept_of:
        while True:
            person, pinyin = _person_name(rng)
            if person not in used_names:
                break
        used_names.add(person)
        userid = pinyin
        n = 2
        while userid.lower() in used_ids:
            userid = f"{pinyin}{n:02d}"
            n += 1
        used_ids.add(userid.lower())
        # a few members lack the archiving licence (more often back office)
        archived = rng.random() > (0.05 if dept_id in facing_ids else 0.2)
        staff.append(Employee(userid, person, dept_id, archived))
    if all(e.archived for e in staff) and len(staff) >= 10:
        back = [i for i, e in enumerate(staff) if e.department_id not in facing_ids]
        i = rng.choice(back or list(range(len(staff))))
        staff[i] = Employee(staff[i].userid, staff[i].name, staff[i].department_id, False)
    facing = [e for e in staff if e.department_id in facing_ids and e.department_id != 3] or staff
    sales = [e for e in facing if phrases.DEPARTMENTS[e.department_id - 2][0] != "客户服务部"] or facing
    service = [e for e in facing if phrases.DEPARTMENTS[e.department_id - 2][0] == "客户服务部"]
    managers = [e for e in staff if e.department_id == 2]

    # customers
    used_ext: set[str] = set()
    clients: list[Customer] = []
    for _ in range(customers):
        prefix = "wm" if rng.random() < 0.75 else "wo"
        ext = _opaque_id(rng, prefix, corp_segment, used_ext)
        ctype = 2 if rng.random() < 0.15 else 1
        person = _person_name(rng)[0] if rng.random() < 0.6 else rng.choice(phrases.NICKNAMES)
        corp_name = None
        if ctype == 2:
            corp_name = (
                rng.choice(phrases.CITIES) + rng.choice(phrases.CORP_WORDS) + rng.choice(phrases.CORP_INDUSTRIES)
            )
        clients.append(Customer(ext, person, corp_name, ctype))

    # follows: a primary advisor, sometimes customer service and a manager too
    follow_set: dict[tuple[str, str], None] = {}
    followers_of: dict[str, list[str]] = {}
    for cust in clients:
        advisors = [rng.choice(sales)]
        if service and rng.random() < 0.3:
            advisors.append(rng.choice(service))
        if managers and rng.random() < 0.05:
            advisors.append(rng.choice(managers))
        for emp in advisors:
            follow_set[(emp.userid, cust.external_userid)] = None
            followers_of.setdefault(emp.userid, []).append(cust.external_userid)
    follows = tuple(follow_set)

    # groups
    used_rooms: set[str] = set()
    group_list: list[Group] = []
    n_internal = round(groups * 0.4)
    used_group_names: set[str] = set()

    def unique_name(template: str) -> str:
        if "{n}" not in template:
            template = template.replace("群", "{n}群") if template.endswith("群") else template + "{n}"
            first = template.replace("{n}", "").format(short=brand + _short)
            if first not in used_group_names:
                used_group_names.add(first)
                return first
        n = 1
        while True:
            candidate = template.format(n=n, short=brand + _short)
            if candidate not in used_group_names:
                used_group_names.add(candidate)
                return candidate
            n += 1

    for i in range(groups):
        roomid = _opaque_id(rng, "wr", corp_segment, used_rooms)
        if i < n_internal:
            gname = unique_name(phrases.INTERNAL_GROUP_NAMES[i % len(phrases.INTERNAL_GROUP_NAMES)])
            if gname == "全员通知群":
                members = [e.userid for e in staff]
            else:
                size = rng.randint(3, min(15, len(staff)))
                members = [e.userid for e in rng.sample(staff, size)]
            owner = rng.choice(members)
            members.remove(owner)
            group_list.append(Group(roomid, gname, owner, (owner, *members), "internal"))
        else:
            gname = unique_name(rng.choice(phrases.CUSTOMER_GROUP_NAMES))
            owner_emp = rng.choice(sales)
            helpers = [e for e in rng.sample(facing, min(len(facing), 3)) if e.userid != owner_emp.userid]
            emps = [owner_emp.userid] + [e.userid for e in helpers[: rng.randint(0, 2)]]
            own = followers_of.get(owner_emp.userid, [])
            size = min(len(clients), rng.randint(5, 28))
            picked = dict.fromkeys(rng.sample(own, min(len(own), int(size * 0.7))))
            while len(picked) < size:
                picked[rng.choice(clients).external_userid] = None
            group_list.append(Group(roomid, gname, owner_emp.userid, (*emps, *picked), "customer"))

    # robots, created by IT staff (or anyone)
    it_staff = [e for e in staff if phrases.DEPARTMENTS[e.department_id - 2][0] == "信息技术部"] or staff
    used_robots: set[str] = set()
    robots = tuple(
        Robot(_opaque_id(rng, "wb", corp_segment, used_robots), robot_name, rng.choice(it_staff).userid)
        for robot_name in phrases.ROBOT_NAMES[: 2 + rng.randint(0, 2)]
    )

    return Company(
        corp_id=corp_id,
        name=name,
        departments=tuple(departments),
        employees=tuple(staff),
        customers=tuple(clients),
        groups=tuple(group_list),
        robots=robots,
        follows=follows,
    )
