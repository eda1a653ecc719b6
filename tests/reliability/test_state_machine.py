"""Property-based tests of the order state machine: random sequences of checkout events for a
few orders sharing a scarce product, delivered through the real webhook endpoint in any
order, duplicated (also concurrently), with the buyer's verify calls and the refund worker
in between.

After every step: no order moved backwards (orders/states.py), none was confirmed twice,
stock was taken once per paid order and never went negative, at most one refund was queued
(and made) per order, each event id was recorded once; and the order is exactly where a
reference model of the README's rules says it must be. The model is written from the
documented rules ("Order states", "The order's currency and amount, or nothing", "Free
means no PaymentIntent", "The last unit sold twice"), not from the implementation.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from payments.orders.states import ALLOWED_FROM
from payments.sandbox.checkout import FreePaymentStatus, Outcome
from tests.conftest import Shop

# CI runs a fixed set of examples (derandomized: the same ones every run, so a failure
# reproduces); RELIABILITY_EXPLORE=1 draws new ones, RELIABILITY_EXAMPLES=n sets how many.
EXPLORE = os.environ.get("RELIABILITY_EXPLORE") == "1"
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "500" if EXPLORE else "50"))
PROFILE = settings(
    max_examples=EXAMPLES,
    derandomize=not EXPLORE,
    database=None,  # nothing written to the tree, nothing replayed from it
    deadline=None,  # real HTTP and Postgres: time per example is not the property
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PRICE = 2500
CURRENCY = "usd"
UNPAID = frozenset({"pending", "processing", "failed", "expired"})
SETTLED = frozenset({"paid", "refund_pending", "refunded"})


# --- The steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pay:
    """The buyer finishes Checkout at Stripe: by card, by bank debit (settles later), or
    with a 100% promotion code (Stripe says `no_payment_required`, or `paid`)."""

    order: int
    how: Literal["paid", "async", "free", "free_paid"]


@dataclass(frozen=True)
class Settle:
    """The bank debit settles (`async_payment_succeeded`) or fails (`async_payment_failed`)."""

    order: int
    ok: bool


@dataclass(frozen=True)
class Expire:
    """The session times out unpaid (`checkout.session.expired`)."""

    order: int


@dataclass(frozen=True)
class Forge:
    """A signed event Stripe would not normally send for this session as it is: a payment in
    another currency or of another amount (on the session's real PaymentIntent), or an
    expiry or failure reported after the fact."""

    order: int
    change: Literal["other_currency", "more", "less", "zero", "expired", "failed"]


@dataclass(frozen=True)
class Deliver:
    """Deliver one of the events so far, of any order (`pick` 0 is the newest, 1 the one
    before...: any of them, late, early, again), in `copies` concurrent copies."""

    pick: int
    copies: int


@dataclass(frozen=True)
class Race:
    """Two or three of the events so far (`picks` as for Deliver), and with `verify` the
    first one's buyer verifying, all at once: the outcome must be that of one of their
    serial orders."""

    picks: tuple[int, ...]
    verify: bool


@dataclass(frozen=True)
class Verify:
    """The buyer lands on the success page: verify asks Stripe and confirms."""

    order: int


@dataclass(frozen=True)
class Drain:
    """The outbox worker runs: queued refunds are made."""


Step = Pay | Settle | Expire | Forge | Deliver | Race | Verify | Drain

ORDER = st.integers(0, 2)
PAY = st.builds(Pay, ORDER, st.sampled_from(["paid", "async", "free", "free_paid"]))
DELIVER = st.builds(Deliver, st.integers(0, 9), st.sampled_from([1, 1, 2, 3]))
# Paying and delivering are most of what happens: weighted up, so that most examples get
# orders paid, oversold and refunded, not only left pending.
STEP: st.SearchStrategy[Step] = st.one_of(
    PAY,
    PAY,
    st.builds(Settle, ORDER, st.booleans()),
    st.builds(Expire, ORDER),
    st.builds(
        Forge,
        ORDER,
        st.sampled_from(["other_currency", "more", "less", "zero", "expired", "failed"]),
    ),
    DELIVER,
    DELIVER,
    DELIVER,
    st.builds(Race, st.lists(st.integers(0, 9), min_size=2, max_size=3).map(tuple), st.booleans()),
    st.builds(Verify, ORDER),
    st.just(Drain()),
)


@dataclass(frozen=True)
class Scenario:
    """Orders for one product, the steps, then Stripe catching up: every event not yet
    delivered arrives (in `catch_up` order, `catch_up[i]`-th of those left), as Stripe
    retries until it gets a 2xx; then each buyer's verify and one refund run."""

    connect: bool  # a direct-charge seller's product (its events come on the Connect endpoint)
    stock: int
    quantities: list[int]
    steps: list[Step]
    catch_up: list[int]


SCENARIO = st.builds(
    Scenario,
    connect=st.booleans(),
    stock=st.integers(1, 3),
    quantities=st.lists(st.integers(1, 2), min_size=2, max_size=3),
    steps=st.lists(STEP, min_size=10, max_size=40),
    catch_up=st.lists(st.integers(0, 9), min_size=30, max_size=30),
)


# --- The reference model (from the README's rules) ---------------------------------------


@dataclass(frozen=True)
class Signal:
    """What an observation of a session says about the money."""

    kind: Literal["paid", "processing", "failed", "expired", "nothing"]
    amount: int | None = None
    currency: str | None = None
    payment_id: str | None = None


def read(session: dict[str, Any], event_type: str | None) -> Signal:
    """A Checkout Session (from an event of `event_type`, or from Stripe for verify)."""
    if event_type == "checkout.session.async_payment_failed":
        return Signal("failed")
    if event_type == "checkout.session.expired" or session["status"] == "expired":
        return Signal("expired")
    if session["status"] != "complete":
        return Signal("nothing")  # still open
    amount, intent = session["amount_total"], session["payment_intent"]
    free = amount == 0 and intent is None
    paid = Signal("paid", amount, session["currency"], intent)
    if session["payment_status"] == "paid":
        return paid
    if session["payment_status"] == "no_payment_required":
        return paid if free else Signal("nothing")
    return Signal("processing")  # complete but unpaid: a bank debit settling


@dataclass
class ModelOrder:
    quantity: int
    allow_codes: bool
    status: str = "pending"
    amount_paid: int | None = None
    review_reason: str | None = None
    cancel_reason: str | None = None
    refund_queued: bool = False

    @property
    def total(self) -> int:
        return PRICE * self.quantity


@dataclass
class Model:
    stock: int
    orders: list[ModelOrder]
    applied: set[str] = field(default_factory=set)  # event ids already delivered

    def deliver(self, index: int, event: dict[str, Any]) -> None:
        """An event changes things on its first delivery only; a redelivery is a duplicate."""
        if event["id"] not in self.applied:
            self.applied.add(event["id"])
            self.apply(index, read(event["data"]["object"], event["type"]))

    def verify(self, index: int, session: dict[str, Any]) -> None:
        """A paid or refunded order is answered as it is, without asking Stripe."""
        if self.orders[index].status not in SETTLED:
            self.apply(index, read(session, None))

    def drain(self) -> None:
        for order in self.orders:
            if order.status == "refund_pending":
                order.status = "refunded"

    def apply(self, index: int, signal: Signal) -> None:
        order = self.orders[index]
        if signal.kind == "paid":
            self._payment(order, signal)
        elif signal.kind == "processing" and order.status == "pending":
            order.status = "processing"
        elif signal.kind == "failed" and order.status in ("pending", "processing"):
            order.status = "failed"
        elif signal.kind == "expired" and order.status == "pending":
            order.status = "expired"

    def _payment(self, order: ModelOrder, signal: Signal) -> None:
        """The order's currency, and exactly its total (or 0 to it with promotion codes)."""
        assert signal.amount is not None
        if signal.currency != CURRENCY:
            refused: str | None = "currency_mismatch"
        elif signal.amount == order.total or (order.allow_codes and signal.amount <= order.total):
            refused = None
        else:
            refused = "amount_mismatch"
        if refused is None:
            if order.status not in UNPAID:
                return
            order.amount_paid = signal.amount
            if self.stock >= order.quantity:
                self.stock -= order.quantity
                order.status, order.cancel_reason = "paid", None
            elif signal.payment_id is None:  # the last unit went; a free order owes nothing
                order.status, order.cancel_reason = "refunded", "out_of_stock"
            else:  # the last unit went to another order: its payment goes back
                order.status, order.cancel_reason = "refund_pending", "out_of_stock"
                order.refund_queued = True
            return
        money_moved = signal.payment_id is not None and signal.amount != 0
        if money_moved and order.status in UNPAID:
            order.status, order.cancel_reason = "refund_pending", refused
            order.refund_queued = True
        order.review_reason = order.review_reason or refused


# --- Running a scenario against the service ----------------------------------------------


def forward_reach() -> dict[str, set[str]]:
    """For each status, every status reachable from it through ALLOWED_FROM."""
    edges = {s.value: {t.value for t, froms in ALLOWED_FROM.items() if s in froms} for s in _all()}
    reach: dict[str, set[str]] = {}
    for start in edges:
        seen, todo = set(), list(edges[start])
        while todo:
            status = todo.pop()
            if status not in seen:
                seen.add(status)
                todo.extend(edges[status])
        reach[start] = seen
    return reach


def _all() -> set[Any]:
    return set(ALLOWED_FROM) | {s for froms in ALLOWED_FROM.values() for s in froms}


REACH = forward_reach()


@dataclass
class Run:
    shop: Shop
    db: asyncpg.Connection
    product: dict[str, Any]
    initial_stock: int
    checkouts: list[dict[str, Any]]
    model: Model
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (order, event)
    last: dict[str, asyncpg.Record] = field(default_factory=dict)
    # After a race: the model after each serial order of its calls, one of which must hold.
    candidates: list[Model] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [c["order_id"] for c in self.checkouts]

    def session_id(self, index: int) -> str:
        return str(self.checkouts[index]["session_id"])

    async def step(self, step: Step) -> None:
        index = getattr(step, "order", 0) % len(self.checkouts)
        match step:
            case Pay(how=how):
                self._pay(index, how)
            case Settle(ok=ok):
                self._settle(index, ok)
            case Expire():
                self._expire(index)
            case Forge(change=change):
                self._forge(index, change)
            case Deliver(pick=pick, copies=copies):
                await self._deliver(pick, copies)
            case Race(picks=picks, verify=verify):
                await self._race(picks, verify)
            case Verify():
                await self._verify(index)
            case Drain():
                await self.shop.drain_outbox()
                self.model.drain()

    def _session(self, index: int) -> dict[str, Any]:
        return self.shop.fake.get_session(self.session_id(index))

    def _first(self, index: int, can: Callable[[dict[str, Any]], bool]) -> int | None:
        """The first order from `index` on (cyclically) whose session at Stripe allows the
        step: as on Stripe, a step a session is not in a state for does not happen."""
        for offset in range(len(self.checkouts)):
            candidate = (index + offset) % len(self.checkouts)
            if can(self._session(candidate)):
                return candidate
        return None

    def _intent_is(self, session: dict[str, Any], status: str) -> bool:
        intent = session["payment_intent"]
        return intent is not None and self.shop.fake.get_object(intent)["status"] == status

    def _pay(self, index: int, how: str) -> None:
        """Only an open session can be paid, and with a code only where the session allows
        codes (not for a seller whose orders carry a fee)."""
        free = how in ("free", "free_paid")
        found = self._first(
            index, lambda s: s["status"] == "open" and (not free or s["allow_promotion_codes"])
        )
        if found is None:
            return
        status: FreePaymentStatus = "paid" if how == "free_paid" else "no_payment_required"
        outcome: Outcome = "free" if free else "paid" if how == "paid" else "async"
        self.shop.fake.complete_session(self.session_id(found), outcome, free_payment_status=status)
        self._record(found, "checkout.session.completed")

    def _settle(self, index: int, ok: bool) -> None:
        """Only a bank debit still processing settles or fails."""
        found = self._first(index, lambda s: self._intent_is(s, "processing"))
        if found is None:
            return
        if ok:
            self.shop.fake.succeed_async(self.session_id(found))
            self._record(found, "checkout.session.async_payment_succeeded")
        else:
            self.shop.fake.fail_async(self.session_id(found))
            self._record(found, "checkout.session.async_payment_failed")

    def _expire(self, index: int) -> None:
        found = self._first(index, lambda s: s["status"] == "open")
        if found is not None:
            self.shop.fake.expire_session(self.session_id(found))
            self._record(found, "checkout.session.expired")

    def _record(self, index: int, event_type: str) -> None:
        self.events.append((index, self.shop.fake.events(event_type)[0]))

    def _forge(self, index: int, change: str) -> None:
        """A payment event needs money that really moved (a succeeded PaymentIntent), so
        that its refund can be made; an expiry or a failure can come for any session."""
        fake = self.shop.fake
        paying = change not in ("expired", "failed")
        found = self._first(index, lambda s: not paying or self._intent_is(s, "succeeded"))
        if found is None:
            return
        session = self._session(found)
        account = fake.account_of(session["id"])
        if change == "expired":
            event = fake.make_event(
                "checkout.session.expired", dict(session, status="expired"), account=account
            )
        elif change == "failed":
            failed = dict(session, status="complete", payment_status="unpaid")
            event = fake.make_event(
                "checkout.session.async_payment_failed", failed, account=account
            )
        else:
            total = self.model.orders[found].total
            amount = {"more": total + 100, "less": total - 1, "zero": 0}.get(change, total)
            currency = "eur" if change == "other_currency" else session["currency"]
            paid = dict(
                session,
                status="complete",
                payment_status="paid",
                amount_total=amount,
                currency=currency,
            )
            event = fake.make_event("checkout.session.completed", paid, account=account)
        self.events.append((found, event))

    async def _deliver(self, pick: int, copies: int) -> None:
        if not self.events:
            return
        index, event = self.events[-1 - pick % len(self.events)]
        answers = await asyncio.gather(*[self.shop.deliver(event) for _ in range(copies)])
        assert [a.status_code for a in answers] == [200] * copies, answers[0].text
        self.model.deliver(index, event)

    async def _race(self, picks: tuple[int, ...], verify: bool) -> None:
        if not self.events:
            return
        chosen = [self.events[-1 - pick % len(self.events)] for pick in picks]
        calls: list[tuple[str, int, dict[str, Any]]] = [("event", i, e) for i, e in chosen]
        if verify:
            calls.append(("verify", chosen[0][0], self._session(chosen[0][0])))
        answers = await asyncio.gather(
            *[
                self.shop.deliver(obj) if kind == "event" else self.shop.verify(obj["id"])
                for kind, _, obj in calls
            ]
        )
        assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
        self.candidates = []
        for serial in itertools.permutations(calls):
            model = copy.deepcopy(self.model)
            for kind, index, obj in serial:
                if kind == "event":
                    model.deliver(index, obj)
                else:
                    model.verify(index, obj)
            self.candidates.append(model)

    async def _verify(self, index: int) -> None:
        session = self._session(index)
        answer = await self.shop.verify(self.session_id(index))
        assert answer.status_code == 200, answer.text
        self.model.verify(index, session)
        assert answer.json()["status"] == self.model.orders[index].status

    async def check(self) -> None:
        """The invariants, then the model's prediction, against what the database holds."""
        rows = {
            r["id"]: r
            for r in await self.db.fetch(
                "SELECT id::text, status, amount_paid, paid_at, review_reason, cancel_reason"
                " FROM orders WHERE id = ANY($1::uuid[])",
                self.ids(),
            )
        }
        stock = await self.db.fetchval(
            "SELECT stock FROM products WHERE id = $1::uuid", self.product["id"]
        )
        queued = Counter(
            r["order_id"]
            for r in await self.db.fetch(
                "SELECT order_id::text FROM outbox WHERE order_id = ANY($1::uuid[])", self.ids()
            )
        )
        recorded = Counter(
            r["event_id"]
            for r in await self.db.fetch(
                "SELECT event_id FROM webhook_events WHERE event_id = ANY($1::text[])",
                list(self.model.applied),
            )
        )
        refunds = Counter(r.refund["metadata"].get("order_id") for r in self.shop.fake.refunds())

        for order_id, row in rows.items():
            before = self.last.get(order_id)
            if before is not None:
                assert (
                    row["status"] == before["status"] or row["status"] in REACH[before["status"]]
                ), f"{before['status']} -> {row['status']}"
                if before["paid_at"] is not None:  # confirmed once: never again
                    assert (row["paid_at"], row["amount_paid"]) == (
                        before["paid_at"],
                        before["amount_paid"],
                    )
            assert queued[order_id] <= 1
            assert refunds[order_id] <= 1
        self.last = rows
        paid = sum(
            m.quantity
            for i, m in enumerate(self.model.orders)
            if rows[self.ids()[i]]["status"] == "paid"
        )
        assert stock == self.initial_stock - paid >= 0
        assert recorded == Counter(self.model.applied)

        got = (
            [
                (
                    row["status"],
                    row["amount_paid"],
                    row["review_reason"],
                    queued[order_id] == 1,
                    row["cancel_reason"] if row["status"] in SETTLED else None,
                )
                for order_id, row in ((i, rows[i]) for i in self.ids())
            ],
            stock,
        )
        if self.candidates:  # a race: whichever serial order the database chose
            matching = [m for m in self.candidates if predicted(m) == got]
            assert matching, f"no serial order gives {got}"
            if len({repr(predicted(m)) for m in self.candidates}) > 1:
                event("a race whose outcome depends on who wins")
            self.model, self.candidates = matching[0], []
        assert got == predicted(self.model)


def predicted(model: Model) -> tuple[list[tuple[Any, ...]], int]:
    """What the model says the database holds: per order, then the product's stock."""
    orders = [
        (
            order.status,
            order.amount_paid,
            order.review_reason,
            order.refund_queued,
            order.cancel_reason if order.status in SETTLED else None,
        )
        for order in model.orders
    ]
    return orders, model.stock


def story(steps: list[Step], *, connect: bool = False, stock: int = 1) -> Scenario:
    """A hand-picked example: two orders of one unit, the steps, then Stripe catching up."""
    return Scenario(connect, stock, [1, 1], steps, catch_up=[0] * 30)


@PROFILE
@given(scenario=SCENARIO)
# The stories the README tells, always run (before the generated examples):
@example(  # the last unit sold twice
    story([Pay(0, "paid"), Pay(1, "paid"), Deliver(0, 3), Deliver(1, 2), Drain()])
)
@example(  # a payment in another currency first, then the valid one: refunded, flagged
    story([Pay(0, "paid"), Forge(0, "other_currency"), Deliver(0, 2), Deliver(1, 2)], connect=True)
)
@example(  # a valid payment first, then one of another amount: stays paid, flagged
    story([Pay(0, "paid"), Forge(0, "more"), Deliver(1, 1), Deliver(0, 1)], stock=2)
)
@example(  # free orders by promotion code, both ways Stripe reports them
    story([Pay(0, "free"), Pay(1, "free_paid"), Deliver(0, 2), Deliver(1, 1)], stock=2)
)
@example(  # a bank debit settling; an expiry and a failure reported after the payment
    story(
        [
            Pay(0, "async"),
            Settle(0, ok=True),
            Forge(0, "expired"),
            Forge(0, "failed"),
            Deliver(0, 1),
            Deliver(2, 1),
            Deliver(1, 1),
            Deliver(3, 1),
        ]
    )
)
async def test_no_sequence_of_checkout_events_breaks_the_state_machine(
    shop: Shop, db: asyncpg.Connection, scenario: Scenario
) -> None:
    """Any sequence of checkout events, duplicates, verify calls and refund runs, for up to
    three orders sharing a scarce product: the invariants hold after every step, and every
    order ends where the model of the documented rules says."""
    shop.fake.reset()  # each example's events only: Stripe's lists stay short
    seller = await shop.seller("direct", fee_bps=1000) if scenario.connect else None
    product = await shop.product(unit_amount=PRICE, stock=scenario.stock, seller=seller)
    quantities = [min(q, scenario.stock) for q in scenario.quantities]
    checkouts = [await shop.checkout(product, quantity=q) for q in quantities]
    model = Model(
        scenario.stock, [ModelOrder(quantity=q, allow_codes=seller is None) for q in quantities]
    )
    run = Run(shop, db, product, scenario.stock, checkouts, model)  # run.model from here on
    await run.check()

    for step in scenario.steps:
        await run.step(step)
        await run.check()
    for pick in scenario.catch_up:
        left = [i for i, (_, e) in enumerate(run.events) if e["id"] not in run.model.applied]
        if not left:
            break
        await run.step(Deliver(pick=len(run.events) - 1 - left[pick % len(left)], copies=1))
        await run.check()
    for index in range(len(checkouts)):
        await run.step(Verify(index))
        await run.check()
    await run.step(Drain())
    await run.check()
    for order in run.model.orders:  # what the examples reached (--hypothesis-show-statistics)
        event(
            f"ended {order.status}" + (f" ({order.cancel_reason})" if order.cancel_reason else "")
        )
        if order.review_reason:
            event(f"flagged {order.review_reason}")
