"""Person ids as int32 codes for the 1:N index, held in arrays rather than Python strings.

At millions of people a `list[str]` plus a `dict[str, int]` costs well over 100 bytes a person (a str object,
its pointer, a hash entry), as much as the index's own vector codes. Here the people present at build time
are one sorted fixed-width bytes array (a 16-character id is 16 bytes; a lookup is a binary search), and the
few enrolled since the last build sit in a small dict until the next one.
"""

from __future__ import annotations

import numpy as np


class PersonCodes:
    """Person id <-> code: codes 0..B-1 are the sorted build-time ids, B.. the people added since."""

    def __init__(self, person_ids: np.ndarray) -> None:
        """person_ids: (K,) ids of K samples (str, object or bytes); `codes_of_build` gives each one's code."""
        encoded = _encoded(person_ids)
        self._base, codes = np.unique(encoded, return_inverse=True)
        self.codes_of_build: np.ndarray = codes.astype(np.int32).reshape(-1)
        self._added: list[str] = []
        self._added_codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._base) + len(self._added)

    def code(self, person_id: str) -> int | None:
        """The code of `person_id`, None when it has none."""
        key = person_id.encode()
        at = int(np.searchsorted(self._base, key))
        if at < len(self._base) and self._base[at] == key:
            return at
        return self._added_codes.get(person_id)

    def code_or_add(self, person_id: str) -> int:
        found = self.code(person_id)
        if found is not None:
            return found
        self._added_codes[person_id] = len(self)
        self._added.append(person_id)
        return len(self) - 1

    def person(self, code: int) -> str:
        if code < len(self._base):
            return bytes(self._base[code]).decode()
        return self._added[code - len(self._base)]

    def people(self, codes: np.ndarray) -> np.ndarray:
        """(...) object array of the person ids of (...) codes."""
        flat = [self.person(int(c)) for c in codes.reshape(-1)]
        return np.array(flat, dtype=object).reshape(codes.shape)

    def memory_bytes(self) -> int:
        return int(self._base.nbytes) + sum(len(p) + 100 for p in self._added)  # ~100 B: str, list, dict entry


def _encoded(person_ids: np.ndarray) -> np.ndarray:
    """(K,) fixed-width UTF-8 bytes ('S<n>') of any (K,) ids."""
    if person_ids.dtype.kind == "S":
        return person_ids
    as_text = np.asarray(person_ids, dtype=object).astype(str) if person_ids.dtype.kind == "O" else person_ids
    if len(as_text) == 0:
        return np.zeros(0, "S1")
    return np.char.encode(as_text.astype(str), "utf-8")
