"""Signed events to the shop's own endpoints (Standard Webhooks), one per committed change."""
