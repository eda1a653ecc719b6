"""payments: Stripe Checkout and Connect with exactly-once confirmation."""
