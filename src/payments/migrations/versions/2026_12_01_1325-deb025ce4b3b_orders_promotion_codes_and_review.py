"""orders: allow_promotion_codes as sent to Stripe, review_reason for a human

Revision ID: deb025ce4b3b
Revises: f9bcf063854b
Create Date: 2026-12-01 13:25:43.845800+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "deb025ce4b3b"
down_revision: str | None = "f9bcf063854b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


orders = sa.table(
    "orders",
    sa.column("allow_promotion_codes", sa.Boolean()),
    sa.column("application_fee_amount", sa.BigInteger()),
    sa.column("provider_session_id", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        # New orders always set the column; the default only fills the existing rows,
        # which the UPDATE below then corrects.
        batch_op.add_column(
            sa.Column(
                "allow_promotion_codes", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(sa.Column("review_reason", sa.String(length=32), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_orders_review_reason"),
            "review_reason IS NULL OR review_reason IN ('currency_mismatch', 'amount_mismatch')",
        )
    # What the code now decides, for the orders made before it. An order with a Checkout
    # Session keeps true: every session made before this revision allowed codes, and the
    # column says what the session allows. An order with no session yet (its creation
    # failed) gets one when its client retries with the Idempotency-Key, built from this
    # column: if it carries a fee it must refuse codes like every new order, since Stripe
    # fixes application_fee_amount when the session is created, before any discount.
    op.execute(
        orders.update().values(
            allow_promotion_codes=sa.or_(
                orders.c.application_fee_amount.is_(None),
                orders.c.application_fee_amount == 0,
                orders.c.provider_session_id.is_not(None),
            )
        )
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("allow_promotion_codes", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_review_reason"), type_="check")
        batch_op.drop_column("review_reason")
        batch_op.drop_column("allow_promotion_codes")
