"""Hypothesis strategies for bad input: random bytes, and valid documents with a few fields broken."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Modest example counts and no deadline: the machine is shared and slow at times.
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_SLOW = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_doc(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    """`valid` with 1-3 keys dropped, replaced by any JSON value, or added; nested mappings too."""
    doc = json.loads(json.dumps(valid, default=str))
    for _ in range(draw(st.integers(1, 3))):
        target = doc
        while True:  # walk into a nested mapping now and then
            nested = sorted(k for k, v in target.items() if isinstance(v, dict))
            if not nested or not draw(st.booleans()):
                break
            target = target[draw(st.sampled_from(nested))]
        keys = sorted(target)
        action = draw(st.sampled_from(["drop", "replace", "add"]))
        if action == "drop" and keys:
            target.pop(draw(st.sampled_from(keys)))
        elif action == "replace" and keys:
            target[draw(st.sampled_from(keys))] = draw(json_values)
        else:
            target[draw(st.text(max_size=10))] = draw(json_values)
    return doc


def payloads(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Random bytes, a mutated valid document, or a valid one cut short."""
    whole = json.dumps(valid, default=str).encode()
    return st.one_of(
        st.binary(max_size=512),
        mutated_doc(valid).map(lambda d: json.dumps(d, default=str).encode()),
        st.integers(0, len(whole) - 1).map(lambda n: whole[:n]),
    )
