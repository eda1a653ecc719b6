"""Reconciliation: nothing lost when webhooks are.

`service.reconcile` runs one pass (the provider's events the service has not
recorded, then the open orders past their checkout's expiry); `loop.ReconcileLoop`
runs it inside the service every RECONCILE_INTERVAL_SECONDS, one replica at a time;
`command` is `payments reconcile`.
"""
