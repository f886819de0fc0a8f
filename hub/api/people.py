"""People: create, rename, list, delete (with all their samples), and optimize one person's samples."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import EnrollScope, HubDep, LibraryDep
from hub.api.schemas import CountPublic, PersonCreate, PersonPublic, PersonUpdate

router = APIRouter(prefix="/api/people", tags=["people"])


@router.get("")
def list_people(library: LibraryDep, _: EnrollScope) -> list[PersonPublic]:
    return [PersonPublic(**dataclasses.asdict(p)) for p in library.people()]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_person(body: PersonCreate, hub: HubDep, _: EnrollScope) -> PersonPublic:
    person = hub.library.create_person(body.name.strip())
    hub.person_changed(person.id)
    return PersonPublic(**dataclasses.asdict(person))


@router.get("/{person_id}")
def get_person(person_id: str, library: LibraryDep, _: EnrollScope) -> PersonPublic:
    return PersonPublic(**dataclasses.asdict(library.person(person_id)))


@router.patch("/{person_id}")
def rename_person(person_id: str, body: PersonUpdate, hub: HubDep, _: EnrollScope) -> PersonPublic:
    person = hub.library.rename_person(person_id, body.name.strip())
    hub.person_changed(person.id)
    return PersonPublic(**dataclasses.asdict(person))


@router.delete("/{person_id}")
async def delete_person(person_id: str, hub: HubDep, _: EnrollScope) -> CountPublic:
    """Remove the person and every sample of theirs (rows and crops, the 1:N index, Home Assistant)."""
    return CountPublic(deleted=await run_in_threadpool(hub.delete_person, person_id))
