"""Galleries: per-person template embeddings in a SQLite file, matched in memory as one matrix.

The hub writes a gallery file (one version of the enrolled people, for one embedding model); an edge
agent loads it into a `Gallery` and swaps the whole object at once when a new version arrives, so a
frame is always matched against exactly one version. Since schema 2 a gallery also carries ignore entries:
templates of visitors a user chose to ignore, which an agent reports as `ignored` instead of unknown. Since
schema 3 it carries an impostor cohort: embeddings of faces of people who are in no gallery, by the same
model, against which scores are normalised (`facefleet.openset`). Older files read as galleries without
ignore entries (schema 1) and without a cohort (schemas 1 and 2).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facefleet.openset import MIN_COHORT, cohort_stats, standardize

GALLERY_SCHEMA = 3
READABLE_SCHEMAS = ("1", "2", "3")  # schema 1: no ignore entries; 1 and 2: no cohort


class GalleryError(ValueError):
    """A gallery file is unreadable, of another schema, or inconsistent."""


@dataclass(frozen=True)
class GalleryMatch:
    """Best gallery person of each of N embeddings.

    Attributes:
        person_index: (N,) index into `Gallery.person_ids`, -1 for an empty gallery.
        cosine: (N,) cosine to that person's best template (-1 for an empty gallery).
        runner_up: (N,) the next person's cosine (-1 when there is none): the margin tells how clear the
            choice between two enrolled people was.
    """

    person_index: np.ndarray
    cosine: np.ndarray
    runner_up: np.ndarray


@dataclass(frozen=True)
class IgnoreEntries:
    """Ignored visitors: ids (I,), owner (T,) index into ids of each template, templates (T, D) unit vectors.

    An empty set has templates of shape (0, 0)."""

    ids: tuple[str, ...] = ()
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    templates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __post_init__(self) -> None:
        t = len(self.templates)
        if self.templates.ndim != 2 or self.owner.shape != (t,):
            raise GalleryError(f"ignore templates {self.templates.shape} and owners {self.owner.shape} disagree")
        if t and (self.owner.min() < 0 or self.owner.max() >= len(self.ids)):
            raise GalleryError("an ignore template points at no entry")


@dataclass(frozen=True)
class Gallery:
    """Templates of enrolled people.

    Attributes:
        version: gallery version string.
        model_id: the embedding model the templates come from; matching embeddings of another model is
            meaningless, so callers check it.
        person_ids: (P,) person ids. names: (P,) display names.
        template_person: (T,) index into person_ids for each template row.
        templates: (T, D) float32 unit vectors.
        ignores: ignore entries (templates of the same model and dimension).
        cohort: (K, D) float32 unit embeddings of faces of people in no gallery (the impostor cohort of
            `facefleet.openset`), or (0, D) / (0, 0) for a gallery without one.
    """

    version: str
    model_id: str
    person_ids: tuple[str, ...]
    names: tuple[str, ...]
    template_person: np.ndarray
    templates: np.ndarray
    ignores: IgnoreEntries = field(default_factory=IgnoreEntries)
    cohort: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def __post_init__(self) -> None:
        t = len(self.templates)
        if self.templates.ndim != 2 or self.template_person.shape != (t,):
            raise GalleryError(f"templates {self.templates.shape} and owners {self.template_person.shape} disagree")
        if len(self.person_ids) != len(self.names):
            raise GalleryError("person_ids and names differ in length")
        if t and (self.template_person.min() < 0 or self.template_person.max() >= len(self.person_ids)):
            raise GalleryError("a template points at no person")
        if len(self.ignores.templates) and self.ignores.templates.shape[1] != self.templates.shape[1]:
            raise GalleryError(
                f"ignore templates of dim {self.ignores.templates.shape[1]} in a gallery of dim "
                f"{self.templates.shape[1]}"
            )
        if self.cohort.ndim != 2 or (len(self.cohort) and self.cohort.shape[1] != self.templates.shape[1]):
            raise GalleryError(f"a cohort of shape {self.cohort.shape} in a gallery of dim {self.templates.shape[1]}")

    @property
    def dim(self) -> int:
        return int(self.templates.shape[1])

    @classmethod
    def empty(cls, model_id: str = "", dim: int = 128, version: str = "0") -> Gallery:
        return cls(version, model_id, (), (), np.zeros(0, np.int64), np.zeros((0, dim), np.float32))

    def person_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, D) unit embeddings -> (N, P) cosine to each person's best template (-1: no template)."""
        n, p = len(embeddings), len(self.person_ids)
        if n == 0 or p == 0:
            return np.full((n, p), -1.0, np.float32)
        if embeddings.shape[1] != self.dim:
            raise GalleryError(f"embeddings of dim {embeddings.shape[1]} against a gallery of dim {self.dim}")
        cosines = embeddings.astype(np.float32) @ self.templates.T  # (N, T)
        scores = np.full((n, p), -1.0, np.float32)
        np.maximum.at(scores.T, self.template_person, cosines.T)
        return scores

    @property
    def has_cohort(self) -> bool:
        """Whether scores can be normalised (`facefleet.openset`): a cohort of at least `MIN_COHORT` faces."""
        return len(self.cohort) >= MIN_COHORT

    def standardize(self, embeddings: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """(N, D) unit embeddings and their (N, S) cosines to anything -> (N, S) z-scores against the cohort;
        the cosines unchanged when the gallery has no cohort."""
        if not self.has_cohort or len(embeddings) == 0:
            return scores
        mean, spread = cohort_stats(embeddings, self.cohort)
        return standardize(scores, mean, spread)

    def ignore_scores(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, D) unit embeddings -> (N,) best cosine to any ignore template (-1 without ignore entries)."""
        if len(self.ignores.templates) == 0 or len(embeddings) == 0:
            return np.full(len(embeddings), -1.0, np.float32)
        scores: np.ndarray = (embeddings.astype(np.float32) @ self.ignores.templates.T).max(axis=1)
        return scores

    def match(self, embeddings: np.ndarray) -> GalleryMatch:
        """(N, D) unit embeddings -> each one's best person, that person's cosine and the runner-up's."""
        scores = self.person_scores(embeddings)
        n = len(embeddings)
        if scores.shape[1] == 0:
            none = np.full(n, -1.0, np.float32)
            return GalleryMatch(np.full(n, -1, np.int64), none, none.copy())
        order = np.argsort(-scores, axis=1)
        rows = np.arange(n)
        best = order[:, 0]
        runner_up = scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.full(n, -1.0, np.float32)
        return GalleryMatch(best.astype(np.int64), scores[rows, best], runner_up)

    def write(self, path: Path) -> None:
        """Write atomically (temp file + rename) as a standalone SQLite file."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        with sqlite3.connect(tmp) as db:
            db.executescript("""
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE persons (idx INTEGER PRIMARY KEY, person_id TEXT UNIQUE NOT NULL, name TEXT NOT NULL);
                CREATE TABLE templates (id INTEGER PRIMARY KEY, person_idx INTEGER NOT NULL
                    REFERENCES persons(idx), vector BLOB NOT NULL);
                CREATE TABLE ignore_templates (id INTEGER PRIMARY KEY, ignore_id TEXT NOT NULL, vector BLOB NOT NULL);
                CREATE TABLE cohort (id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
            """)
            meta = {
                "schema": str(GALLERY_SCHEMA),
                "version": self.version,
                "model_id": self.model_id,
                "dim": str(self.dim),
            }
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            people = enumerate(zip(self.person_ids, self.names, strict=True))
            db.executemany("INSERT INTO persons VALUES (?, ?, ?)", [(i, pid, name) for i, (pid, name) in people])
            db.executemany(
                "INSERT INTO templates (person_idx, vector) VALUES (?, ?)",
                [
                    (int(p), v.astype("<f4").tobytes())
                    for p, v in zip(self.template_person, self.templates, strict=True)
                ],
            )
            db.executemany(
                "INSERT INTO ignore_templates (ignore_id, vector) VALUES (?, ?)",
                [
                    (self.ignores.ids[int(i)], v.astype("<f4").tobytes())
                    for i, v in zip(self.ignores.owner, self.ignores.templates, strict=True)
                ],
            )
            db.executemany(
                "INSERT INTO cohort (vector) VALUES (?)", [(v.astype("<f4").tobytes(),) for v in self.cohort]
            )
        db.close()
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Gallery:
        if not path.exists():
            raise GalleryError(f"gallery file {path} does not exist")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                persons = db.execute("SELECT idx, person_id, name FROM persons ORDER BY idx").fetchall()
                rows = db.execute("SELECT person_idx, vector FROM templates ORDER BY id").fetchall()
                schema = meta.get("schema")
                ignored = (
                    db.execute("SELECT ignore_id, vector FROM ignore_templates ORDER BY id").fetchall()
                    if schema in ("2", "3")
                    else []
                )
                cohort = db.execute("SELECT vector FROM cohort ORDER BY id").fetchall() if schema == "3" else []
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{path}: not a gallery file ({exc})") from exc
        if meta.get("schema") not in READABLE_SCHEMAS:
            raise GalleryError(f"{path}: gallery schema {meta.get('schema')} (expected {GALLERY_SCHEMA})")
        dim = int(meta["dim"])
        if [p[0] for p in persons] != list(range(len(persons))):
            raise GalleryError(f"{path}: person indices are not 0..P-1")
        ids = tuple(dict.fromkeys(r[0] for r in ignored))
        ignores = (
            IgnoreEntries(
                ids,
                np.array([ids.index(r[0]) for r in ignored], np.int64),
                _vectors(path, [r[1] for r in ignored], dim),
            )
            if ignored
            else IgnoreEntries()
        )
        return cls(
            meta["version"],
            meta["model_id"],
            tuple(p[1] for p in persons),
            tuple(p[2] for p in persons),
            np.array([r[0] for r in rows], np.int64),
            _vectors(path, [r[1] for r in rows], dim),
            ignores,
            _vectors(path, [r[0] for r in cohort], dim),
        )


def _vectors(path: Path, blobs: list[bytes], dim: int) -> np.ndarray:
    """(len(blobs), dim) float32 from little-endian float32 blobs; GalleryError when a size is off."""
    vectors = np.frombuffer(b"".join(blobs), "<f4") if blobs else np.zeros(0, np.float32)
    if vectors.size != len(blobs) * dim:
        raise GalleryError(f"{path}: template sizes do not match dim {dim}")
    return vectors.reshape(len(blobs), dim).astype(np.float32)


# Templates kept per person. Matching takes a person's best template, so each extra template covers another
# pose or light of that person; it also gives a stranger one more chance to match, which the open-set
# threshold (calibrated with galleries built by this same rule) accounts for.
MAX_TEMPLATES = 8


def person_templates(
    embeddings: np.ndarray,
    max_templates: int = MAX_TEMPLATES,
    outlier_cosine: float = 0.2,
    duplicate_cosine: float = 0.95,
) -> np.ndarray:
    """Templates for one person from their sample embeddings (K, D) -> (T, D) unit vectors, T <= max_templates.

    Samples far from the person's mean (cosine below `outlier_cosine`) are dropped first: a wrong face in
    the library should not become a template. The mean of the rest is the first template (it matches the
    person's typical face best); then samples are added farthest-first from the templates chosen so far
    (the poses and lights the mean does not cover), until `max_templates` or until every remaining sample
    is within `duplicate_cosine` of a template.
    """
    if len(embeddings) == 0:
        raise ValueError("a person needs at least one sample")
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    mean = unit.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    inliers = unit[unit @ mean >= outlier_cosine]
    if len(inliers) == 0:
        inliers = unit
    mean = inliers.mean(axis=0)
    chosen = [mean / max(float(np.linalg.norm(mean)), 1e-12)]
    while len(chosen) < min(max_templates, len(inliers) + 1):
        nearest = (inliers @ np.stack(chosen).T).max(axis=1)
        far = int(nearest.argmin())
        if nearest[far] > duplicate_cosine:
            break
        chosen.append(inliers[far])
    return np.stack(chosen).astype(np.float32)


def build_gallery(
    version: str,
    model_id: str,
    person_ids: Sequence[str],
    names: Sequence[str],
    embeddings: np.ndarray,
    labels: np.ndarray,
    max_templates: int = MAX_TEMPLATES,
    ignores: IgnoreEntries | None = None,
    cohort: np.ndarray | None = None,
) -> Gallery:
    """A gallery of per-person templates (`person_templates`) from sample embeddings.

    Args:
        embeddings: (N, D) unit sample embeddings (N may be 0; D is kept for the empty gallery).
        labels: (N,) index into `person_ids` of each sample; every person needs one sample at least.
        ignores: ignore entries to carry (of the same model).
        cohort: (K, D) unit embeddings of the impostor cohort by the same model, or None.
    """
    rows: list[np.ndarray] = []
    owners: list[int] = []
    for index in range(len(person_ids)):
        templates = person_templates(embeddings[labels == index], max_templates)
        rows.append(templates)
        owners += [index] * len(templates)
    matrix = np.concatenate(rows) if rows else np.zeros((0, embeddings.shape[1]), np.float32)
    return Gallery(
        version,
        model_id,
        tuple(person_ids),
        tuple(names),
        np.array(owners, np.int64),
        matrix.astype(np.float32),
        ignores or IgnoreEntries(),
        np.zeros((0, matrix.shape[1]), np.float32) if cohort is None else cohort.astype(np.float32),
    )
