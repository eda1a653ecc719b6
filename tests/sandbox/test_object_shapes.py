"""Objects carry the fields of Stripe's published fixtures (stripe-fixtures3.json, endive).

The field lists are copied from the fixtures so the suite does not read files
outside the repository; a builder that drops or invents a field fails here.
"""

from .builders import session_params


def _fields(names: str) -> frozenset[str]:
    return frozenset(names.split())


SESSION_FIELDS = _fields(
    """
    adaptive_pricing after_expiration allow_promotion_codes amount_subtotal amount_total
    automatic_tax billing_address_collection cancel_url client_reference_id client_secret
    collected_information consent consent_collection created currency currency_conversion
    custom_fields custom_text customer customer_account customer_creation customer_details
    customer_email discounts expires_at id integration_identifier invoice invoice_creation
    livemode locale managed_payments metadata mode object origin_context payment_intent
    payment_link payment_method_collection payment_method_configuration_details
    payment_method_options payment_method_types payment_status permissions
    phone_number_collection recovered_from saved_payment_method_options setup_intent
    shipping_address_collection shipping_cost shipping_options status submit_type
    subscription success_url total_details ui_mode url wallet_options
    """
)

PAYMENT_INTENT_FIELDS = _fields(
    """
    amount amount_capturable amount_details amount_received application
    application_fee_amount automatic_payment_methods canceled_at cancellation_reason
    capture_method client_secret confirmation_method created currency customer
    customer_account description excluded_payment_method_types id last_payment_error
    latest_charge livemode managed_payments metadata next_action object on_behalf_of
    payment_method payment_method_configuration_details payment_method_options
    payment_method_types processing receipt_email review setup_future_usage shipping source
    statement_descriptor statement_descriptor_suffix status transfer_data transfer_group
    """
)

CHARGE_FIELDS = _fields(
    """
    amount amount_captured amount_refunded application application_fee
    application_fee_amount balance_transaction billing_details
    calculated_statement_descriptor captured created currency customer description disputed
    failure_balance_transaction failure_code failure_message fraud_details id livemode
    metadata object on_behalf_of outcome paid payment_intent payment_method
    payment_method_details receipt_email receipt_number receipt_url refunded refunds review
    shipping source source_transfer statement_descriptor statement_descriptor_suffix status
    transfer_data transfer_group
    """
)

# The fixture's fields plus failure_reason and pending_reason, which the SDK's Refund has and
# the fixture (a succeeded refund) leaves out; the service reads them on failed refunds.
REFUND_FIELDS = _fields(
    """
    amount balance_transaction charge created currency customer customer_account
    destination_details failure_reason id metadata object payment_intent payment_method
    pending_reason reason receipt_number source_transfer_reversal status transfer_reversal
    """
)

DISPUTE_FIELDS = _fields(
    """
    amount balance_transactions charge created currency enhanced_eligibility_types evidence
    evidence_details id is_charge_refundable livemode metadata object payment_intent
    payment_method_details reason status
    """
)

EVENT_FIELDS = _fields(
    """
    api_version created data id livemode object pending_webhooks request type
    """
)


async def test_wire_objects_have_exactly_the_fixture_fields(fake, client):
    """Session, PaymentIntent, charge, refund, dispute and event JSON match the fixture fields."""
    created = await client.v1.checkout.sessions.create_async(session_params())
    fake.complete_session(created.id)
    session = await client.v1.checkout.sessions.retrieve_async(created.id)
    intent = await client.v1.payment_intents.retrieve_async(session.payment_intent)
    refund = await client.v1.refunds.create_async({"payment_intent": intent.id, "amount": 100})
    charge = await client.v1.charges.retrieve_async(intent.latest_charge)
    with_refunds = await client.v1.charges.retrieve_async(charge.id, {"expand": ["refunds"]})
    event = await client.v1.events.retrieve_async(fake.events()[0]["id"])
    other = await client.v1.checkout.sessions.create_async(session_params())
    disputed = fake.complete_session(other.id)
    dispute = await client.v1.disputes.retrieve_async(
        fake.open_dispute(disputed["payment_intent"])["id"]
    )

    assert set(session.to_dict()) == SESSION_FIELDS
    assert set(intent.to_dict()) == PAYMENT_INTENT_FIELDS
    assert set(refund.to_dict()) == REFUND_FIELDS
    assert set(event.to_dict()) == EVENT_FIELDS
    assert set(dispute.to_dict()) == DISPUTE_FIELDS
    # `refunds` is includable since 2022-11-15: absent unless expanded, like on Stripe.
    assert set(charge.to_dict()) == CHARGE_FIELDS - {"refunds"}
    assert set(with_refunds.to_dict()) == CHARGE_FIELDS
    assert [r.id for r in with_refunds.refunds.data] == [refund.id]
