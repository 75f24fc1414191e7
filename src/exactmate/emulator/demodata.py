"""Deterministic demo data: the same ``config.seed`` and start time give the same records and ids.

Every division (the accessible ones and the forbidden one) gets divisions lists, currencies,
employees (one linked to the demo user: ``current/Me.EmployeeID``), items (some hour types with
``IsTime`` = 1, some not), projects, contacts, accounts and project time transactions in statuses 1,
2, 10 and 20.

``config.records`` sizes the accounts and the time transactions of the *first* division, the one
the benchmarks use; the other divisions get at most ``SECONDARY_RECORDS`` of each, so 200,000
records stay cheap to build and to hold. Accounts and time transactions are virtual rows (see
store.py); dates are spread over the days before the emulator's start date, so "recent hours"
functions find data whatever the date is; Created and Modified grow with the Timestamp.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exactmate.emulator.config import DEMO_FULL_NAME, DEMO_USER_ID, DEMO_USERNAME, EmulatorConfig
from exactmate.emulator.serialize import iso_of_wall_ms, today_wall_ms, wall_ms
from exactmate.emulator.store import DataStore, Row, guid_sequence

SECONDARY_RECORDS = 250
DAY_MS = 86_400_000
TT_DAYS = 120  # time transactions are spread over this many days before the start date
TT_STATUSES = (20, 20, 20, 20, 10, 10, 1, 1, 2, 20)  # HourStatus by transaction index (mod 10)

_DIVISION_NAMES = ("Demo Consultancy B.V.", "Demo Engineering B.V.", "Demo Services B.V.", "Demo Retail B.V.")
_FORBIDDEN_NAME = "Restricted Holding B.V."
_ADJECTIVES = ("Blue", "North", "Prime", "Golden", "Royal", "Green", "Swift", "Bright", "Polder", "Oak")
_NOUNS = ("Harbor", "Tulip", "Canal", "Mill", "Dune", "Bridge", "Lantern", "Anchor", "Meadow", "Beacon")
_SUFFIXES = ("B.V.", "Holding", "Group", "& Zonen", "Services", "Trading", "Partners")
_CITIES = (
    ("Amsterdam", "1011 AB"),
    ("Rotterdam", "3011 CD"),
    ("Utrecht", "3511 EF"),
    ("Delft", "2611 GH"),
    ("Eindhoven", "5611 JK"),
    ("Groningen", "9711 LM"),
    ("Haarlem", "2011 NP"),
    ("Leiden", "2311 RS"),
)
_FIRST = ("Sanne", "Daan", "Lotte", "Bram", "Eva", "Joost", "Fleur", "Ruben")
_LAST = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Mulder", "Bos", "Peters")
# (Code, Description, IsTime, fractions allowed, sales price, unit)
_ITEMS = (
    ("CONSULT", "Consultancy", 1, True, 95.0, "uur"),
    ("DEVELOP", "Software development", 1, True, 85.0, "uur"),
    ("PM", "Project management", 1, True, 105.0, "uur"),
    ("TRAVEL", "Travel time", 1, True, 45.0, "uur"),
    ("SUPPORT", "Support", 1, True, 75.0, "uur"),
    ("TRAINING", "Training", 1, False, 110.0, "uur"),
    ("LAPTOP", "Laptop", 0, False, 1250.0, "stk"),
    ("MILEAGE", "Mileage", 0, True, 0.23, "km"),
    ("LICENSE", "Software licence", 0, False, 40.0, "stk"),
    ("MANUAL", "Printed manual", 0, False, 12.5, "stk"),
)
_PROJECTS = 12
_PROJECT_KINDS = ("Implementation", "Migration", "Support contract", "Audit")
_EMPLOYEES = 8
_QUANTITIES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 7.5, 8.0)
_NOTES = ("Workshop preparation", "Sprint review", None, "Customer call", "Code review", None, "On site")


@dataclass(frozen=True)
class DivisionInfo:
    code: int
    description: str
    demo_employee: str  # the payroll/Employees ID linked to the demo user
    accessible: bool


def company_name(i: int) -> str:
    return _COMPANY_NAMES[i % len(_COMPANY_NAMES)]


# Precomputed so that rebuilding a virtual account row stays cheap: name, website slug, search code.
_COMPANY_NAMES = tuple(
    f"{_ADJECTIVES[i % 10]} {_NOUNS[(i // 10) % 10]} {_SUFFIXES[(i // 100) % 7]}" for i in range(700)
)
_SLUGS = tuple(f"{_ADJECTIVES[i % 10]}{_NOUNS[(i // 10) % 10]}".lower() for i in range(100))
_ACCOUNT_STATIC = {
    "Country": "NL",
    "CountryName": "Netherlands",
    "Language": "NL",
    "LanguageDescription": "Dutch",
    "IsSales": True,
    "Blocked": False,
    "Currency": "EUR",
    "Type": "A",
}


def division_description(config: EmulatorConfig, code: int) -> str:
    """The name of a demo division (any other code gets a plain "Division N")."""
    index = code - config.accessible_divisions[0]
    if code == config.forbidden_division:
        return _FORBIDDEN_NAME
    if not 0 <= index < config.divisions:
        return f"Division {code}"
    return _DIVISION_NAMES[index] if index < len(_DIVISION_NAMES) else f"Demo Division {index + 1} B.V."


class _Division:
    """Builds one division's demo records."""

    def __init__(self, store: DataStore, config: EmulatorConfig, code: int, start: float) -> None:
        self.store = store
        self.config = config
        self.code = code
        self.now_ms = wall_ms(start)
        self.today = today_wall_ms(start)
        first = code == config.accessible_divisions[0]
        self.records = config.records if first else min(config.records, SECONDARY_RECORDS)
        self.description = division_description(config, code)

    def ids(self, name: str, count: int) -> list[str]:
        return guid_sequence(f"{self.config.seed}:{self.code}:{name}", count)

    def audit(self, created: int) -> Row:
        return {
            "Division": self.code,
            "Created": created,
            "Creator": DEMO_USER_ID,
            "CreatorFullName": DEMO_FULL_NAME,
            "Modified": created,
            "Modifier": DEMO_USER_ID,
            "ModifierFullName": DEMO_FULL_NAME,
        }

    def put(self, table: str, key_field: str, row: Row) -> None:
        self.store.table(self.code, table, key_field).put(row, self.store.next_timestamp())

    def virtual(
        self, table: str, key_field: str, keys: list[str], factory: Callable[[int, Any], Row]
    ) -> None:
        base = self.store.reserve_timestamps(len(keys))
        self.store.table(self.code, table, key_field).load_virtual(keys, factory, base)

    # ----------------------------------------------------------------------------- tables
    def divisions(self) -> None:
        codes = (*self.config.accessible_divisions, self.config.forbidden_division)
        customer = self.ids("division-customer", 1)[0]
        for number, code in enumerate(codes):
            row = {
                "Code": code,
                "Description": division_description(self.config, code),
                "Hid": number + 1,
                "Current": code == self.config.accessible_divisions[0],
                "Country": "NL",
                "Currency": "EUR",
                "City": _CITIES[number % len(_CITIES)][0],
                "Customer": customer,
                "CustomerCode": f"{1:>18}",
                "CustomerName": "Exactmate Demo Licence",
                "IsMainDivision": number == 0,
                "IsDossierDivision": False,
                "IsPracticeDivision": False,
                "IsHRDivision": False,
                "Legislation": "1",
                "Status": 1,
                "BlockingStatus": 0,
                "StartDate": self.today - 3 * 365 * DAY_MS,
                "VATNumber": f"NL{800000000 + code}B01",
            } | self.audit(self.today - 3 * 365 * DAY_MS)
            row["Division"] = code
            self.put("system/alldivisions", "Code", dict(row))
            if code != self.config.forbidden_division:
                for table in ("system/divisions", "system/getmostrecentlyuseddivisions"):
                    self.put(table, "Code", dict(row))
                hrm = {k: v for k, v in row.items() if k not in ("Current", "Hid", "IsMainDivision")}
                self.put("hrm/divisions", "Code", hrm | {"HID": number + 1, "Main": number == 0})

    def currencies(self) -> None:
        for code, description in (("EUR", "Euro"), ("USD", "US Dollar"), ("GBP", "Pound Sterling")):
            row = {
                "Code": code,
                "Description": description,
                "AmountPrecision": 0.01,
                "PricePrecision": 0.0001,
            }
            self.put("general/currencies", "Code", row | {"Created": self.today, "Modified": self.today})

    def employees(self) -> list[Row]:
        rows = []
        for i, key in enumerate(self.ids("payroll/employees", _EMPLOYEES)):
            first, last = ("Dana", "Demo") if i == 0 else (_FIRST[i], _LAST[i])
            email = (
                DEMO_USERNAME if i == 0 else f"{first.lower()}.{last.replace(' ', '').lower()}@demo.example"
            )
            row = {
                "ID": key,
                "Code": str(i + 1),
                "HID": i + 1,
                "EmployeeHID": i + 1,
                "FirstName": first,
                "LastName": last,
                "FullName": f"{first} {last}",
                "Email": email,
                "BusinessEmail": email,
                "IsActive": True,
                "ActiveEmployment": 1,
                "StartDate": self.today - (400 + 30 * i) * DAY_MS,
                "Language": "NL",
                "User": DEMO_USER_ID if i == 0 else None,
                "UserFullName": DEMO_FULL_NAME if i == 0 else None,
            } | self.audit(self.today - 400 * DAY_MS)
            self.put("payroll/employees", "ID", row)
            rows.append(row)
        return rows

    def items(self) -> list[Row]:
        rows = []
        for key, (code, description, is_time, fraction, price, unit) in zip(
            self.ids("logistics/items", len(_ITEMS)), _ITEMS, strict=True
        ):
            row = {
                "ID": key,
                "Code": code,
                "Description": description,
                "IsTime": is_time,
                "IsSalesItem": True,
                "IsPurchaseItem": not is_time,
                "IsStockItem": not is_time and unit == "stk",
                "IsFractionAllowedItem": fraction,
                "StandardSalesPrice": price,
                "CostPriceStandard": round(price * 0.6, 2),
                "CostPriceCurrency": "EUR",
                "Unit": unit,
                "UnitDescription": {"uur": "Hour", "stk": "Piece", "km": "Kilometre"}[unit],
                "SearchCode": code,
            } | self.audit(self.today - 500 * DAY_MS)
            self.put("logistics/items", "ID", row)
            rows.append(row)
        return rows

    def accounts(self) -> list[str]:
        keys = self.ids("crm/accounts", self.records)
        first_created = self.now_ms - self.records * 5 * 60_000
        static = self.audit(0) | _ACCOUNT_STATIC

        def account(i: int, key: Any) -> Row:
            city, postcode = _CITIES[i % len(_CITIES)]
            slug = _SLUGS[i % 100]
            created = first_created + i * 300_000  # one every five minutes
            row = static.copy()
            row.update(
                ID=key,
                Code=f"{i + 1:>18}",
                Name=_COMPANY_NAMES[i % 700],
                SearchCode=slug[:10].upper(),
                AddressLine1=f"{_NOUNS[i % 10]}straat {i % 200 + 1}",
                Postcode=postcode,
                City=city,
                Email=f"info{i + 1}@{slug}.example",
                Phone=f"+31 20 {5550000 + i % 10000}",
                Website=f"www.{slug}.example",
                Status="C" if i % 3 else "P",
                IsSupplier=i % 10 == 0,
                IsPurchase=i % 10 == 0,
                VATNumber=f"NL{100000000 + i:09d}B01",
                Created=created,
                Modified=created,
            )
            return row

        self.virtual("crm/accounts", "ID", keys, account)
        return keys

    def projects(self, account_keys: list[str], employees: list[Row]) -> list[Row]:
        rows = []
        manager = employees[1]
        for i, key in enumerate(self.ids("project/projects", _PROJECTS)):
            account = account_keys[i % len(account_keys)] if account_keys else None
            row = {
                "ID": key,
                "Code": f"PRJ{i + 1:03d}",
                "Description": f"{_PROJECT_KINDS[i % 4]} {i + 1}",
                "Type": 4 if i % 6 == 5 else 3,
                "TypeDescription": "Non billable" if i % 6 == 5 else "Time and Material",
                "Account": account,
                "AccountCode": f"{i % max(len(account_keys), 1) + 1:>18}" if account else None,
                "AccountName": company_name(i % max(len(account_keys), 1)) if account else None,
                "Manager": manager["ID"],
                "ManagerFullname": manager["FullName"],
                "StartDate": self.today - 365 * DAY_MS,
                "BlockEntry": False,
                "AllowMemberEntryOnly": False,
                "DivisionName": self.description,
            } | self.audit(self.today - 365 * DAY_MS)
            self.put("project/projects", "ID", row)
            rows.append(row)
        return rows

    def contacts(self, account_keys: list[str]) -> None:
        count = min(len(account_keys), 40)
        for i, key in enumerate(self.ids("crm/contacts", count)):
            first, last = _FIRST[i % 8], _LAST[(i * 3) % 8]
            row = {
                "ID": key,
                "Account": account_keys[i],
                "AccountName": company_name(i),
                "FirstName": first,
                "LastName": last,
                "FullName": f"{first} {last}",
                "Email": f"{first.lower()}@{company_name(i).split()[0].lower()}.example",
                "BusinessPhone": f"+31 20 {5560000 + i}",
                "IsMainContact": True,
            } | self.audit(self.today - 200 * DAY_MS)
            self.put("crm/contacts", "ID", row)

    def time_transactions(self, projects: list[Row], items: list[Row], employees: list[Row]) -> None:
        hour_types = [item for item in items if item["IsTime"] == 1]
        audit = self.audit(0) | {"DivisionDescription": self.description, "Currency": "EUR", "Type": 1}
        # Entered on the day of the work, in creation order over the last TT_DAYS days: Created (and
        # so Modified) grows with the Timestamp, as a database rowversion does.
        first = self.now_ms - TT_DAYS * DAY_MS
        step = TT_DAYS * DAY_MS // max(self.records, 1)

        def transaction(i: int, key: Any) -> Row:
            project = projects[(i * 7 + i // 9) % len(projects)]
            item = hour_types[(i * 5 + i // 3) % len(hour_types)]
            employee = employees[i % 4]
            quantity = _QUANTITIES[(i * 3 + i // 7) % len(_QUANTITIES)]
            created = first + i * step
            date = created - created % DAY_MS
            price = item["StandardSalesPrice"]
            return audit | {
                "ID": key,
                "Account": project["Account"],
                "AccountName": project["AccountName"],
                "Project": project["ID"],
                "ProjectCode": project["Code"],
                "ProjectDescription": project["Description"],
                "ProjectAccount": project["Account"],
                "ProjectAccountCode": project["AccountCode"],
                "ProjectAccountName": project["AccountName"],
                "Item": item["ID"],
                "ItemDescription": item["Description"],
                "ItemDivisable": item["IsFractionAllowedItem"],
                "Employee": employee["ID"],
                "Date": date,
                "Quantity": quantity,
                "PriceFC": price,
                "AmountFC": quantity * price,
                "HourStatus": TT_STATUSES[i % len(TT_STATUSES)],
                "Notes": _NOTES[i % len(_NOTES)],
                "Created": created,
                "Modified": created,
            }

        self.virtual(
            "project/timetransactions", "ID", self.ids("project/timetransactions", self.records), transaction
        )

    def cost_transactions(self, projects: list[Row], items: list[Row], employees: list[Row]) -> None:
        """Expenses booked on projects (Type 2): one for every ten time entries. Exact lists them in
        project/CostTransactions, and together with the time entries in sync/Project/TimeCostTransactions."""
        cost_items = [item for item in items if item["IsTime"] != 1] or items
        audit = self.audit(0) | {"DivisionDescription": self.description, "Currency": "EUR", "Type": 2}
        count = max(1, self.records // 10)
        first = self.now_ms - TT_DAYS * DAY_MS
        step = TT_DAYS * DAY_MS // count

        def transaction(i: int, key: Any) -> Row:
            project = projects[(i * 3) % len(projects)]
            item = cost_items[i % len(cost_items)]
            created = first + i * step + DAY_MS // 2
            quantity = float(1 + i % 3)
            price = item["StandardSalesPrice"]
            return audit | {
                "ID": key,
                "Account": project["Account"],
                "AccountName": project["AccountName"],
                "Project": project["ID"],
                "ProjectDescription": project["Description"],
                "Item": item["ID"],
                "ItemDescription": item["Description"],
                "Employee": employees[i % len(employees)]["ID"],
                "Date": created - created % DAY_MS,
                "Quantity": quantity,
                "PriceFC": price,
                "AmountFC": quantity * price,
                "HourStatus": 20,
                "Notes": ("Travel", "Materials", "Parking")[i % 3],
                "Created": created,
                "Modified": created,
            }

        keys = self.ids("project/costtransactions", count)
        self.virtual("project/costtransactions", "ID", keys, transaction)

    def build(self) -> DivisionInfo:
        self.divisions()
        self.currencies()
        employees = self.employees()
        items = self.items()
        account_keys = self.accounts()
        projects = self.projects(account_keys, employees)
        self.contacts(account_keys)
        self.time_transactions(projects, items, employees)
        self.cost_transactions(projects, items, employees)
        accessible = self.code != self.config.forbidden_division
        return DivisionInfo(self.code, self.description, employees[0]["ID"], accessible)


def me_record(user_id: str, division: int, info: DivisionInfo | None, licence: Row | None, now: float) -> Row:
    """``current/Me`` for the demo user; ``licence`` is the division's system/Divisions row."""
    first, last = DEMO_FULL_NAME.split()[0], DEMO_FULL_NAME.split()[-1]
    return {
        "UserID": user_id,
        "UserName": DEMO_USERNAME,
        "FullName": DEMO_FULL_NAME,
        "FirstName": first,
        "LastName": last,
        "Initials": first[0] + last[0],
        "Email": DEMO_USERNAME,
        "EmployeeID": info.demo_employee if info else None,
        "CurrentDivision": division,
        "DivisionCustomer": licence.get("Customer") if licence else None,
        "DivisionCustomerCode": licence.get("CustomerCode") if licence else None,
        "DivisionCustomerName": licence.get("CustomerName") if licence else None,
        "DivisionCustomerVatNumber": licence.get("VATNumber") if licence else None,
        "Gender": "O",
        "Language": "EN",
        "LanguageCode": "en-NL",
        "Legislation": 1,
        "Nationality": "NL",
        "PackageCode": "PSA",
        "ServerTime": iso_of_wall_ms(wall_ms(now)),
        "ServerUtcOffset": float((wall_ms(now) - math.floor(now * 1000)) // 1000),
        "ThumbnailPictureFormat": "",
        "IsClientUser": False,
        "IsEmployeeSelfServiceUser": False,
        "IsMyFirmLiteUser": False,
        "IsMyFirmPortalUser": False,
        "IsOEIMigrationMandatory": False,
        "IsStarterUser": False,
    }


def build_demo_data(store: DataStore, config: EmulatorConfig, start: float) -> dict[int, DivisionInfo]:
    """Fill an empty store with the demo data; ``start`` (epoch seconds) anchors every date."""
    codes = (*config.accessible_divisions, config.forbidden_division)
    return {code: _Division(store, config, code, start).build() for code in codes}
