"""refunds from anywhere, disputes, amount_refunded kept on the order, checkout expiry

Revision ID: 8a1f3c2d9e47
Revises: 57c714d43d65
Create Date: 2026-12-01 19:30:00.000000+00:00

Every refund is now a row written before the provider is asked (the outbox sends it),
so the refunds still waiting in the outbox get their row here, keeping the idempotency
key they may already have been sent with. The order's `amount_refunded` is filled from
the refunds that count (pending and succeeded, in the order's currency).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a1f3c2d9e47"
down_revision: str | None = "57c714d43d65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_STATUSES_BEFORE = (
    "pending",
    "processing",
    "paid",
    "failed",
    "expired",
    "refund_pending",
    "refunded",
)
ORDER_STATUSES = (*ORDER_STATUSES_BEFORE, "partially_refunded")
REFUND_STATUSES = ("pending", "succeeded", "failed", "canceled")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


orders = sa.table(
    "orders",
    sa.column("id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("currency", sa.String()),
    sa.column("amount_total", sa.BigInteger()),
    sa.column("amount_paid", sa.BigInteger()),
    sa.column("amount_refunded", sa.BigInteger()),
    sa.column("provider_payment_id", sa.String()),
    sa.column("provider_account", sa.String()),
)
refunds = sa.table(
    "refunds",
    sa.column("id", sa.Uuid()),
    sa.column("order_id", sa.Uuid()),
    sa.column("amount", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("reason", sa.String()),
    sa.column("status", sa.String()),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("provider_refund_id", sa.String()),
    sa.column("failure_reason", sa.String()),
)
outbox = sa.table(
    "outbox",
    sa.column("id", sa.BigInteger()),
    sa.column("kind", sa.String()),
    sa.column("idempotency_key", sa.String()),
    sa.column("order_id", sa.Uuid()),
    sa.column("payload", sa.JSON()),
    sa.column("attempts", sa.Integer()),
    sa.column("done_at", sa.DateTime(timezone=True)),
    sa.column("last_error", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amount_refunded", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("checkout_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("fee_bps", sa.Integer(), nullable=True))
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_orders_status"), _in("status", ORDER_STATUSES))
        batch_op.create_index(
            "ix_orders_provider_payment_id", ["provider_payment_id"], unique=False
        )

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.alter_column("reason", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("failure_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("restock", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=False,
            )
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_refunds_idempotency_key"), ["idempotency_key"]
        )

    # A charge found refunded in full elsewhere was stored as `already_refunded`, with the
    # charge's total and no refund id: ours gave nothing, and the refunds that did are
    # fetched from Stripe (a `refund_sync` each), as the code now does.
    _fetch_refunds_found_elsewhere()
    op.execute(
        refunds.update()
        .where(refunds.c.status.not_in(REFUND_STATUSES))
        .values(status="pending", submitted_at=sa.func.current_timestamp())
    )
    op.execute(
        refunds.update()
        .where(refunds.c.submitted_at.is_(None))
        .values(submitted_at=sa.func.current_timestamp())
    )
    _give_queued_refunds_their_rows()
    _fill_amount_refunded()

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_orders_amount_refunded"),
            "amount_refunded >= 0 AND (amount_paid IS NULL OR amount_refunded <= amount_paid)",
        )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_refunds_status"), _in("status", REFUND_STATUSES))
        batch_op.create_check_constraint(op.f("ck_refunds_amount"), "amount >= 0")

    op.create_table(
        "disputes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("provider_dispute_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_disputes_amount")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_disputes_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("provider_dispute_id", name=op.f("uq_disputes_provider_dispute_id")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_id", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ix_webhook_events_unknown_payment",
            ["payment_id"],
            unique=False,
            postgresql_where=sa.text("outcome = 'unknown_payment'"),
            sqlite_where=sa.text("outcome = 'unknown_payment'"),
        )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_disputes_status_evidence_due_by", ["status", "evidence_due_by"], unique=False
        )


def _fetch_refunds_found_elsewhere() -> None:
    bind = op.get_bind()
    found = bind.execute(
        sa.select(
            refunds.c.id, orders.c.id, orders.c.provider_payment_id, orders.c.provider_account
        )
        .join(orders, orders.c.id == refunds.c.order_id)
        .where(refunds.c.status == "already_refunded", orders.c.provider_payment_id.is_not(None))
    ).all()
    for refund_id, order_id, payment_id, account in found:
        bind.execute(
            outbox.insert().values(
                kind="refund_sync",
                order_id=order_id,
                payload={"payment_id": payment_id, "account": account or ""},
                idempotency_key=f"refund-sync:migrated:{refund_id}",
                attempts=0,
            )
        )
    op.execute(
        refunds.update()
        .where(refunds.c.status == "already_refunded")
        .values(
            status="canceled",
            failure_reason="charge_already_refunded",
            submitted_at=sa.func.current_timestamp(),
        )
    )


def _give_queued_refunds_their_rows() -> None:
    """Each refund message not done yet gets a pending refund row and names it; its key,
    which Stripe may have seen already, stays. The row's amount is what the order expects
    to give back; the provider's answer corrects it (a refund of what remains)."""
    bind = op.get_bind()
    queued = bind.execute(
        sa.select(
            outbox.c.id,
            outbox.c.payload,
            outbox.c.attempts,
            orders.c.id.label("order_id"),
            orders.c.currency,
            sa.func.coalesce(orders.c.amount_paid, orders.c.amount_total).label("amount"),
        )
        .join(orders, orders.c.id == outbox.c.order_id)
        .where(outbox.c.kind == "refund", outbox.c.done_at.is_(None))
    ).all()
    have_rows = set(bind.execute(sa.select(refunds.c.id)).scalars())
    for row in queued:
        refund_id = uuid.uuid4()
        payload = dict(row.payload or {})
        if _named_refund(payload) in have_rows:  # queued by this revision's code (a re-upgrade)
            continue
        bind.execute(
            refunds.insert().values(
                id=refund_id,
                order_id=row.order_id,
                amount=row.amount,
                currency=row.currency,
                reason=payload.get("reason"),
                status="pending",
                submitted_at=sa.func.current_timestamp() if row.attempts else None,
            )
        )
        payload["refund_id"] = str(refund_id)
        bind.execute(outbox.update().where(outbox.c.id == row.id).values(payload=payload))


