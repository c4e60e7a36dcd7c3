import uuid

import pytest

from convstore.errors import UsageError
from convstore.ids import (
    abbreviates,
    conversation_key,
    id_prefix,
    id_problem,
    parse_uuid,
    prefix_forms,
    spelling_extending,
    v0_form,
    v1_form,
    validate_id,
)

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


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("0f83cf79", "0f83cf79"),
        ("0F83CF79", "0f83cf79"),
        ("0f83cf79-", "0f83cf79"),
        ("0f83cf799c8c", "0f83cf799c8c"),
        ("0f83cf79-9c8c", "0f83cf799c8c"),
        ("0F83CF79-9C8C-5A", "0f83cf799c8c5a"),
        (DASHED[:-1], HEX[:-1]),
        (HEX[:-1], HEX[:-1]),
    ],
)
def test_an_abbreviated_id_is_8_to_31_hex_digits_in_any_uuid_spelling(typed, digits):
    assert id_prefix(typed) == digits


@pytest.mark.parametrize(
    "typed",
    [
        "0f83cf7",  # 7 digits: fewer than the listing prints
        HEX,  # a whole id is an id, not an abbreviation
        DASHED,
        "0f83-cf79",  # a dash where no spelling of a UUID has one
        "0f83cf799-c8c",
        "0f83cf79--9c8c",
        "0f83cf7g",
        "my-conversation",
    ],
)
def test_what_is_not_an_abbreviated_id(typed):
    assert id_prefix(typed) is None


def test_an_abbreviation_matches_the_hex_and_the_dashed_form_only_of_uuid_shaped_ids():
    digits = "0f83cf799c8c"
    assert abbreviates(digits, HEX) and abbreviates(digits, DASHED)
    assert not abbreviates(digits, HEX.upper())  # stores hold ids as minted: lower case
    assert not abbreviates(digits, "0f83cf799c8cnotes")
    assert not abbreviates("0f83cf799c8d", HEX)
    assert prefix_forms("0f83cf79") == ("0f83cf79",)
    assert prefix_forms(digits) == (digits, "0f83cf79-9c8c")


def test_the_forms_of_one_conversation_share_a_key():
    assert conversation_key(HEX) == conversation_key(DASHED) == conversation_key(HEX.upper())
    assert conversation_key("legacy id") == "legacy id"


@pytest.mark.parametrize(
    ("stored", "typed", "offered"),
    [
        (HEX, "0f83", HEX),
        (HEX, "0f83cf79-9", DASHED),
        (HEX, "0F83", HEX.upper()),
        (DASHED, "0f83cf799", HEX),
        (DASHED, "0F83CF79-", DASHED.upper()),
        (DASHED, "", DASHED),
        ("legacy id", "leg", "legacy id"),
        ("legacy id", "LEG", None),
        (HEX, "1f", None),
    ],
)
def test_completion_offers_an_id_in_the_spelling_being_typed(stored, typed, offered):
    assert spelling_extending(stored, typed) == offered
