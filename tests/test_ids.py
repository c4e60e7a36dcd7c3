import uuid

import pytest

from convstore.errors import UsageError
from convstore.ids import id_problem, parse_uuid, v0_form, v1_form, validate_id

HEX = "0f83cf799c8c5a129939996ab6ae6908"
DASHED = "0f83cf79-9c8c-5a12-9939-996ab6ae6908"


def test_hex_and_dashed_forms_convert_both_ways():
    assert v1_form(HEX) == DASHED
    assert v0_form(DASHED) == HEX
    assert v1_form(v0_form(DASHED) or "") == DASHED
    assert v1_form(HEX.upper()) == DASHED


def test_non_uuid_ids_have_no_v1_form():
    assert parse_uuid("my-conversation") is None
    assert v1_form("my-conversation") is None
    assert v0_form("") is None


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "empty"),
        ("a" * 101, "101 characters"),
        ("a\x00b", "NUL or control"),
        ("a\nb", "NUL or control"),
        ("a\x1fb", "NUL or control"),
        ("../etc", "'..'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
    ],
)
def test_hostile_ids_are_refused_with_the_reason(bad, reason):
    problem = id_problem(bad)
    assert problem is not None and reason in problem
    with pytest.raises(UsageError, match="invalid conversation id"):
        validate_id(bad)


@pytest.mark.parametrize("good", ["a" * 100, HEX, DASHED, "legacy id with spaces", "é"])
def test_acceptable_ids_pass(good):
    assert validate_id(good) == good


def test_uuid_parsing_matches_python_like_openhands_routing():
    value = uuid.uuid4()
    assert parse_uuid("{" + str(value) + "}") == value
    assert parse_uuid("urn:uuid:" + str(value)) == value


@pytest.mark.parametrize(
    ("bad", "length_shown"),
    [
        ("a" * 300, False),  # its problem says how long it is
        ("b" * 90 + "/", True),
        ("c" * 95 + "\x01", True),
        ("it's" * 40, False),  # repr quotes it with "
    ],
)
def test_a_long_invalid_id_is_clipped_inside_its_quotes(bad, length_shown):
    with pytest.raises(UsageError) as raised:
        validate_id(bad)
    message = str(raised.value)
    shown = message.removeprefix("invalid conversation id ").split(": ", 1)[0]
    quote = repr(bad)[-1]
    quoted = shown.split(" (", 1)[0]
    assert quoted.startswith(quote) and quoted.endswith("…" + quote), message
    assert len(quoted) <= 80
    assert (f" ({len(bad)} characters)" in shown) == length_shown
    assert f"{len(bad)} characters" in message
