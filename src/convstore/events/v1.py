"""The V1 event files OpenHands 1.x reads, stated once as data: every model, field by field.

OpenHands 1.x loads each file with the pydantic models of openhands-sdk/-tools 1.34:
events, actions, observations and text contents reject unknown keys; a missing
required field, a wrong type or an unknown ``kind`` drops the whole file. Each ``Model``
below lists its fields in the order ``model_dump_json`` writes them (``kind`` last, on
the models pydantic discriminates by it), with their types and defaults. The converter
builds every dict it writes with ``Model.build``, which fills the defaults and refuses
unknown or missing fields, and the validator checks files with ``Model.check``: the two
cannot drift apart. tests/data/events/v1_reference/ holds dumps made by the real SDK,
against which the tests compare these shapes.

Types accept what pydantic accepts from JSON in its default (lax) mode: ``true``, ``1``
or ``"yes"`` for a bool, ``2.0`` or ``"2"`` for an int, but only a string for a string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


@dataclass
class Findings:
    """What checking a value found: errors make OpenHands drop the file; warnings do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Type(ABC):
    """A field type, as pydantic validates it from JSON."""

    @abstractmethod
    def check(self, value: object, where: str, findings: Findings) -> None:
        """Append to ``findings`` what is wrong with ``value`` (at ``where``)."""


class Str(Type):
    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self.reserved = reserved

    def check(self, value: object, where: str, findings: Findings) -> None:
        if not isinstance(value, str):
            findings.errors.append(f"{where}: not a string ({_json_type(value)})")
        elif value in self.reserved:
            findings.errors.append(f"{where}: {value!r} is reserved")


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


class Bool(Type):
    def check(self, value: object, where: str, findings: Findings) -> None:
        if isinstance(value, bool) or (type(value) in (int, float) and value in (0, 1)):
            return
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return
        findings.errors.append(f"{where}: not a bool ({_json_type(value)})")


class Number(Type):
    """An int (``integral``) or a float, within optional bounds."""

    def __init__(
        self, *, integral: bool, minimum: float | None = None, maximum: float | None = None
    ) -> None:
        self.integral = integral
        self.minimum = minimum
        self.maximum = maximum

    def check(self, value: object, where: str, findings: Findings) -> None:
        number = _number(value)
        if number is None or (self.integral and not float(number).is_integer()):
            expected = "an int" if self.integral else "a number"
            findings.errors.append(f"{where}: not {expected} ({_json_type(value)})")
        # Written so that NaN (which a float field takes, as "nan") fails every bound.
        elif self.minimum is not None and not number >= self.minimum:
            findings.errors.append(f"{where}: {value!r} is below {self.minimum:g}")
        elif self.maximum is not None and not number <= self.maximum:
            findings.errors.append(f"{where}: {value!r} is above {self.maximum:g}")


class Literal(Type):
    def __init__(self, *values: str) -> None:
        self.values = values

    def check(self, value: object, where: str, findings: Findings) -> None:
        if not (isinstance(value, str) and value in self.values):
            findings.errors.append(f"{where}: {value!r} is not one of {', '.join(self.values)}")


class AnyJson(Type):
    def check(self, value: object, where: str, findings: Findings) -> None:
        return


class UncheckedObject(Type):
    """An object convstore never writes and does not model: its fields are not judged."""

    def check(self, value: object, where: str, findings: Findings) -> None:
        if isinstance(value, dict):
            findings.warnings.append(f"{where}: fields not checked by convstore")
        else:
            findings.errors.append(f"{where}: not an object ({_json_type(value)})")


class Nullable(Type):
    def __init__(self, inner: Type) -> None:
        self.inner = inner

    def check(self, value: object, where: str, findings: Findings) -> None:
        if value is not None:
            self.inner.check(value, where, findings)


class ListOf(Type):
    def __init__(self, item: Type) -> None:
        self.item = item

    def check(self, value: object, where: str, findings: Findings) -> None:
        if not isinstance(value, list):
            findings.errors.append(f"{where}: not a list ({_json_type(value)})")
            return
        for index, item in enumerate(value):
            self.item.check(item, f"{where}[{index}]", findings)