def _named_refund(payload: dict[str, object]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(payload["refund_id"]))
    except (KeyError, ValueError):
        return None


def _fill_amount_refunded() -> None:
    counted = (
        sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount), 0))
        .where(
            refunds.c.order_id == orders.c.id,
            refunds.c.currency == orders.c.currency,
            refunds.c.status.in_(("pending", "succeeded")),
        )
        .scalar_subquery()
    )
    # Never above what was paid: a refund recorded twice before this revision (one by us,
    # one found on the charge) must not make the new constraint refuse the migration.
    op.execute(
        orders.update().values(
            amount_refunded=sa.case(
                (orders.c.amount_paid.is_(None), counted),
                (counted > orders.c.amount_paid, orders.c.amount_paid),
                else_=counted,
            )
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_webhook_events_unknown_payment",
            postgresql_where=sa.text("outcome = 'unknown_payment'"),
            sqlite_where=sa.text("outcome = 'unknown_payment'"),
        )
        batch_op.drop_column("payment_id")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_disputes_status_evidence_due_by")
        batch_op.drop_index(batch_op.f("ix_disputes_order_id"))
    op.drop_table("disputes")

    # The earlier code writes a refund's row only once Stripe answered: rows of refunds
    # still queued would be written twice. It also sends every `refund` message without an
    # amount (all that remains) and knows no `refund_sync`: an admin's partial refund still
    # queued would give back everything, so it is dropped (said in `last_error`), and so
    # are the syncs.
    bind = op.get_bind()
    queued = bind.execute(
        sa.select(outbox.c.id, outbox.c.payload).where(
            outbox.c.kind == "refund", outbox.c.done_at.is_(None)
        )
    ).all()
    owed_reasons = ("out_of_stock", "currency_mismatch", "amount_mismatch")
    for message_id, payload in queued:
        named = _named_refund(dict(payload or {}))
        if named is None:
            continue
        reason = bind.execute(sa.select(refunds.c.reason).where(refunds.c.id == named)).scalar()
        if reason not in owed_reasons:
            op.execute(
                outbox.update()
                .where(outbox.c.id == message_id)
                .values(
                    done_at=sa.func.current_timestamp(),
                    last_error="dropped by the downgrade from 8a1f3c2d9e47: an admin refund",
                )
            )
        op.execute(
            refunds.delete().where(refunds.c.id == named, refunds.c.provider_refund_id.is_(None))
        )
    op.execute(
        outbox.update()
        .where(outbox.c.kind == "refund_sync", outbox.c.done_at.is_(None))
        .values(
            done_at=sa.func.current_timestamp(),
            last_error="dropped by the downgrade from 8a1f3c2d9e47",
        )
    )
    op.execute(refunds.update().where(refunds.c.reason.is_(None)).values(reason="unknown"))
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_refunds_amount"), type_="check")
        batch_op.drop_constraint(op.f("ck_refunds_status"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_refunds_idempotency_key"), type_="unique")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("request_fingerprint")
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("restock")
        batch_op.drop_column("failure_reason")
        batch_op.alter_column("reason", existing_type=sa.String(length=32), nullable=False)

    # The earlier schema knows no partial refund: such an order was paid.
    op.execute(orders.update().where(orders.c.status == "partially_refunded").values(status="paid"))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_amount_refunded"), type_="check")
        batch_op.drop_index("ix_orders_provider_payment_id")
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_orders_status"), _in("status", ORDER_STATUSES_BEFORE)
        )
        batch_op.drop_column("fee_bps")
        batch_op.drop_column("restocked_at")
        batch_op.drop_column("checkout_expires_at")
        batch_op.drop_column("amount_refunded")
