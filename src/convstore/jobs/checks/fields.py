"""Whether a field's value has a type OpenHands accepts: a cheap screen, then pydantic.

Validating every file with the full model costs about three times reading and parsing
it, and ``verify`` must stay near that floor. So each value first meets a screen of
exact type tests that accepts only what the model surely accepts; a value the screen
does not accept is judged by a pydantic adapter of that one field of
``ConversationMetadata``, in the same lax mode OpenHands uses. The screen may be
stricter than the model, never looser: it only decides how much work a value costs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from convstore.model import DATETIME_FIELDS, TOKEN_FIELDS, ConversationMetadata, parse_timestamp
from convstore.quoting import clip

# Fields whose null OpenHands' V0 reader rejects, and the value it would have written.
V0_DEFAULTS: dict[str, Any] = {
    "pr_number": [],
    "accumulated_cost": 0.0,
    **dict.fromkeys(TOKEN_FIELDS, 0),
}
# The id is judged by its own checks; OpenHands drops github_user_id unread.
_NOT_SCREENED = frozenset({"conversation_id", "github_user_id"})


def _time(value: Any) -> bool:
    if type(value) is str:  # the common case, without parse_timestamp's conversions
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return False
        # Converting to UTC can overflow only at the ends of the calendar.
        return parsed.tzinfo is None or 1 < parsed.year < 9999
    return isinstance(value, datetime) or parse_timestamp(value) is not None


def _integers(value: Any) -> bool:
    return type(value) is list and all(type(item) is int for item in value)


def _tags(value: Any) -> bool:
    return type(value) is dict and all(
        type(key) is str and type(item) is str for key, item in value.items()
    )


def _screen_for(annotation: Any) -> tuple[type, ...] | Callable[[Any], bool]:
    """Exact types that pass as they are, or a test for values that need a closer look."""
    text = str(annotation)
    if "datetime" in text:
        return _time
    if "list[int]" in text:
        return _integers
    if "dict[str, str]" in text:
        return _tags
    if "bool" in text:
        return (bool,)
    if "float" in text:
        return (float, int)
    if "int" in text:
        return (int,)
    return (str,)


_SCREENS = {
    name: _time if name in DATETIME_FIELDS else _screen_for(info.annotation)
    for name, info in ConversationMetadata.model_fields.items()
    if name not in {"store", "version", "location", "problems", "extra"} | _NOT_SCREENED
}
# Most fields need only an exact type test, done inline in the loop below.
TYPES: dict[str, tuple[type, ...]] = {
    name: screen for name, screen in _SCREENS.items() if isinstance(screen, tuple)
}
TESTS: dict[str, Callable[[Any], bool]] = {
    name: screen for name, screen in _SCREENS.items() if not isinstance(screen, tuple)
}


@functools.cache
def _adapter(name: str) -> TypeAdapter[Any]:
    info = ConversationMetadata.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[annotation, *info.metadata]
    return TypeAdapter(annotation)


def invalid_fields(data: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> Iterator[str]:
    """A sentence for each field whose value OpenHands' model rejects.

    Nulls are left to the checks that judge them (a null the model would take as its
    default is not a type error), and so are the fields in ``skip``.
    """
    for name, value in data.items():
        if value is None:
            continue
        types = TYPES.get(name)
        if types is not None:
            if type(value) in types:
                continue
        else:
            test = TESTS.get(name)
            if test is None or test(value):
                continue
        if name in skip:
            continue
        try:
            _adapter(name).validate_python(value)
        except PydanticValidationError as error:
            detail = error.errors()[0]
            message = str(detail["msg"])
            yield f"{name} is invalid ({message[0].lower()}{message[1:]}): {clip(value)}"
