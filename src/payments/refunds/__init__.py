"""Refunds: from the admin API, owed by the service, or made elsewhere and seen in webhooks."""
