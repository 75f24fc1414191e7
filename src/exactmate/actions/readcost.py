"""What reading a whole endpoint will cost, told before the read goes far.

A whole read of a big endpoint can take hundreds of calls and minutes, and it spends the same daily
allowance (5,000 calls a division) everything else needs. The number of matching records comes
from a ``$count`` call before the read (``estimate_read``: when someone may be asked whether to go
on) or from the read's own first page (``read_cost`` with ``Page.count``: one call fewer); the
endpoint the listing reads from (a 1,000-row bulk or sync twin, or 60-row pages) tells how many
calls that is; the limits the last answers announced tell how long it takes and what share of
today's calls it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from exactmate.actions.context import ActionContext
from exactmate.errors import BudgetExceeded, ForbiddenError
from exactmate.governor import daily_calls_left
from exactmate.resource import ReadQuery

if TYPE_CHECKING:
    from exactmate.catalogue import RowTwin
    from exactmate.client import ExactClient

DEFAULT_PAGE = 60
MINUTELY_DEFAULT = 60  # Exact's limit per division when no answer has announced one yet
BIG_SHARE = 0.1  # a read above this share of what is left today is asked about first


@dataclass(frozen=True)
class Carried:
    """The rows a row twin's feed carries besides the records asked for (time entries' feed: the cost
    entries), read and dropped: ``records`` of the endpoints ``of``, None when Exact refused to count
    them (an application scope not granted), and the ``calls`` counting took."""

    of: tuple[str, ...] = ()
    records: int | None = 0
    calls: int = 0


def count_carried(client: ExactClient, rule: RowTwin | None, division: int) -> Carried:
    """Count the other rows ``rule``'s feed carries in ``division``: one ``$count`` call for each of
    ``rule.others`` (none without a row twin)."""
    if rule is None or not rule.others:
        return Carried()
    records = 0
    for calls, path in enumerate(rule.others, start=1):
        try:
            records += client.resource(path, division).count()
        # The feed is still read; only its cost is a lower bound now. Refused by Exact (403) the
        # call was made; refused by the error budget (after such 403s) it was not.
        except ForbiddenError:
            return Carried(rule.others, None, calls)
        except BudgetExceeded:
            return Carried(rule.others, None, calls - 1)
    return Carried(rule.others, records, len(rule.others))


@dataclass(frozen=True)
class ReadCost:
    """The expected cost of a whole read in one division."""

    endpoint: str
    source: str  # the endpoint the pages come from: the endpoint itself or its bulk/sync twin
    division: int
    records: int
    page_size: int
    minutely_limit: int | None
    daily_remaining: int | None
    left_out: tuple[str, ...] = ()  # fields of the endpoint the source does not carry
    carried: Carried = field(default_factory=Carried)  # a row twin's other rows, read too
    counting_calls: int = 0  # the calls made to count (none when the read's first page counted)

    @property
    def calls(self) -> int:
        """Calls still to make: Exact links a full page to a next one, so a listing whose last page
        is full ends with an empty page (and an empty listing is one call too). At least these,
        when the rows a row twin carries too could not be counted."""
        return (self.records + (self.carried.records or 0)) // self.page_size + 1

    @property
    def seconds(self) -> float:
        """How long the calls take when only the minutely limit holds them back."""
        per_minute = self.minutely_limit or MINUTELY_DEFAULT
        return 0.0 if self.calls <= per_minute else (self.calls / per_minute) * 60.0

    @property
    def share(self) -> float | None:
        """The share of today's remaining calls in this division, when an answer announced it."""
        if self.daily_remaining is None:
            return None
        return 1.0 if self.daily_remaining <= 0 else self.calls / self.daily_remaining

    @property
    def big(self) -> bool:
        """More than a tenth of what is left today."""
        share = self.share
        return share is not None and share > BIG_SHARE

    def describe(self) -> str:
        """``division 100001: 50,048 records, 51 calls through bulk/… (1,000 a call), about 1 min, 1% of
        the 4,200 calls left today``."""
        through = f" through {self.source}" if self.source != self.endpoint else ""
        without = ""
        if self.left_out:
            without = f"; without {', '.join(self.left_out)}: name them in --select to read them, 60 a call"
        carried, at_least = "", ""
        if self.carried.of:
            of = " and ".join(self.carried.of)
            if self.carried.records is None:
                at_least = "at least "
                carried = f", with the records of {of} it carries too, which Exact refused to count"
            else:
                carried = f", with the {self.carried.records:,} records of {of} it carries too"
        text = (
            f"division {self.division}: {self.records:,} records, {at_least}{self.calls:,} "
            f"call{'s' if self.calls != 1 else ''}{through} ({self.page_size:,} a call{carried}{without})"
        )
        if self.seconds >= 60:
            rate = self.minutely_limit or MINUTELY_DEFAULT
            text += f", about {_duration(self.seconds)} at {rate} calls a minute"
        if self.share is not None and self.daily_remaining is not None:
            text += f", {_percent(self.share)} of the {self.daily_remaining:,} calls left today"
        return text


def estimate_read(conn: ActionContext, query: ReadQuery, division: int) -> ReadCost:
    """Count the records ``query`` reads in ``division`` (one ``$count`` call, and one for each kind
    of other rows a row twin carries) and work out the cost of reading them all; the query is the
    one the read then sends, checked once."""
    records = conn.client.resource(query.endpoint, division).count(query.filter)
    carried = count_carried(conn.client, query.rows, division)
    cost = read_cost(conn, query, division, records)
    return replace(cost, carried=carried, counting_calls=1 + carried.calls)


def read_cost(conn: ActionContext, query: ReadQuery, division: int, records: int) -> ReadCost:
    """The cost of reading the ``records`` that ``query`` matches in ``division``, counted already
    (by ``estimate_read``, or by the read's first page: ``Resource.read(count=True)``, which a read
    through a row twin cannot do); no call."""
    endpoint, source = query.endpoint, query.source
    ledger = conn.store.ledger(conn.client.client_id, division)
    left_out: tuple[str, ...] = ()
    if query.fields is None and source.path != endpoint.path:
        carried = set(conn.client.catalogue.twins(endpoint.path).common_fields(source))
        plain = [name for name, field in endpoint.fields.items() if not field.is_collection]
        left_out = tuple(name for name in plain if name not in carried)
    return ReadCost(
        endpoint=endpoint.path,
        source=source.path,
        division=division,
        records=records,
        page_size=source.page_size or DEFAULT_PAGE,
        minutely_limit=ledger.minutely_limit if ledger else None,
        daily_remaining=daily_calls_left(ledger, conn.store.clock.now())[0],  # a passed reset: full again
        left_out=left_out,
    )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _percent(share: float) -> str:
    return "under 1%" if share < 0.01 else f"{min(share, 1.0):.0%}"
