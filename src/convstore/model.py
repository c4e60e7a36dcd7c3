"""One model for the metadata of a conversation, whatever store and generation it comes from.

OpenHands reads metadata.json and V1 rows with pydantic in lax mode; this model
validates the same way, so "OpenHands would reject this" and "convstore reports a
problem" mean the same thing. Unlike OpenHands, reading never fails: a value that
does not validate is dropped to its default and recorded as a problem sentence, and
keys convstore does not know are kept in ``extra`` so a rewrite loses nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic import ValidationError as PydanticValidationError

# Re-exported: the names live apart so that --help can list them without pydantic.
from convstore import __version__
from convstore.fields import LEGACY_FIELDS as LEGACY_FIELDS
from convstore.fields import METADATA_JSON_FIELDS as METADATA_JSON_FIELDS
from convstore.fields import OUTPUT_FIELDS as OUTPUT_FIELDS
from convstore.fields import SQL_ONLY_FIELDS as SQL_ONLY_FIELDS
from convstore.ids import id_problem
from convstore.owners import owner_of
from convstore.quoting import clip
from convstore.record_text import FORMATS

# Re-exported: the parser lives apart so that scanning processes need no pydantic.
from convstore.timestamps import as_utc as as_utc
from convstore.timestamps import format_timestamp
from convstore.timestamps import parse_timestamp as parse_timestamp

GIT_PROVIDERS = frozenset({"github", "gitlab", "bitbucket", "enterprise_sso"})
GIT_PROVIDERS_1X = frozenset({"bitbucket_data_center", "forgejo", "azure_devops"})
TRIGGERS = frozenset(
    {
        "resolver",
        "gui",
        "suggested_task",
        "openhands_api",
        "slack",
        "microagent_management",
        "jira",
        "jira_dc",
        "linear",
        "bitbucket",
    }
)
TRIGGERS_1X = frozenset({"automation"})
KNOWN_GIT_PROVIDERS = GIT_PROVIDERS | GIT_PROVIDERS_1X
KNOWN_TRIGGERS = TRIGGERS | TRIGGERS_1X
EXECUTION_STATUSES = frozenset(
    {"idle", "running", "paused", "finished", "error", "stuck", "deleting"}
)

Store = Literal["files", "sql"]
Version = Literal["V0", "V1"]


def _timestamp(value: Any) -> datetime:
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ValueError("not an ISO 8601 timestamp")
    return parsed


def _stringify_number(value: Any) -> Any:
    # github_user_id was an int in January 2025 and a str afterwards: both are ids.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_timestamp)]
LegacyId = Annotated[str | None, BeforeValidator(_stringify_number)]

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
DATETIME_FIELDS = frozenset({"created_at", "last_updated_at", "shared_at"})


class ConversationMetadata(BaseModel):
    """A conversation's metadata, where it lives, and what is wrong with it."""

    # NaN and infinity parse from JSON, but no V1 row may hold them (cost >= 0) and JSON
    # output cannot carry them: they are invalid values, dropped with a problem sentence.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    conversation_id: str
    selected_repository: str | None = None
    user_id: str | None = None
    selected_branch: str | None = None
    git_provider: str | None = None
    title: str | None = None
    last_updated_at: UtcDatetime | None = None
    trigger: str | None = None
    # Factories, not [] and {}: pydantic deep-copies a mutable default for every record.
    pr_number: list[int] = Field(default_factory=list)
    created_at: UtcDatetime | None = None
    llm_model: str | None = None
    accumulated_cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    sandbox_id: str | None = None
    conversation_version: str | None = None
    is_public: bool | None = None
    public_share_token: str | None = None
    shared_at: UtcDatetime | None = None
    github_user_id: LegacyId = None

    max_budget_per_task: float | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    context_window: int | None = None
    per_turn_token: int | None = None
    parent_conversation_id: str | None = None
    public: bool | None = None
    tags: dict[str, str] | None = None
    agent_kind: str | None = None
    execution_status: str | None = None
    org_id: str | None = None

    store: Store
    version: Version
    location: str
    problems: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)

    # The fields the source actually had (keys of the file, columns of the table): output
    # gives null for the others, whatever default the model holds.
    _source_fields: frozenset[str] = PrivateAttr(default=frozenset())
    # Stored values the model does not hold as they are, by field (usually none), each
    # as JSON can carry it (``_json_value``). ``_dropped``: refused (invalid, or null
    # where OpenHands needs a value), the field left at its default. ``_coerced``:
    # accepted as another type (a numeric user_id made a string). Machine output gives
    # both as stored: a script sees what the store holds.
    _dropped: dict[str, Any] = PrivateAttr(default_factory=dict)
    _coerced: dict[str, Any] = PrivateAttr(default_factory=dict)
    # Opaque fingerprint of the record as read, for optimistic concurrency on write.
    _token: str = PrivateAttr(default="")
    # When its source was last written, where the store says (a V0 file's mtime, an
    # object's last-modified): a file without created_at was created no later.
    _modified: datetime | None = PrivateAttr(default=None)
    # ``output_fields`` in each machine format made so far (``output_text``): a record a
    # whole listing keeps in the V0 cache keeps them too, so printing it again is a write.
    _output_text: dict[str, str] | None = PrivateAttr(default=None)

    @classmethod
    def from_source(
        cls,
        data: Mapping[str, Any],
        *,
        store: Store,
        version: Version,
        location: str,
        address: str | None = None,
        problems: Iterable[str] = (),
        source_fields: Iterable[str] | None = None,
    ) -> ConversationMetadata:
        """Validate what a store holds, turning every failure into a problem sentence.

        ``address`` is the id the store files the conversation under (a directory
        name); when given it is the record's id, and a different ``conversation_id``
        inside the data is a problem. A V0 conversation is judged here by what
        OpenHands' V0 reader needs; a V1 row by rules that depend on its table's
        revision, so the store that knows the table judges it (``convstore.v1_rules``)
        and passes what it found in ``problems``.
        """
        known = {
            key: value
            for key, value in data.items()
            if key in _MODEL_FIELDS and not (value is None and key in _NOT_NULLABLE)
        }
        extra = {key: value for key, value in data.items() if key not in _MODEL_FIELDS}
        found = [*problems]
        dropped: dict[str, Any] = {}
        coerced: dict[str, Any] = {}
        if len(known) + len(extra) < len(data):  # nulls left out of ``known``
            dropped.update((key, None) for key in data.keys() - known.keys() - extra.keys())
        legacy = known.get("github_user_id")
        if not (legacy is None or isinstance(legacy, str | int)) or isinstance(legacy, bool):
            # OpenHands strips github_user_id unread: whatever it holds harms nothing.
            dropped["github_user_id"] = _json_value(known.pop("github_user_id"))
        elif isinstance(legacy, int):
            coerced["github_user_id"] = legacy  # made a string: early files' ids were ints
        user_id = known.get("user_id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            found.append(
                f"user_id is a number ({user_id}); OpenHands expects a string "
                "and skips this conversation"
            )
            coerced["user_id"] = user_id
            known["user_id"] = str(user_id)
        written_id = known.get("conversation_id")
        if address is not None:
            if written_id != address:
                found.append(
                    f"conversation_id inside the file is {clip(written_id)}, "
                    f"not the directory name {address!r}"
                )
            known["conversation_id"] = address
        elif not isinstance(written_id, str):
            raise ValueError("a record needs a conversation id")
        place = {"store": store, "version": version, "location": location}
        fields = frozenset(data if source_fields is None else source_fields)
        screened = _screened(known)
        if screened is None:
            record = _validate_dropping_bad_fields(known, place, found, dropped, coerced)
            record._source_fields = fields
            record._dropped = dropped
            record._coerced = coerced
        else:
            record = _constructed(screened, place, fields, dropped, coerced)
        # Filled in place: each assignment to a pydantic field is a Python-level call, and
        # every listing and migration builds its records here.
        record.problems.extend(found)
        if version == "V0":
            record.problems.extend(_value_problems(record))
            record.problems.extend(_v0_problems(record, data))
        if extra:
            record.extra.update(extra)
        return record

    @classmethod
    def unreadable(
        cls, address: str, *, store: Store, version: Version, location: str, problems: list[str]
    ) -> ConversationMetadata:
        """A conversation whose data could not be read at all: only where it is, and why."""
        return cls(
            conversation_id=address,
            store=store,
            version=version,
            location=location,
            problems=problems,
        )

    @property
    def source_fields(self) -> frozenset[str]:
        # From the private dict: pydantic's __getattr__ costs microseconds (``stored``).
        found: frozenset[str] = (self.__pydantic_private__ or {}).get("_source_fields", frozenset())
        return found

    @property
    def token(self) -> str:
        return self._token

    @property
    def modified(self) -> datetime | None:
        return self._modified

    def with_token(self, token: str, modified: datetime | None = None) -> ConversationMetadata:
        self._token = token
        self._modified = modified
        return self

    def packed(self) -> Packed:
        """The record as plain values, for sending between processes: pickling the model
        itself costs three times as much, most of it in pydantic's per-object hooks."""
        private = self.__pydantic_private__
        return (
            tuple(self.__dict__.values()),
            frozenset(self.__pydantic_fields_set__),
            None if private is None else dict(private),
        )

    @classmethod
    def unpacked(cls, packed: Packed) -> ConversationMetadata:
        """The record ``packed`` describes, exactly as it was: no validation runs again,
        since the values are those a validation produced."""
        values, fields_set, private = packed
        record = cls.__new__(cls)
        record.__setstate__(
            {
                "__dict__": dict(zip(_FIELD_ORDER, values, strict=True)),
                "__pydantic_extra__": None,
                "__pydantic_fields_set__": set(fields_set),
                "__pydantic_private__": private,
            }
        )
        return record

    @property
    def short_id(self) -> str:
        return self.conversation_id[:8]

    def known(self, name: str) -> Any:
        """A field's value, or None where the source gave none the model could use
        (the field absent, null, or dropped as invalid): for the views made for people,
        which say "unknown" where a default would pass for a fact."""
        if name not in self._source_fields or name in self._dropped:
            return None
        return getattr(self, name)

    def stored(self, name: str) -> Any:
        """One field as the source holds it: what ``output_fields`` gives for it (None
        where the source lacks it; the stored value where the model coerced or dropped
        it), without building every other field."""
        # The private attributes straight from their dict: each read through pydantic's
        # __getattr__ costs microseconds, and stats asks this of every field it counts.
        private = self.__pydantic_private__ or {}
        coerced, dropped = private.get("_coerced", {}), private.get("_dropped", {})
        if name in coerced:
            return coerced[name]
        if name in dropped:
            return dropped[name]
        if name not in private.get("_source_fields", ()):
            return None
        return _output_value(getattr(self, name))

    @property
    def owner(self) -> str | None:
        """Whose it is, as ``--user`` matches (``owners.owner_of``)."""
        return owner_of(self.user_id, self.github_user_id)

    def output_fields(self) -> dict[str, Any]:
        """Every field of ``OUTPUT_FIELDS``, in that order, each as the source holds it.

        Null where the source lacks the field (a V0 file has no SQL-only column, an
        unreadable file has nothing); the stored value where the model coerced or
        dropped it (a numeric user_id stays a number); times in ``format_timestamp``'s
        form. The conversation id is the one the store files it under.
        """
        # Straight from the dicts pydantic keeps: its attribute hooks for private
        # attributes cost a third of this method, which --all runs once per record.
        private = self.__pydantic_private__ or {}
        present = private.get("_source_fields", frozenset())
        values = self.__dict__
        data: dict[str, Any] = {"conversation_id": None}
        for name in _STORED_OUTPUT_FIELDS:
            data[name] = _output_value(values[name]) if name in present else None
        data.update(private.get("_dropped", {}))
        data.update(private.get("_coerced", {}))
        data.update(
            conversation_id=values["conversation_id"],
            store=values["store"],
            version=values["version"],
            location=values["location"],
            problems=list(values["problems"]),
        )
        return data

    def output_text(self, fmt: str) -> str:
        """``output_fields`` as one line of a machine format (``record_text.FORMATS``:
        the JSON object of ``list --format json|jsonl``, the row of ``--format csv``),
        made once per record and format."""
        private = self.__pydantic_private__ or {}
        made = private.get("_output_text")
        text = None if made is None else made.get(fmt)
        return self.make_output_texts((fmt,))[fmt] if text is None else text

    def make_output_texts(self, formats: Iterable[str]) -> dict[str, str]:
        """Make the lines of ``formats`` not made yet, from one ``output_fields``; every
        line made so far, by format."""
        private = self.__pydantic_private__ or {}
        made = private.get("_output_text")
        if made is None:
            made = self._output_text = {}
        wanted = [fmt for fmt in formats if fmt not in made]
        if wanted:
            fields = self.output_fields()
            for fmt in wanted:
                made[fmt] = FORMATS[fmt](fields)
        return made

    def drop_problems(self, names: Iterable[str]) -> None:
        """Forget the problems of ``names`` (one the catalog finds moot), and with them
        the output made of the record before."""
        dropped = frozenset(names)
        self.problems[:] = [problem for problem in self.problems if problem not in dropped]
        self._output_text = None


