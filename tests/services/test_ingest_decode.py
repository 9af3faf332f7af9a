"""Reading a batch in parts agrees with reading it whole, for any JSON a batch can hold."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.decode import IngestError, Unreadable, gunzip, read_batch, split_batch

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, derandomize=True)
@given(readings=st.lists(json_values, max_size=8), extra=st.dictionaries(st.text(), json_values,
                                                                          max_size=3),
       indent=st.sampled_from([None, 0, 2]))
def test_the_parts_of_a_batch_are_its_members_and_readings(
        readings: list[object], extra: dict[str, object], indent: int | None) -> None:
    batch = {**extra, "gateway": "gw", "batch_id": "b1", "readings": readings}
    body = json.dumps(batch, indent=indent).encode()
    members, items = split_batch(body)
    assert {k: json.loads(v) for k, v in members.items()} == json.loads(body)
    assert items is not None
    assert [json.loads(item) for item in items] == readings


def test_an_unreadable_reading_is_kept_as_sent_and_the_rest_read() -> None:
    body = (b'{"gateway":"gw","batch_id":"b","readings":[{"value":NaN},'
            b'{"a":' + b"[" * 5000 + b"]" * 5000 + b'},{"series":"x",},{"v":1}]}')
    batch = read_batch(body)
    assert batch.gateway == "gw"
    assert len(batch.readings) == 4
    assert batch.readings[0]["value"] != batch.readings[0]["value"]  # NaN, read
    assert isinstance(batch.readings[1], Unreadable)
    assert batch.readings[1].raw == b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert isinstance(batch.readings[2], Unreadable)
    assert batch.readings[3] == {"v": 1}
    assert batch.raw_reading(2) == b'{"series":"x",}'


def test_a_repeated_name_counts_once_as_json_reads_it() -> None:
    members, items = split_batch(b'{"readings": [1, 2], "gateway": "a", "readings": 5}')
    assert (members["readings"], items) == (b" 5", None)
    members, items = split_batch(b'{"readings": 5, "readings": [3]}')
    assert items == [b"3"]


@pytest.mark.parametrize(("body", "says"), [
    (b'{"readings": [1, 2}', "unmatched"),
    (b'{"readings": ["unterminated]}', "never ends"),
    (b'[{"gateway": "gw"}, NaN]', "one JSON object"),
    (b'{"gateway": "gw"} {}', "after the JSON object"),
    (b'{"gateway": "gw", NaN: 1}', "without a name"),
    (b'{"gateway": "gw", "x"}', "without a value"),
])
def test_a_body_whose_structure_cannot_be_followed_is_refused_whole(body: bytes,
                                                                     says: str) -> None:
    with pytest.raises(IngestError, match=says) as refused:
        read_batch(body)
    assert refused.value.status == 400


def test_gzip_is_read_within_bounds() -> None:
    body = b'{"gateway": "gw"}'
    assert gunzip(gzip.compress(body), 100) == body
    cases = {"ends early": gzip.compress(body)[:-6],
             "bytes follow": gzip.compress(body) + b"x",
             "not valid gzip": body}
    for says, packed in cases.items():
        with pytest.raises(IngestError, match=says):
            gunzip(packed, 100)
    bomb = zlib.compress(b"\0" * 10_000_000)
    with pytest.raises(IngestError, match="exceeds the limit of 1000 bytes") as too_big:
        gunzip(gzip.compress(b"\0" * 10_000_000), 1000)
    assert too_big.value.status == 413
    assert len(bomb) < 20_000
