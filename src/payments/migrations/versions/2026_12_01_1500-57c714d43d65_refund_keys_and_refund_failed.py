"""outbox: a new idempotency key for refunds without amount; review_reason refund_failed

Revision ID: 57c714d43d65
Revises: deb025ce4b3b
Create Date: 2026-12-01 15:00:00.000000+00:00

A revision of its own rather than an edit of deb025ce4b3b: the keys must also move in
databases that already ran that one (its rows were sent with `refund_application_fee`
on every Connect refund, which the request now leaves out when there is no fee), and
this runs exactly once everywhere. For the same reason it repeats the correction of
deb025ce4b3b for databases that ran its first version (which let every existing order
allow promotion codes): an order with a fee and no session refuses them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "57c714d43d65"
down_revision: str | None = "deb025ce4b3b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = "refund:", "refund-remaining:"

outbox = sa.table(
    "outbox",
    sa.column("kind", sa.String()),
    sa.column("idempotency_key", sa.String()),
    sa.column("done_at", sa.DateTime(timezone=True)),
)
orders = sa.table(
    "orders",
    sa.column("review_reason", sa.String()),
    sa.column("allow_promotion_codes", sa.Boolean()),
    sa.column("application_fee_amount", sa.BigInteger()),
    sa.column("provider_session_id", sa.String()),
)


def _rekey(old: str, new: str) -> None:
    """Move the refunds not sent yet (or not accepted yet) from one key scheme to the other."""
    op.execute(
        outbox.update()
        .where(
            outbox.c.kind == "refund",
            outbox.c.done_at.is_(None),
            outbox.c.idempotency_key.startswith(old, autoescape=True),
        )
        .values(
            idempotency_key=sa.literal(new) + sa.func.substr(outbox.c.idempotency_key, len(old) + 1)
        )
    )


def upgrade() -> None:
    # Stripe answers idempotency_error to a key reused with other parameters, and the refund
    # request changed under its key (`amount` dropped; `refund_application_fee` only with a
    # fee): a refund first tried the old way could never finish. The new request asks for
    # what remains, so a fresh key cannot over-refund: a charge given back in full already
    # answers charge_already_refunded. Finished rows keep their key, as history.
    _rekey(OLD, NEW)
    # The code never stores true with a fee, so only the first deb025ce4b3b left these.
    op.execute(
        orders.update()
        .where(orders.c.application_fee_amount > 0, orders.c.provider_session_id.is_(None))
        .values(allow_promotion_codes=False)
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_review_reason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_orders_review_reason"),
            "review_reason IS NULL OR review_reason IN "
            "('currency_mismatch', 'amount_mismatch', 'refund_failed')",
        )


def downgrade() -> None:
    op.execute(
        orders.update().where(orders.c.review_reason == "refund_failed").values(review_reason=None)
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_review_reason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_orders_review_reason"),
            "review_reason IS NULL OR review_reason IN ('currency_mismatch', 'amount_mismatch')",
        )
    _rekey(NEW, OLD)
