"""The buyer's pages (storefront, checkout success and cancel), and in sandbox mode the
list of what the demo shop received; served by the service."""

from payments.pages.routes import router

__all__ = ["router"]
