"""References in button values and private_metadata: only our own, well-formed ones parse."""

from __future__ import annotations

import pytest

from handlers.support import refs


def test_round_trip() -> None:
    assert refs.parse(refs.encode("alert", 7), "alert") == 7
    assert refs.parse(refs.encode("batch", 9), "batch") == 9
    assert refs.parse("7", "alert") == 7  # alert buttons carry the bare id


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "0",
        "-1",
        "abc",
        "1" * 5000,  # int() would refuse it with a ValueError of its own
        "²",  # a digit to str.isdigit, not to int()
        str(2**31),  # over PostgreSQL's int4
        '{"k":"alert","id":true}',
        '{"k":"alert","id":1.0}',
        '{"k":"alert","id":"1"}',
        '{"k":"other","id":1}',
        '{"k":"batch","id":1}',  # the wrong kind for this step
        "[1]",
        5,
        {"k": "alert", "id": 1},
    ],
)
def test_anything_else_is_a_bad_ref(raw: object) -> None:
    with pytest.raises(refs.BadRef):
        refs.parse(raw, "alert")
