"""Admin view of disputes: which ones wait for evidence, soonest deadline first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payments.auth import AdminDep
from payments.deps import DatabaseDep
from payments.disputes import service
from payments.disputes.schemas import DisputeList
from payments.errors import InvalidRequest, ServiceUnavailable, Unauthorized, responses
from payments.inputs import Pattern

router = APIRouter(prefix="/admin", tags=["disputes"], dependencies=[AdminDep])


@router.get(
    "/disputes",
    response_model=DisputeList,
    responses=responses(Unauthorized, InvalidRequest, ServiceUnavailable),
)
async def list_disputes(
    database: DatabaseDep,
    status: Annotated[
        Annotated[str, Pattern(r"[a-z_]{1,32}", "a dispute status, such as needs_response")] | None,
        Query(
            description="`needs_response`: every dispute waiting for evidence (inquiries "
            "included), soonest due first; any other status: exactly that one"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DisputeList:
    async with database.reading() as session:
        found = await service.list_disputes(session, status=status, limit=limit)
    return DisputeList.model_validate({"data": found}, from_attributes=True)
