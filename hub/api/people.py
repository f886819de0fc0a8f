"""People: create, rename, list, delete (with all their samples), and optimize one person's samples.

Every person answered carries their coverage (`hub.library.coverage`): the list reads the whole library's
embeddings once, a single person's answer only theirs."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import DeletionsDep, EnrollScope, LibraryDep
from hub.api.schemas import PersonCreate, PersonDeletePublic, PersonPublic, PersonUpdate, public
from hub.library.coverage import NO_SAMPLES
from hub.library.library import Library, Person

router = APIRouter(prefix="/api/people", tags=["people"])


def person_public(library: Library, person: Person) -> PersonPublic:
    """One person with their coverage (one read of their embeddings)."""
    return public(PersonPublic, person, coverage=library.coverage(person.id))


@router.get("")
def list_people(library: LibraryDep, _: EnrollScope) -> list[PersonPublic]:
    """Everyone, by name, each with their coverage (from one read of the library's embeddings)."""
    covered = library.coverages()
    return [public(PersonPublic, p, coverage=covered.get(p.id, NO_SAMPLES)) for p in library.people()]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_person(body: PersonCreate, library: LibraryDep, _: EnrollScope) -> PersonPublic:
    return person_public(library, library.create_person(body.name.strip()))


@router.get("/{person_id}")
def get_person(person_id: str, library: LibraryDep, _: EnrollScope) -> PersonPublic:
    return person_public(library, library.person(person_id))


@router.patch("/{person_id}")
def rename_person(person_id: str, body: PersonUpdate, library: LibraryDep, _: EnrollScope) -> PersonPublic:
    return person_public(library, library.rename_person(person_id, body.name.strip()))


@router.delete("/{person_id}")
async def delete_person(person_id: str, deletions: DeletionsDep, token: EnrollScope) -> PersonDeletePublic:
    """Remove the person and every sample of theirs (rows and crops), revoke every gallery that holds them
    (410 from now on; the next gallery's signed manifest tells devices to purge them), and record who did it
    (`GET /api/audit/deletions`). An upload for them that is still running fails instead of re-creating them."""
    deletion = await run_in_threadpool(deletions.delete_person, person_id, token)
    return PersonDeletePublic(deleted=deletion.samples, revoked_galleries=list(deletion.revoked_galleries))