class JsonObject(Type):
    def check(self, value: object, where: str, findings: Findings) -> None:
        if not isinstance(value, dict):
            findings.errors.append(f"{where}: not an object ({_json_type(value)})")


class OneOf(Type):
    """A union: the value must pass one of the alternatives (pydantic's smart union)."""

    def __init__(self, *alternatives: Type) -> None:
        self.alternatives = alternatives

    def check(self, value: object, where: str, findings: Findings) -> None:
        failures: list[str] = []
        for alternative in self.alternatives:
            attempt = Findings()
            alternative.check(value, where, attempt)
            if not attempt.errors:
                findings.warnings.extend(attempt.warnings)
                return
            failures.extend(attempt.errors)
        findings.errors.append(f"{where}: matches no alternative: {'; '.join(failures)}")


class Default(Enum):
    REQUIRED = "required"
    # pydantic fills a missing value (a new uuid, the current time), so a file may omit
    # it; convstore always writes one, so ``build`` requires it.
    GENERATED = "generated"


@dataclass(frozen=True)
class Field:
    name: str
    type: Type
    default: Any = Default.REQUIRED


class Model(Type):
    """A pydantic model: its fields in dump order, its extra-key policy, its ``kind`` tag."""

    def __init__(
        self,
        name: str,
        fields: list[Field],
        *,
        forbid_extra: bool = True,
        tagged: bool = True,
        dropped_on_read: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.fields = {item.name: item for item in fields}
        self._defaults = tuple((item.name, item.default) for item in fields)
        self.forbid_extra = forbid_extra
        # Models of a discriminated union dump their class name as `kind`, last.
        self.tagged = tagged
        # Deprecated keys the SDK removes before validating, so they never reject a file.
        self.dropped_on_read = frozenset(dropped_on_read)

    def build(self, **values: Any) -> dict[str, Any]:
        """The dict ``model_dump`` gives for these values: every field, in order, nulls too."""
        built: dict[str, Any] = {}
        for name, default in self._defaults:
            value = values.pop(name, default)
            if value is default:
                if isinstance(default, Default):
                    raise TypeError(f"{self.name}.{name} must be given")
                if isinstance(default, list | dict):
                    # Defaults such as [] are copied: a built dict owns everything in it.
                    value = default.copy()
            built[name] = value
        if values:
            raise TypeError(f"{self.name} has no field {', '.join(sorted(values))}")
        if self.tagged:
            built["kind"] = self.name
        return built

    def check(self, value: object, where: str, findings: Findings) -> None:
        if not isinstance(value, dict):
            findings.errors.append(f"{where}: not an object ({_json_type(value)})")
            return
        for name, item in self.fields.items():
            if name in value:
                item.type.check(value[name], f"{where}.{name}" if where else name, findings)
            elif item.default is Default.REQUIRED:
                findings.errors.append(f"{where or self.name}: required field {name!r} is missing")
        if self.tagged and value.get("kind", self.name) != self.name:
            findings.errors.append(
                f"{where or self.name}: kind {value['kind']!r} is not {self.name}"
            )
        if self.forbid_extra:
            allowed = (
                self.fields.keys() | self.dropped_on_read | ({"kind"} if self.tagged else set())
            )
            for name in value:
                if name not in allowed:
                    findings.errors.append(f"{where or self.name}: unknown field {name!r}")


class KindOf(Type):
    """An abstract SDK base (Event, Action, Observation): ``kind`` picks the model."""

    def __init__(self, base: str, models: list[Model], unmodelled: frozenset[str]) -> None:
        self.base = base
        self.models = {model.name: model for model in models}
        # Kinds OpenHands 1.x knows whose fields convstore does not model: it neither
        # writes them nor can say more than that the kind itself is acceptable.
        self.unmodelled = unmodelled

    def check(self, value: object, where: str, findings: Findings) -> None:
        if not isinstance(value, dict):
            findings.errors.append(f"{where or self.base}: not an object ({_json_type(value)})")
            return
        kind = value.get("kind")
        model = self.models.get(kind) if isinstance(kind, str) else None
        if model is not None:
            model.check(value, where, findings)
        elif kind is None:
            findings.errors.append(f"{where or self.base}: no kind")
        elif isinstance(kind, str) and kind in self.unmodelled:
            findings.warnings.append(f"{where or self.base}: fields of {kind} not checked")
        else:
            findings.errors.append(f"{where or self.base}: unknown {self.base} kind {kind!r}")


def _number(value: object) -> float | int | None:
    """The number pydantic's lax mode reads from a JSON value, infinite and NaN included."""
    if isinstance(value, int):  # bool included: true reads as 1
        return int(value)
    if type(value) is float:
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _json_type(value: object) -> str:
    names: Mapping[type, str] = {
        dict: "object",
        list: "list",
        str: "string",
        bool: "bool",
        int: "int",
        float: "number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


STR, BOOL, ANY = Str(), Bool(), AnyJson()
INT = Number(integral=True)
OPT_STR = Nullable(STR)
OPT_INT = Nullable(INT)

# --- contents and the LLM message (openhands.sdk.llm) --------------------------------------

TEXT = Model(
    "TextContent",
    [
        Field("cache_prompt", BOOL, False),
        Field("type", Literal("text"), "text"),
        Field("text", STR),
    ],
    tagged=False,
    dropped_on_read=("enable_truncation",),
)
IMAGE = Model(
    "ImageContent",
    [
        Field("cache_prompt", BOOL, False),
        Field("type", Literal("image"), "image"),
        Field("image_urls", ListOf(STR)),
    ],
    forbid_extra=False,
    tagged=False,
)
CONTENT = OneOf(TEXT, IMAGE)
THINKING = OneOf(
    Model(
        "ThinkingBlock",
        [
            Field("type", Literal("thinking"), "thinking"),
            Field("thinking", STR),
            Field("signature", OPT_STR, None),
        ],
        forbid_extra=False,
        tagged=False,
    ),
    Model(
        "RedactedThinkingBlock",
        [Field("type", Literal("redacted_thinking"), "redacted_thinking"), Field("data", STR)],
        forbid_extra=False,
        tagged=False,
    ),
)
REASONING_ITEM = Model(
    "ReasoningItemModel",
    [
        Field("id", OPT_STR, None),
        Field("summary", ListOf(STR), []),
        Field("content", Nullable(ListOf(STR)), None),
        Field("encrypted_content", OPT_STR, None),
        Field("status", OPT_STR, None),
    ],
    forbid_extra=False,
    tagged=False,
)
TOOL_CALL = Model(
    "MessageToolCall",
    [
        Field("id", STR),
        Field("responses_item_id", OPT_STR, None),
        Field("name", STR),
        Field("arguments", STR),
        Field("origin", Literal("completion", "responses")),
    ],
    forbid_extra=False,
    tagged=False,
)
MESSAGE = Model(
    "Message",
    [
        Field("role", Literal("user", "system", "assistant", "tool")),
        # The SDK turns a null into [] and a string into one text content.
        Field("content", OneOf(Nullable(STR), ListOf(CONTENT)), []),
        Field("tool_calls", Nullable(ListOf(TOOL_CALL)), None),
        Field("tool_call_id", OPT_STR, None),
        Field("name", OPT_STR, None),
        Field("reasoning_content", OPT_STR, None),
        Field("thinking_blocks", ListOf(THINKING), []),
        Field("responses_reasoning_item", Nullable(REASONING_ITEM), None),
    ],
    forbid_extra=False,  # the one model that drops unknown keys silently
    tagged=False,
)

CRITIC_RESULT = Model(
    "CriticResult",
    [
        Field("score", Number(integral=False, minimum=0, maximum=1)),
        Field("message", OPT_STR),  # required, though it may be null
        Field("metadata", Nullable(JsonObject()), None),
    ],
    forbid_extra=False,
    tagged=False,
)

# --- actions and observations (openhands.sdk.tool, openhands.tools) ------------------------

EDITOR_COMMANDS = ("view", "create", "str_replace", "insert", "undo_edit")

TERMINAL_ACTION = Model(
    "TerminalAction",
    [
        Field("command", STR),
        Field("is_input", BOOL, False),
        Field("timeout", Nullable(Number(integral=False, minimum=0)), None),
        Field("reset", BOOL, False),
    ],
)
FILE_EDITOR_ACTION = Model(
    "FileEditorAction",
    [
        Field("command", Literal(*EDITOR_COMMANDS)),
        Field("path", STR),
        Field("file_text", OPT_STR, None),
        Field("old_str", OPT_STR, None),
        Field("new_str", OPT_STR, None),
        Field("insert_line", Nullable(Number(integral=True, minimum=0)), None),
        Field("view_range", Nullable(ListOf(INT)), None),
    ],
)
FINISH_ACTION = Model("FinishAction", [Field("message", STR)])
THINK_ACTION = Model("ThinkAction", [Field("thought", STR)])
MCP_ACTION = Model("MCPToolAction", [Field("data", JsonObject(), {})])


def _observation(name: str, fields: list[Field]) -> Model:
    common = [Field("content", ListOf(CONTENT), []), Field("is_error", BOOL, False)]
    return Model(name, common + fields)


CMD_OUTPUT_METADATA = Model(
    "CmdOutputMetadata",
    [
        Field("exit_code", INT, -1),
        Field("pid", INT, -1),
        Field("username", OPT_STR, None),
        Field("hostname", OPT_STR, None),
        Field("working_dir", OPT_STR, None),
        Field("py_interpreter_path", OPT_STR, None),
        Field("prefix", STR, ""),
        Field("suffix", STR, ""),
    ],
    forbid_extra=False,
    tagged=False,
)
TERMINAL_OBSERVATION = _observation(
    "TerminalObservation",
    [
        Field("command", OPT_STR),  # required, though it may be null
        Field("exit_code", OPT_INT, None),
        Field("timeout", BOOL, False),
        Field("metadata", CMD_OUTPUT_METADATA, CMD_OUTPUT_METADATA.build()),
        Field("full_output_save_dir", OPT_STR, None),
    ],
)
FILE_EDITOR_OBSERVATION = _observation(
    "FileEditorObservation",
    [
        Field("command", Literal(*EDITOR_COMMANDS)),
        Field("path", OPT_STR, None),
        Field("prev_exist", BOOL, False),
        Field("old_content", OPT_STR, None),
        Field("new_content", OPT_STR, None),
    ],
)
FINISH_OBSERVATION = _observation("FinishObservation", [])
THINK_OBSERVATION = _observation("ThinkObservation", [])
MCP_OBSERVATION = _observation("MCPToolObservation", [Field("tool_name", STR)])

# The tools registered in every 1.11 app server (EVENTS.md); browser tools only after a
# browser-enabled conversation started, so a file holding one may be dropped: never written.
_TOOLS = (
    "Terminal",
    "FileEditor",
    "Finish",
    "Think",
    "MCPTool",
    "TaskTracker",
    "Delegate",
    "Task",
    "Workflow",
    "InvokeSkill",
    "SwitchLLM",
    "VisionInspect",
)
ACTION = KindOf(
    "action",
    [TERMINAL_ACTION, FILE_EDITOR_ACTION, FINISH_ACTION, THINK_ACTION, MCP_ACTION],
    frozenset(f"{tool}Action" for tool in _TOOLS),
)
OBSERVATION = KindOf(
    "observation",
    [
        TERMINAL_OBSERVATION,
        FILE_EDITOR_OBSERVATION,
        FINISH_OBSERVATION,
        THINK_OBSERVATION,
        MCP_OBSERVATION,
    ],
    frozenset(f"{tool}Observation" for tool in _TOOLS),
)

# --- events (openhands.sdk.event) ----------------------------------------------------------

SOURCE = Literal("agent", "user", "environment", "hook")
SECURITY_RISKS = ("UNKNOWN", "LOW", "MEDIUM", "HIGH")


def _event(name: str, source: Any, fields: list[Field]) -> Model:
    envelope = [
        # The event service keeps "__root__" for the parent of a tree's root.
        Field("id", Str(reserved=("__root__",)), Default.GENERATED),
        Field("timestamp", STR, Default.GENERATED),
        Field("source", SOURCE, source),
        Field("parent_id", OPT_STR, None),
    ]
    return Model(name, envelope + fields)


MESSAGE_EVENT = _event(
    "MessageEvent",
    Default.REQUIRED,
    [
        Field("llm_message", MESSAGE),
        Field("llm_response_id", OPT_STR, None),
        Field("activated_skills", ListOf(STR), []),
        Field("extended_content", ListOf(TEXT), []),
        Field("sender", OPT_STR, None),
        Field("critic_result", Nullable(CRITIC_RESULT), None),
    ],
)
ACTION_EVENT = _event(
    "ActionEvent",
    "agent",
    [
        Field("thought", ListOf(TEXT)),
        Field("reasoning_content", OPT_STR, None),
        Field("thinking_blocks", ListOf(THINKING), []),
        Field("responses_reasoning_item", Nullable(REASONING_ITEM), None),
        Field("action", Nullable(ACTION), None),
        Field("tool_name", STR),
        Field("tool_call_id", STR),
        Field("tool_call", TOOL_CALL),
        Field("llm_response_id", STR),
        Field("security_risk", Literal(*SECURITY_RISKS), "UNKNOWN"),
        Field("critic_result", Nullable(CRITIC_RESULT), None),
        Field("summary", OPT_STR, None),
    ],
)
OBSERVATION_EVENT = _event(
    "ObservationEvent",
    "environment",
    [
        Field("tool_name", STR),
        Field("tool_call_id", STR),
        Field("observation", OBSERVATION),
        Field("action_id", STR),
        Field("extended_content", ListOf(TEXT), []),
    ],
)
AGENT_ERROR_EVENT = _event(
    "AgentErrorEvent",
    "agent",
    [Field("tool_name", STR), Field("tool_call_id", STR), Field("error", STR)],
)
USER_REJECT_OBSERVATION = _event(
    "UserRejectObservation",
    "environment",
    [
        Field("tool_name", STR),
        Field("tool_call_id", STR),
        Field("rejection_reason", STR, "User rejected the action"),
        Field("rejection_source", Literal("user", "hook"), "user"),
        Field("action_id", STR),
    ],
)
SYSTEM_PROMPT_EVENT = _event(
    "SystemPromptEvent",
    "agent",
    [
        Field("system_prompt", TEXT),
        # Tool definitions are lost in migration (EVENTS.md); convstore writes [].
        Field("tools", ListOf(UncheckedObject())),
        Field("dynamic_context", Nullable(TEXT), None),
    ],
)
STATE_UPDATE_EVENT = _event(
    "ConversationStateUpdateEvent",
    "environment",
    [Field("key", STR, Default.GENERATED), Field("value", ANY, {})],
)
CONDENSATION = _event(
    "Condensation",
    "environment",
    [
        Field("forgotten_event_ids", ListOf(STR), []),  # a set in the SDK
        Field("summary", OPT_STR, None),
        Field("summary_offset", Nullable(Number(integral=True, minimum=0)), None),
        Field("llm_response_id", STR),
    ],
)

EVENT = KindOf(
    "event",
    [
        MESSAGE_EVENT,
        ACTION_EVENT,
        OBSERVATION_EVENT,
        AGENT_ERROR_EVENT,
        USER_REJECT_OBSERVATION,
        SYSTEM_PROMPT_EVENT,
        STATE_UPDATE_EVENT,
        CONDENSATION,
    ],
    frozenset(
        {
            "CondensationRequest",
            "CondensationSummaryEvent",
            "ConversationErrorEvent",
            "ServerErrorEvent",
            "PauseEvent",
            "InterruptEvent",
            "TokenEvent",
            "HookExecutionEvent",
            "LLMCompletionLogEvent",
            "StreamingDeltaEvent",
            "ACPToolCallEvent",
        }
    ),
)
