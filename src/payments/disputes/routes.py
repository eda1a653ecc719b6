"""Admin view of disputes: which ones wait for evidence, soonest deadline first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payments.auth import AdminDep
from payments.deps import DatabaseDep
from payments.disputes import service
from payments.disputes.schemas import DisputeList
from payments.disputes.states import Status
from payments.errors import InvalidRequest, ServiceUnavailable, Unauthorized, responses

router = APIRouter(prefix="/admin", tags=["disputes"], dependencies=[AdminDep])


@router.get(
    "/disputes",
    response_model=DisputeList,
    responses=responses(Unauthorized, InvalidRequest, ServiceUnavailable),
)
async def list_disputes(
    database: DatabaseDep,
    status: Annotated[
        Status | None,
        Query(
            description="`needs_response`: every dispute waiting for evidence (inquiries "
            "included), soonest due first; any other status: exactly that one"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DisputeList:
    async with database.reading() as session:
        found = await service.list_disputes(
            session, status=status.value if status else None, limit=limit
        )
    return DisputeList.model_validate({"data": found}, from_attributes=True)