_STORED_OUTPUT_FIELDS = OUTPUT_FIELDS[1:-4]  # all but the id and where the record lives


def _output_value(value: Any) -> Any:
    """A model's value as JSON holds it (a copy of a list or dict: output is its own)."""
    kind = type(value)
    if kind is datetime:
        return format_timestamp(value)
    if kind is list:
        return list(value)
    if kind is dict:
        return dict(value)
    return value


def _json_value(value: Any) -> Any:
    """A value as stored, in a form JSON can carry: NaN and infinities (which a JSON file
    may hold, but JSON output cannot) as their names, anything else JSON lacks as text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _json_constant(value)
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _json_constant(value: float) -> str:
    """How JSON files spell a float JSON has no number for (``NaN``, ``Infinity``)."""
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


# ``packed``: a tuple of values in this order, a set of names, the private attributes.
Packed = tuple[tuple[Any, ...], frozenset[str], dict[str, Any] | None]
_FIELD_ORDER = tuple(ConversationMetadata.model_fields)
# What a pack is made of, and of which release (whose rules made its problems): a pack
# kept from another (the V0 cache keeps them) is not unpacked.
PACKED_SHAPE = hashlib.sha256(
    repr((__version__, _FIELD_ORDER, tuple(ConversationMetadata.__private_attributes__))).encode()
).hexdigest()[:32]
# Every field's default (required ones as None, always overwritten), in declaration order.
_DEFAULTS: dict[str, Any] = {
    name: None if info.is_required() or info.default_factory else info.default
    for name, info in ConversationMetadata.model_fields.items()
}
_MODEL_FIELDS = frozenset(ConversationMetadata.model_fields) - {
    "store",
    "version",
    "location",
    "problems",
    "extra",
}
# Fields whose null is a fact for the rules below to judge, not a type error to drop.
_NOT_NULLABLE = frozenset(
    name
    for name, info in ConversationMetadata.model_fields.items()
    if info.default is not None and name in _MODEL_FIELDS
)
# The fields whose null makes OpenHands' V0 reader skip a conversation, in report order.
_NULL_SKIPPED = tuple(sorted((_NOT_NULLABLE | {"created_at"}) - {"conversation_id"}))
# A V0 conversation without created_at, as its problems say it. OpenHands' V0 reader
# hides it, but only while no V1 row answers for its id: OpenHands routes a UUID to the V1
# row first (and 1.x has no V0 reader), so once its V1 twin exists it hides nothing, and
# the catalog (which knows the twin) and verify drop these.
CREATED_AT_MISSING = "created_at is missing, so OpenHands hides this conversation"
CREATED_AT_NULL = "created_at is null, so OpenHands skips this conversation"
UNDATED = frozenset({CREATED_AT_MISSING, CREATED_AT_NULL})


# The screened path. Most stored values have exactly the type the model declares, and
# for them validation is a formality that costs more than reading the file: ``_screened``
# converts them as pydantic's lax mode does and builds the record directly. Any value it
# is not sure of (a wrong type, a number as a string, an unparsable time) sends the whole
# record through pydantic, which says what is wrong; tests/test_model.py holds the two
# paths to the same result on random input.
_SLOW: Any = object()  # what a converter returns for a value it leaves to pydantic


def _exactly(kind: type, nullable: bool) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is kind or (value is None and nullable):
            return value
        return _SLOW

    return convert


def _float(nullable: bool) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is float:
            return value if math.isfinite(value) else _SLOW  # allow_inf_nan=False
        if type(value) is int and -_EXACT_INTEGER <= value <= _EXACT_INTEGER:
            return float(value)
        return None if value is None and nullable else _SLOW

    return convert


def _time(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is str:
        parsed = parse_timestamp(value)
        return _SLOW if parsed is None else parsed
    if type(value) is datetime:  # a SQL row's (UtcDatetime: converted to UTC)
        return as_utc(value)
    return _SLOW


def _legacy_id(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    return str(value) if type(value) is int else _SLOW


def _integers(value: Any) -> Any:
    if type(value) is list and all(type(item) is int for item in value):
        return list(value)
    return _SLOW


def _tags(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is dict and all(
        type(key) is str and type(item) is str for key, item in value.items()
    ):
        return dict(value)
    return _SLOW


_EXACT_INTEGER = 2**53  # the ints a float holds exactly, as pydantic converts them
_CONVERTERS_BY_TYPE: dict[Any, Callable[[Any], Any]] = {
    str: _exactly(str, False),
    str | None: _exactly(str, True),
    int: _exactly(int, False),
    int | None: _exactly(int, True),
    bool | None: _exactly(bool, True),
    float: _float(False),
    float | None: _float(True),
    list[int]: _integers,
    dict[str, str] | None: _tags,
}
# By field; a field without a converter always takes the pydantic path.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    name: converter
    for name, info in ConversationMetadata.model_fields.items()
    if (converter := _CONVERTERS_BY_TYPE.get(info.annotation)) is not None
}
_CONVERTERS.update(dict.fromkeys(DATETIME_FIELDS, _time), github_user_id=_legacy_id)


def _screened(known: dict[str, Any]) -> dict[str, Any] | None:
    """``known`` as validation would leave it, or None when pydantic must judge it."""
    converted = {}
    for name, value in known.items():
        converter = _CONVERTERS.get(name)
        if converter is None:
            return None
        result = converter(value)
        if result is _SLOW:
            return None
        converted[name] = result
    return converted


def _constructed(
    values: dict[str, Any],
    place: dict[str, Any],
    source_fields: frozenset[str],
    dropped: dict[str, Any],
    coerced: dict[str, Any],
) -> ConversationMetadata:
    """The record pydantic would build from screened ``values``, built directly: the
    fields in declaration order, fresh mutable defaults, the same fields-set."""
    fields = dict(_DEFAULTS)
    fields.update(pr_number=[], problems=[], extra={})
    fields.update(values)
    fields.update(place)
    record = ConversationMetadata.__new__(ConversationMetadata)
    record.__setstate__(
        {
            "__dict__": fields,
            "__pydantic_extra__": None,
            "__pydantic_fields_set__": {*values, *place},
            "__pydantic_private__": {
                "_source_fields": source_fields,
                "_dropped": dropped,
                "_coerced": coerced,
                "_token": "",
                "_modified": None,
                "_output_text": None,
            },
        }
    )
    return record


def _validate_dropping_bad_fields(
    known: dict[str, Any],
    place: dict[str, Any],
    problems: list[str],
    dropped: dict[str, Any],
    coerced: dict[str, Any],
) -> ConversationMetadata:
    """The record pydantic builds of ``known``, each field it refuses dropped with a
    problem sentence; ``dropped`` and ``coerced`` get the stored values it did not keep."""
    candidate = dict(known)
    while True:
        try:
            record = ConversationMetadata.model_validate({**candidate, **place})
        except PydanticValidationError as error:
            failed = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
            for item in error.errors():
                if item["loc"] and str(item["loc"][0]) in candidate:
                    problems.append(_describe(item))
            refused = failed & candidate.keys()
            if not refused:
                raise
            for name in refused:
                dropped[name] = _json_value(candidate.pop(name))
        else:
            for name, value in candidate.items():
                if name not in DATETIME_FIELDS and not _kept(value, getattr(record, name)):
                    coerced.setdefault(name, _json_value(value))
            return record


def _kept(stored: Any, held: Any) -> bool:
    """Whether the model holds a stored value as it is: the same JSON value (a whole
    number in a float field is; "3" for 3 or 1 for true is not). Times are not asked:
    every valid one is held in UTC, and written in one form."""
    if type(stored) is int and type(held) is float:
        return stored == held
    if type(stored) is not type(held):
        return False
    if type(stored) is list:
        return len(stored) == len(held) and all(map(_kept, stored, held))
    if type(stored) is dict:
        return stored.keys() == held.keys() and all(_kept(stored[k], held[k]) for k in stored)
    return bool(stored == held)


def _describe(item: Any) -> str:
    field = ".".join(str(part) for part in item["loc"])
    message = str(item["msg"])
    message = message[0].lower() + message[1:]
    return f"{field} is invalid ({message}): {clip(item['input'])}"


def _value_problems(record: ConversationMetadata) -> list[str]:
    """Well-typed values OpenHands' V0 reader does not know or cannot accept."""
    found: list[str] = []
    if (problem := id_problem(record.conversation_id)) is not None:
        found.append(problem[0].upper() + problem[1:])
    if record.git_provider is not None and record.git_provider not in KNOWN_GIT_PROVIDERS:
        found.append(f"git_provider {record.git_provider!r} is not a value OpenHands knows")
    if record.trigger is not None and record.trigger not in KNOWN_TRIGGERS:
        found.append(f"trigger {record.trigger!r} is not a value OpenHands knows")
    status = record.execution_status
    if status is not None and status not in EXECUTION_STATUSES:
        found.append(f"execution_status {status!r} is not a value OpenHands knows")
    if record.accumulated_cost < 0:
        found.append(f"accumulated_cost is negative ({record.accumulated_cost})")
    found += [
        f"{name} is negative ({getattr(record, name)})"
        for name in TOKEN_FIELDS
        if getattr(record, name) < 0
    ]
    return found


def _v0_problems(record: ConversationMetadata, data: Mapping[str, Any]) -> list[str]:
    """What makes OpenHands' V0 reader hide or skip a conversation."""
    found: list[str] = []
    if "created_at" not in data:
        found.append(CREATED_AT_MISSING)
    if "selected_repository" not in data:
        # A required field of OpenHands' dataclass, even though it may be null.
        found.append("selected_repository is missing, so OpenHands skips this conversation")
    found += [
        f"{name} is null, so OpenHands skips this conversation"
        for name in _NULL_SKIPPED
        if name in data and data[name] is None
    ]
    return found


def format_v0_datetime(value: datetime) -> str:
    """The form OpenHands writes in metadata.json: ISO 8601, UTC with a ``Z`` suffix."""
    return format_timestamp(value)
