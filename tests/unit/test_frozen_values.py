"""Frozen values really are: job handles and requests cannot change, hash, and round-trip."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism_async import AudioTrack, LipsyncRequest, LipsyncSegment, Media, VideoRequest
from prism_async._results import FrozenDict, FrozenList, JobHandle

# Any text a provider could put in a handle (lone surrogates cannot be encoded at all).
TEXT = st.text(st.characters(exclude_categories=["Cs"]))
NAMES = st.text(st.characters(exclude_categories=["Cs"]), min_size=1)
HANDLES = st.builds(
    JobHandle, provider=NAMES, id=NAMES, extra=st.dictionaries(TEXT, TEXT, max_size=5)
)
# JSON-like values, as raw wire fields are.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
WIRE = st.dictionaries(TEXT, JSON, max_size=5)

MUTATIONS: list[Callable[[Any], object]] = [
    lambda m: m.__setitem__("k", "v"),
    lambda m: m.__delitem__(next(iter(m))),
    lambda m: m.update({"k": "v"}),
    lambda m: m.setdefault("k", "v"),
    lambda m: m.pop(next(iter(m))),
    lambda m: m.popitem(),
    lambda m: m.clear(),
    lambda m: m.__ior__({"k": "v"}),
]


@given(HANDLES)
def test_a_handle_round_trips_through_its_string_form(handle: JobHandle) -> None:
    again = JobHandle.parse(str(handle))
    assert again == handle
    assert str(again) == str(handle)
    assert hash(again) == hash(handle)


@given(HANDLES, HANDLES)
def test_equal_handles_hash_alike_and_find_each_other_as_keys(
    one: JobHandle, other: JobHandle
) -> None:
    table = {one: "one"}
    assert table[JobHandle.parse(str(one))] == "one"
    assert (other in table) == (other == one) == (str(other) == str(one))
    if one == other:
        assert hash(one) == hash(other)


@given(HANDLES.filter(lambda h: bool(h.extra)), st.sampled_from(MUTATIONS))
def test_a_handles_extra_cannot_be_mutated(
    handle: JobHandle, mutate: Callable[[Any], object]
) -> None:
    text, key_hash = str(handle), hash(handle)
    with pytest.raises(TypeError, match="immutable"):
        mutate(handle.extra)
    assert str(handle) == text
    assert hash(handle) == key_hash


def test_a_handle_keeps_no_link_to_the_dict_it_was_given() -> None:
    extra = {"model": "sora-2"}
    handle = JobHandle(provider="nanogpt", id="vid_1", extra=extra)
    table = {handle: 1}
    extra["model"] = "other"
    assert handle.extra == {"model": "sora-2"}
    assert table[JobHandle.parse("nanogpt:vid_1?model=sora-2")] == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        handle.extra = {}  # type: ignore[misc]


@given(WIRE)
def test_a_requests_raw_fields_are_frozen_deeply_and_hash(extra: dict[str, Any]) -> None:
    request = VideoRequest(model="m", prompt="p", extra=extra)
    twin = VideoRequest(model="m", prompt="p", extra=json.loads(json.dumps(extra)))
    assert request.extra == extra  # equal to the plain values it was given
    assert request == twin
    assert hash(request) == hash(twin)
    assert {request: 1}[twin] == 1
    assert json.loads(json.dumps(request.extra)) == json.loads(json.dumps(extra))
    for value in _containers(request.extra):
        assert isinstance(value, (FrozenDict, FrozenList))


@given(WIRE.filter(bool), st.sampled_from(MUTATIONS))
def test_a_requests_raw_fields_cannot_be_mutated(
    extra: dict[str, Any], mutate: Callable[[Any], object]
) -> None:
    request = VideoRequest(model="m", extra=extra)
    before = hash(request)
    with pytest.raises(TypeError, match="immutable"):
        mutate(request.extra)
    assert hash(request) == before


@pytest.mark.parametrize(
    "mutate",
    [
        lambda items: items.append(1),
        lambda items: items.extend([1]),
        lambda items: items.insert(0, 1),
        lambda items: items.__setitem__(0, 1),
        lambda items: items.__delitem__(0),
        lambda items: items.__iadd__([1]),
        lambda items: items.__imul__(2),
        lambda items: items.pop(),
        lambda items: items.remove(1),
        lambda items: items.sort(),
        lambda items: items.reverse(),
        lambda items: items.clear(),
    ],
)
def test_a_list_inside_a_request_cannot_be_mutated(mutate: Callable[[Any], object]) -> None:
    request = VideoRequest(model="m", extra={"tags": [1, 2], "nested": {"deep": [1]}})
    for items in (request.extra["tags"], request.extra["nested"]["deep"]):
        with pytest.raises(TypeError, match="immutable"):
            mutate(items)
    assert request.extra == {"tags": [1, 2], "nested": {"deep": [1]}}


def test_lipsync_options_are_frozen_too() -> None:
    request = LipsyncRequest(
        model="lipsync-2",
        video=Media.from_url("https://a.test/face.mp4"),
        audio=[AudioTrack(audio=Media.from_url("https://a.test/voice.wav"))],
        segments=[LipsyncSegment(start=0, end=1, ref_id="a", options_override={"x": [1]})],
        options={"active_speaker_detection": {"auto_detect": True}},
    )
    assert hash(request) == hash(attrs.evolve(request))
    with pytest.raises(TypeError, match="immutable"):
        request.options["active_speaker_detection"]["auto_detect"] = False
    with pytest.raises(TypeError, match="immutable"):
        request.segments[0].options_override["x"].append(2)


def test_frozen_values_copy_pickle_and_unstructure_as_their_plain_forms() -> None:
    request = VideoRequest(model="m", extra={"a": [1, {"b": "c"}], "s": "t"})
    for again in (copy.copy(request), copy.deepcopy(request), pickle.loads(pickle.dumps(request))):
        assert again == request
        assert hash(again) == hash(request)
        assert isinstance(again.extra, FrozenDict)
    plain = cattrs.Converter().unstructure(request)
    assert plain["extra"] == {"a": [1, {"b": "c"}], "s": "t"}
    assert json.loads(json.dumps(plain["extra"])) == plain["extra"]
    mutable = dict(request.extra)  # a plain copy, to change at will
    mutable["s"] = "u"
    assert request.extra["s"] == "t"


def _containers(value: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found += _containers(item)
    elif isinstance(value, list):
        found.append(value)
        for item in value:
            found += _containers(item)
    return found
