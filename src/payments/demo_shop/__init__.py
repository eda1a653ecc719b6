"""The sandbox's demo shop: the shop's backend, played by the sandbox itself.

On start it registers a webhook endpoint for the shop's events (`registration`), and its
receiver (`routes`, `receiver`) verifies each delivery the way a shop would, keeping what
arrived for the page `/sandbox/events` (payments.pages). Only in sandbox mode, and only
with the demo catalog: a real service registers nothing and serves none of it.
"""
