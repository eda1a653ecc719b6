"""A local, Stripe-compatible sandbox: the test double for the suite and the offline mode.

Import from `payments.sandbox.stripe_server`; this package imports nothing on its
own so that loading the service does not pull in the server machinery.
"""
