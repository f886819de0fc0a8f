"""Ignore entries for a gallery: the templates of the visitors a user chose to ignore."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facefleet.gallery import IgnoreEntries, person_templates
from hub.visitors.store import VisitorStore

CropEmbedder = Callable[[np.ndarray], np.ndarray]
"""(N, 112, 112, 3) RGB aligned crops -> (N, D) unit embeddings of one model."""


def read_crop(path: Path) -> np.ndarray | None:
    """A stored crop as (112, 112, 3) RGB uint8, None when unreadable."""
    image = cv2.imread(str(path))
    if image is None:
        return None
    return cv2.cvtColor(cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


def ignore_entries(store: VisitorStore, model_id: str, embed_crops: CropEmbedder | None = None) -> IgnoreEntries:
    """Ignore entries for a gallery of `model_id`: up to 8 templates per ignored visitor (as for a person)
    from its tracks' templates; ignored visitors of other models count too when `embed_crops` (that
    model's embedder on (N, 112, 112, 3) RGB crops) is given and they kept crops."""
    with store.hub_db.read() as db:
        rows = db.execute("""SELECT t.visitor_id, v.model_id, t.template, t.crop_file FROM ended_tracks t
                             JOIN visitors v ON v.id = t.visitor_id WHERE v.ignored = 1
                             ORDER BY t.visitor_id, t.received""").fetchall()
    vectors: dict[str, list[np.ndarray]] = {}
    for visitor_id, visitor_model, blob, crop_file in rows:
        if visitor_model == model_id:
            vectors.setdefault(visitor_id, []).append(np.frombuffer(blob, "<f4"))
        elif embed_crops is not None and (path := store.inside(crop_file)) and (crop := read_crop(path)) is not None:
            vectors.setdefault(visitor_id, []).append(embed_crops(crop[None])[0])
    ids = sorted(vectors)
    if not ids:
        return IgnoreEntries()
    parts = [person_templates(np.stack(vectors[i])) for i in ids]
    owner = np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate(parts)])
    return IgnoreEntries(tuple(ids), owner, np.concatenate(parts).astype(np.float32))
