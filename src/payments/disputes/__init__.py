"""Disputes (chargebacks): recorded once each, their status only ever moving forward."""
