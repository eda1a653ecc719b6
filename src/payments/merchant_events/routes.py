"""Admin routes for the shop's webhook endpoints."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from payments.auth import AdminDep
from payments.bodies import JsonBodyRoute
from payments.deps import DatabaseDep, SettingsDep
from payments.errors import (
    JSON_BODY_ERRORS,
    InvalidEndpointUrl,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    responses,
)
from payments.merchant_events import endpoints
from payments.merchant_events.schemas import (
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    SecretRotated,
)

router = APIRouter(
    prefix="/admin/webhook-endpoints",
    tags=["webhook endpoints"],
    dependencies=[AdminDep],
    route_class=JsonBodyRoute,
)


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    responses=responses(*JSON_BODY_ERRORS, Unauthorized, InvalidEndpointUrl, ServiceUnavailable),
)
async def create_endpoint(
    body: EndpointIn, database: DatabaseDep, settings: SettingsDep
) -> EndpointCreated:
    """Send signed events of these types to `url` from now on. The answer holds the signing
    `secret`, shown this once: the receiver verifies each delivery with it."""
    endpoint, secret = await endpoints.create_endpoint(
        database,
        url=body.url,
        events=[str(event) for event in body.events],
        description=body.description,
        allow_private=settings.merchant_webhooks_allow_private,
    )
    return EndpointCreated.model_validate(
        EndpointOut.model_validate(endpoint).model_dump() | {"secret": secret}
    )


@router.get("", response_model=EndpointList, responses=responses(Unauthorized, ServiceUnavailable))
async def list_endpoints(database: DatabaseDep) -> EndpointList:
    found = await endpoints.list_endpoints(database)
    return EndpointList(data=[EndpointOut.model_validate(endpoint) for endpoint in found])


@router.get(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses=responses(Unauthorized, InvalidRequest, NotFound, ServiceUnavailable),
)
async def get_endpoint(endpoint_id: uuid.UUID, database: DatabaseDep) -> EndpointOut:
    return EndpointOut.model_validate(await endpoints.get_endpoint(database, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointOut,
    responses=responses(
        *JSON_BODY_ERRORS, Unauthorized, NotFound, InvalidEndpointUrl, ServiceUnavailable
    ),
)
async def update_endpoint(
    endpoint_id: uuid.UUID, body: EndpointPatch, database: DatabaseDep, settings: SettingsDep
) -> EndpointOut:
    """Change its URL, event types or description, or disable and enable it."""
    changes = body.model_dump(exclude_unset=True, mode="json")
    endpoint = await endpoints.update_endpoint(
        database, endpoint_id, changes, allow_private=settings.merchant_webhooks_allow_private
    )
    return EndpointOut.model_validate(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    response_class=Response,
    responses=responses(Unauthorized, InvalidRequest, NotFound, ServiceUnavailable),
)
async def delete_endpoint(endpoint_id: uuid.UUID, database: DatabaseDep) -> Response:
    """Send it nothing more; its deliveries still to go are dead."""
    await endpoints.delete_endpoint(database, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    responses=responses(Unauthorized, InvalidRequest, NotFound, ServiceUnavailable),
)
async def rotate_secret(endpoint_id: uuid.UUID, database: DatabaseDep) -> SecretRotated:
    """A new signing secret. For 24 hours every delivery carries two signatures, by the new
    and the previous secret, so the receiver can switch without missing an event."""
    endpoint = await endpoints.rotate_secret(database, endpoint_id)
    return SecretRotated.model_validate(endpoint, from_attributes=True)
