"""The buyer's pages (storefront, checkout success and cancel), served by the service."""

from payments.pages.routes import router

__all__ = ["router"]
