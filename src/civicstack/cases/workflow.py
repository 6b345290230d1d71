"""Run a case's BPMN process with SpiffWorkflow, without ever running code from the process.

A case's process is a BPMN 2.0 file that a service owner may upload, so the file is untrusted
input. ``process_check`` parses it safely and refuses anything that could run code or that
this binding does not support; ``ProcessInstance`` runs a checked process for one case. The
module knows nothing of Django models: the case services store ``dump()`` on the case, store
``next_timer_at()`` for the scheduler, and hand ``advance`` a function that runs automations.

The API::

    process_check(*, xml, known_automations=None) -> ProcessInfo
    ProcessInstance.start(*, xml, data) -> ProcessInstance
    ProcessInstance.load(*, xml, state) -> ProcessInstance
    instance.dump() -> dict
    instance.advance(*, automations, now) -> list[StepRecord]
    instance.ready_user_tasks() -> list[UserTaskRef]
    instance.complete(*, task_id, data) -> None      # then advance()
    instance.next_timer_at() -> datetime | None
    instance.active_elements() -> list[str]
    instance.is_completed, instance.data, instance.info
    expression_check(*, expression), expression_evaluate(*, expression, data)

What a process may contain
    One executable process (other processes in the file may only be targets of call
    activities), each flow container with one plain start event; plain end events; user
    tasks; service tasks; exclusive and parallel gateways; embedded sub-processes and call
    activities to processes in the same file; timers that wait for an ISO 8601 duration, as
    boundary events on a user task or sub-process, or as intermediate catch events; lanes,
    documentation, text annotations, groups and diagram interchange. Anything else (script
    tasks, extension elements such as SpiffWorkflow's pre- and post-scripts, messages,
    signals, loops, data objects, DOCTYPE declarations, ...) is refused with one message per
    problem, naming the element's id.

Service tasks
    A service task names its automation in the standard ``implementation`` attribute::

        <bpmn:serviceTask id="check_documents" name="Check documents"
                          implementation="civicstack:checks.documents_present" />

    An automation id is lower-case words joined by dots. ``advance`` calls
    ``automations(automation_id, data)`` with a copy of the task's data and merges the dict
    it returns into that data.

Lanes
    A user task's lane decides who works it: lanes named ``caseworker``, ``supervisor`` or
    ``applicant`` (compared case-insensitively, so a diagram may say "Caseworker"). A user
    task in no lane belongs to the caseworker; one in any other lane is refused. Other
    elements may sit in lanes of any name (the default processes use "System").

Conditions
    Conditions on the flows leaving an exclusive gateway are written in a tiny expression
    language, never run as Python: names of the case data's top-level keys, subscripts into
    them (``answers["vehicle_count"]``), string, number, boolean and ``None`` constants,
    lists or tuples of constants, the comparisons ``== != < <= > >= in not in`` and
    ``and``/``or``/``not``. ``True`` is not ``1``; ``and``/``or``/``not`` and the condition
    itself need real booleans; a missing name or key is an error rather than false. When
    more than one condition holds, SpiffWorkflow takes the first flow in the diagram's
    top-to-bottom order, so write conditions that exclude each other.

Data
    Case data is JSON only (dicts with text keys, lists, text, numbers, booleans, None);
    anything else is a TypeError. It flows along the path: each step starts with a copy of
    the data before it, and ``complete`` and automations merge their top-level keys in.
    ``data`` is the data as of the most recent step (the final data once completed).

Time
    SpiffWorkflow's timers read the wall clock; here they read the ``now`` given to
    ``advance`` instead. A timer's due time is fixed by the first ``advance`` that reaches it
    (``now`` + duration), is stored in the state, and survives ``dump``/``load``. When one
    ``advance`` finds several timers due, it fires them in the order they fell due.

State
    ``dump()`` returns a JSON-compatible dict: a format version, SpiffWorkflow's serializer
    version, the process id, a fingerprint of the parsed process, and SpiffWorkflow's
    serialisation of the task tree (without the process spec, which ``load`` rebuilds from
    the XML). Case data is stored as opaque JSON so that a key such as ``typename`` in an
    answer cannot be mistaken for one of SpiffWorkflow's serialised objects. The fingerprint
    covers what the process does, not its diagram: moving shapes is harmless, but any other
    change makes older states refuse to load, so keep each process version's XML as it was.

Errors
    ``ProcessInvalid`` (check), ``UserTaskNotReady`` (``complete``), ``ProcessStepFailed``
    (a gateway condition failed during ``advance``; the instance refuses further use),
    ``ProcessStateInvalid`` (``load``). An exception raised by an automation passes through
    unchanged and leaves the instance consistent, with that service task still to run; the
    steps before it in the same ``advance`` have run, but their records are lost with the
    exception. Either way the simplest course is to roll back and load the last dump.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from django.utils.translation import gettext as _
from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.parser.event_parsers import (
    BoundaryEventParser,
    IntermediateCatchEventParser,
)
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import (
    BasePythonScriptEngineEnvironment,
)
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnSubWorkflowConverter,
    BpmnWorkflowConverter,
    TaskConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EndEvent,
    ExclusiveGateway,
    IntermediateCatchEvent,
    ParallelGateway,
    ServiceTask,
    StartEvent,
    SubWorkflowTask,
    UserTask,
)
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from civicstack.core.errors import CivicstackError, Conflict, ValidationFailed

MAX_PROCESS_BYTES: Final = 1024 * 1024
STATE_FORMAT: Final = 1
LANES: Final = ("caseworker", "supervisor", "applicant")
DEFAULT_LANE: Final = "caseworker"
AUTOMATION_PREFIX: Final = "civicstack:"
MAX_EXPRESSION_LENGTH: Final = 1000
# A timer longer than this is almost certainly a typo (P100D meant, P100Y written).
MAX_TIMER: Final = timedelta(days=3660)
# Engine steps one advance may take before the process is judged to loop.
MAX_ENGINE_STEPS: Final = 200

_BPMN: Final = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_BPMNDI: Final = "http://www.omg.org/spec/BPMN/20100524/DI"
_DIAGRAM_NAMESPACES: Final = frozenset(
    {_BPMNDI, "http://www.omg.org/spec/DD/20100524/DC", "http://www.omg.org/spec/DD/20100524/DI"}
)
_AUTOMATION_ID: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_DURATION: Final = re.compile(
    r"P(?=\d|T\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+)S)?)?"
)
# A timer may name the case data item holding its duration (set by the case services).
_DATA_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")

_TASKS: Final = frozenset({"userTask", "serviceTask", "callActivity", "subProcess"})
_GATEWAYS: Final = frozenset({"exclusiveGateway", "parallelGateway"})
_EVENTS: Final = frozenset({"startEvent", "endEvent", "boundaryEvent", "intermediateCatchEvent"})
_FLOW_NODES: Final = _TASKS | _GATEWAYS | _EVENTS
_ALLOWED: Final = _FLOW_NODES | frozenset(
    {
        "definitions",
        "process",
        "collaboration",
        "participant",
        "laneSet",
        "lane",
        "flowNodeRef",
        "sequenceFlow",
        "conditionExpression",
        "timerEventDefinition",
        "timeDuration",
        "incoming",
        "outgoing",
        "documentation",
        "textAnnotation",
        "text",
        "association",
        "group",
        "category",
        "categoryValue",
        "extensionElements",
    }
)


# --- Errors ----------------------------------------------------------------------------------


class ProcessInvalid(ValidationFailed):
    """A BPMN file cannot be used; ``errors`` has one message per problem, naming the element."""

    code = "process_invalid"

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("; ".join(self.errors[:5]), field_errors={"process": list(self.errors)})


class ExpressionError(ValueError):
    """A condition is not in the safe expression language, or cannot be evaluated on the data."""


class UserTaskNotReady(Conflict):
    """The task to complete is not a user task waiting for someone (any more)."""

    code = "user_task_not_ready"


class ProcessStepFailed(CivicstackError):
    """The engine could not take a step; the instance must be discarded and reloaded."""

    status = 500
    code = "process_step_failed"

    def __init__(self, *, element_id: str, reason: str) -> None:
        self.element_id = element_id
        self.reason = reason
        super().__init__(
            _("The case process stopped at “%(id)s”: %(reason)s")
            % {"id": element_id, "reason": reason}
        )


class ProcessStateInvalid(CivicstackError):
    """A stored process state cannot be loaded with the XML given."""

    status = 500
    code = "process_state_invalid"


# --- The safe expression language ------------------------------------------------------------

_COMPARISONS: Final = (
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
)


def _refusal(node: ast.AST) -> str:
    """Say, for a person, why a piece of syntax is not allowed."""
    if isinstance(node, ast.Call):
        return _("function calls are not allowed")
    if isinstance(node, ast.Attribute):
        return _("attribute access (a dot after a value) is not allowed")
    if isinstance(node, ast.Lambda):
        return _("lambdas are not allowed")
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return _("comprehensions are not allowed")
    if isinstance(node, ast.BinOp):
        return _("arithmetic is not allowed")
    if isinstance(node, ast.NamedExpr):
        return _("assignments are not allowed")
    if isinstance(node, ast.Slice):
        return _("slices are not allowed")
    if isinstance(node, ast.Compare):
        return _("only the comparisons == != < <= > >= in and not in are allowed")
    return _("“%(syntax)s” is not allowed") % {"syntax": type(node).__name__}


def _is_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is None or isinstance(node.value, str | int | float | bool)
    # A negative number is parsed as minus applied to a constant.
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    )


def _check_node(node: ast.expr, depth: int) -> None:
    if depth > 50:
        raise ExpressionError(_("the condition is nested too deeply"))
    if _is_constant(node):
        return
    if isinstance(node, ast.Constant):
        raise ExpressionError(_("only text, numbers, True, False and None are allowed as values"))
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExpressionError(_("names starting with _ are not allowed"))
        return
    if isinstance(node, ast.Subscript):
        key = node.slice
        if not isinstance(key, ast.Constant) or not isinstance(key.value, str | int):
            if isinstance(key, ast.Slice):
                raise ExpressionError(_refusal(key))
            raise ExpressionError(_("a subscript must be a text or number constant"))
        _check_node(node.value, depth + 1)
        return
    if isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            if not _is_constant(element):
                raise ExpressionError(_("lists may hold only constants"))
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check_node(node.operand, depth + 1)
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check_node(value, depth + 1)
        return
    if isinstance(node, ast.Compare):
        if not all(isinstance(op, _COMPARISONS) for op in node.ops):
            raise ExpressionError(_refusal(node))
        _check_node(node.left, depth + 1)
        for comparator in node.comparators:
            _check_node(comparator, depth + 1)
        return
    raise ExpressionError(_refusal(node))


def _compile(source: object) -> ast.expr:
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(_("the condition is empty"))
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(_("the condition is too long"))
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExpressionError(_("the condition is not a valid expression")) from None
    _check_node(tree.body, 0)
    return tree.body


def expression_check(*, expression: str) -> None:
    """Raise ``ExpressionError`` unless ``expression`` is in the safe expression language."""
    _compile(expression)


def expression_evaluate(*, expression: str, data: Mapping[str, Any]) -> Any:
    """Evaluate a safe ``expression`` over ``data`` (never with ``eval``).

    Raises ``ExpressionError`` for anything outside the language, a missing name or key, or
    values that cannot be compared; never any other exception.
    """
    tree = _compile(expression)
    try:
        return _value(tree, data)
    except ExpressionError:
        raise
    except (RecursionError, MemoryError, OverflowError):
        raise ExpressionError(_("the condition could not be evaluated")) from None


def _same(left: Any, right: Any) -> bool:
    # JSON true is not 1: a boolean only ever equals a boolean.
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _truth(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ExpressionError(_("and, or and not need true or false on each side"))
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    if isinstance(op, ast.Eq):
        return _same(left, right)
    if isinstance(op, ast.NotEq):
        return not _same(left, right)
    if isinstance(op, ast.In | ast.NotIn):
        if isinstance(right, list | tuple):
            found = any(_same(left, item) for item in right)
        elif isinstance(right, Mapping | str) and isinstance(left, str):
            found = left in right
        else:
            raise ExpressionError(_("“in” needs a list, or text on both sides"))
        return found if isinstance(op, ast.In) else not found
    if not (
        (_is_number(left) and _is_number(right))
        or (isinstance(left, str) and isinstance(right, str))
    ):
        raise ExpressionError(_("only two numbers or two texts can be ordered"))
    if isinstance(op, ast.Lt):
        return bool(left < right)
    if isinstance(op, ast.LtE):
        return bool(left <= right)
    if isinstance(op, ast.Gt):
        return bool(left > right)
    return bool(left >= right)


def _value(node: ast.expr, data: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in data:
            raise ExpressionError(_("the case has no “%(name)s”") % {"name": node.id})
        return data[node.id]
    if isinstance(node, ast.Subscript):
        container = _value(node.value, data)
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        if isinstance(container, Mapping) and isinstance(key, str) and key in container:
            return container[key]
        if (
            isinstance(container, list | tuple)
            and isinstance(key, int)
            and not isinstance(key, bool)
            and -len(container) <= key < len(container)
        ):
            return container[key]
        raise ExpressionError(_("the case has no “%(key)s” there") % {"key": key})
    if isinstance(node, ast.List | ast.Tuple):
        return [_value(element, data) for element in node.elts]
    if isinstance(node, ast.UnaryOp):
        operand = _value(node.operand, data)
        if isinstance(node.op, ast.Not):
            return not _truth(operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BoolOp):
        is_and = isinstance(node.op, ast.And)
        for part in node.values:
            if _truth(_value(part, data)) != is_and:
                return not is_and
        return is_and
    if isinstance(node, ast.Compare):
        left = _value(node.left, data)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _value(comparator, data)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    # _compile refuses everything else; this guards against a future gap in the checker.
    raise ExpressionError(_refusal(node))


# --- Durations -------------------------------------------------------------------------------


def _duration_parts(text: str) -> dict[str, int] | None:
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    return {unit: int(value) for unit, value in match.groupdict().items() if value is not None}


def _duration_fits(parts: Mapping[str, int]) -> bool:
    """Whether a duration is at most ``MAX_TIMER``, judged without calendar arithmetic.

    SpiffWorkflow adds months one by one, so an absurd month count must be refused first.
    """
    days = (
        parts.get("years", 0) * 366
        + parts.get("months", 0) * 31
        + parts.get("weeks", 0) * 7
        + parts.get("days", 0)
        + (parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0))
        / 86400
    )
    return days <= MAX_TIMER.days


def _due_at(*, duration: str, start: datetime) -> datetime:
    parts = _duration_parts(duration)
    if parts is None:
        raise ValueError(duration)
    # SpiffWorkflow's own helper counts calendar months and years from the start.
    delta = TimerEventDefinition.get_timedelta_from_start(dict(parts), start)
    return start + delta


# --- Public data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserTaskDefinition:
    """A user task in a process: element id, name, and the lane (role) that works it."""

    element_id: str
    name: str
    lane: str


@dataclass(frozen=True)
class ProcessInfo:
    """What ``process_check`` learnt about a valid process."""

    process_id: str
    name: str
    user_tasks: tuple[UserTaskDefinition, ...]
    service_tasks: Mapping[str, str]  # element id -> automation id
    timers: Mapping[str, str]  # element id -> ISO 8601 duration
    has_diagram: bool


@dataclass(frozen=True)
class UserTaskRef:
    """A user task waiting for someone in a running instance."""

    task_id: str
    element_id: str
    name: str
    lane: str


@dataclass(frozen=True)
class StepRecord:
    """One step the engine took by itself, for the case timeline.

    ``kind`` is one of ``start_event``, ``end_event``, ``service_task``, ``gateway``,
    ``timer`` and ``subprocess``. ``result`` is what the automation returned (service tasks),
    the element ids taken next (gateways) or the due time (timers).
    """

    element_id: str
    kind: str
    name: str
    automation_id: str | None
    result: dict[str, Any]


Automations = Callable[[str, dict[str, Any]], dict[str, Any]]


# --- SpiffWorkflow bindings ------------------------------------------------------------------


class _NoCodeEnvironment(BasePythonScriptEngineEnvironment):
    """An environment that refuses to run anything, should any path reach it directly."""

    def evaluate(self, expression: str, context: Any, external_context: Any = None) -> Any:
        return expression_evaluate(expression=expression, data=context)

    def execute(self, script: str, context: Any, external_context: Any = None) -> Any:
        raise ExpressionError(_("scripts are never run"))

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        raise ExpressionError(_("services are called only through automations"))


class CaseScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine, made safe and given the instance's clock.

    ``evaluate`` uses the safe expression language and needs a boolean result; ``execute``
    and ``call_service`` always refuse. During ``ProcessInstance.advance`` it also carries
    the time (``now`` arms timers, ``horizon`` fires them) and the automation results.
    """

    def __init__(self) -> None:
        super().__init__(environment=_NoCodeEnvironment())
        self.now: datetime | None = None
        self.horizon: datetime | None = None
        self.automation_results: dict[uuid.UUID, dict[str, Any]] = {}

    def validate(self, expression: str) -> None:
        expression_check(expression=expression)

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> bool:
        result = expression_evaluate(expression=expression, data=task.data)
        if not isinstance(result, bool):
            raise ExpressionError(_("the condition did not give true or false"))
        return result

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        raise ExpressionError(_("scripts are never run"))

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise ExpressionError(_("services are called only through automations"))


class CaseServiceTask(ServiceTask):
    """A service task whose automation ``advance`` ran just before the engine runs the task."""

    def _run_hook(self, my_task: Any) -> bool:
        result = my_task.workflow.top_workflow.script_engine.automation_results.get(my_task.id)
        if result is None:
            # Only advance() runs automations; reaching this means a path it did not expect.
            raise ExpressionError(_("the automation was not run"))
        my_task.data.update(copy.deepcopy(result))
        return True


class CaseDurationTimer(TimerEventDefinition):
    """A duration timer that reads the instance's clock instead of the wall clock.

    The expression is the duration itself (``P10D``), never evaluated, or the name of a
    data item holding one (``information_period``), read when the timer starts. Outside
    ``advance`` there is no clock: the timer neither arms nor fires.
    """

    def has_fired(self, my_task: Any) -> bool:
        if my_task._get_internal_data("event_fired", False):
            return True
        engine = my_task.workflow.top_workflow.script_engine
        due = my_task._get_internal_data("event_value")
        if due is None:
            if engine.now is None:
                return False
            duration = _timer_duration(self.expression, my_task)
            due = _due_at(duration=duration, start=engine.now).isoformat()
            my_task._set_internal_data(event_value=due)
        if engine.horizon is not None and datetime.fromisoformat(due) <= engine.horizon:
            my_task._set_internal_data(event_fired=True)
            return True
        return False


def _timer_duration(expression: str, my_task: Any) -> str:
    if not _DATA_NAME.fullmatch(expression):
        return expression
    value = my_task.data.get(expression)
    parts = _duration_parts(value) if isinstance(value, str) else None
    if parts is None or not _duration_fits(parts):
        raise ExpressionError(
            _("The case data item “%(name)s” does not hold a duration such as P10D.")
            % {"name": expression}
        )
    return str(value)


def _duration_timer(parser: Any, event: Any) -> CaseDurationTimer:
    """Parse a timer as a ``CaseDurationTimer`` (``process_check`` refused all other timers)."""
    duration = parser.xpath(".//bpmn:timeDuration")[0]
    return CaseDurationTimer(
        parser.node.get("name", parser.node.get("id")),
        (duration.text or "").strip(),
        description=parser.get_event_description(event),
    )


class _BoundaryEventParser(BoundaryEventParser):
    def parse_timer_event(self, event: Any) -> CaseDurationTimer:
        return _duration_timer(self, event)


class _IntermediateCatchEventParser(IntermediateCatchEventParser):
    def parse_timer_event(self, event: Any) -> CaseDurationTimer:
        return _duration_timer(self, event)


class _CaseParser(BpmnParser):
    OVERRIDE_PARSER_CLASSES = {
        full_tag("serviceTask"): (TaskParser, CaseServiceTask),
        full_tag("boundaryEvent"): (_BoundaryEventParser, BoundaryEvent),
        full_tag("intermediateCatchEvent"): (
            _IntermediateCatchEventParser,
            IntermediateCatchEvent,
        ),
    }


@dataclass(frozen=True)
class _CaseData:
    """Case data on its way into the state: stored as plain JSON, never interpreted."""

    value: Any


def _opaque(registry: Any, data: Any) -> Any:
    return registry.convert(_CaseData(data))


class _TaskConverter(TaskConverter):
    def to_dict(self, task: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(task)
        dct["data"] = _opaque(self.registry, dct["data"])
        if dct["delta"]:
            dct["delta"]["updates"] = _opaque(self.registry, dct["delta"]["updates"])
        return dct


class _WorkflowConverter(BpmnWorkflowConverter):
    """Leave the spec out of the state: ``load`` rebuilds it from the XML."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = WorkflowConverter.to_dict(self, workflow)
        dct["data"] = _opaque(self.registry, workflow.data)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self, dct: dict[str, Any], *, spec: Any = None, subprocess_specs: Any = None
    ) -> Any:
        # The registry hands objects that are not dicts back unchanged, so the parsed spec
        # can stand in for its serialised form.
        return super().from_dict({**dct, "spec": spec, "subprocess_specs": subprocess_specs})


class _SubWorkflowConverter(BpmnSubWorkflowConverter):
    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(workflow)
        dct["data"] = _opaque(self.registry, workflow.data)
        return dct


def _serializer() -> Any:
    config = dict(DEFAULT_CONFIG)
    config.update(
        {
            BpmnWorkflow: _WorkflowConverter,
            BpmnSubWorkflow: _SubWorkflowConverter,
            Task: _TaskConverter,
            CaseServiceTask: BpmnTaskSpecConverter,
            CaseDurationTimer: TimerConditionalEventDefinitionConverter,
        }
    )
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(
        _CaseData,
        lambda data: {"json": data.value},
        lambda dct: copy.deepcopy(dct["json"]),
        typename="CivicstackData",
    )
    return BpmnWorkflowSerializer(registry)


_SERIALIZER: Final = _serializer()


# --- Checking a process ----------------------------------------------------------------------


def _local(element: Any) -> str:
    return str(etree.QName(element).localname)


def _namespace(element: Any) -> str:
    return str(etree.QName(element).namespace or "")


def _bpmn_children(element: Any, *names: str) -> list[Any]:
    return [
        child
        for child in element
        if isinstance(child.tag, str) and _namespace(child) == _BPMN and _local(child) in names
    ]


def _where(element: Any) -> str:
    """The id that names an element in a message: its own, or its nearest ancestor's."""
    current = element
    while current is not None:
        if isinstance(current.tag, str) and current.get("id"):
            return str(current.get("id"))
        current = current.getparent()
    return "definitions"


@dataclass(frozen=True)
class _Definition:
    info: ProcessInfo
    spec: Any
    subprocess_specs: dict[str, Any]
    fingerprint: str


class _Check:
    """One pass over a parsed BPMN document, collecting every problem."""

    def __init__(self, root: Any, known_automations: Collection[str] | None) -> None:
        self.root = root
        self.known_automations = known_automations
        self.errors: list[str] = []
        self.by_id: dict[str, Any] = {}
        self.lane_of: dict[str, str] = {}
        self.service_tasks: dict[str, str] = {}
        self.timers: dict[str, str] = {}
        self.user_tasks: list[UserTaskDefinition] = []

    def error(self, message: str) -> None:
        self.errors.append(message)

    def run(self) -> Any:
        """Check the document; return the main process element (or None, with errors)."""
        if not isinstance(self.root.tag, str) or (
            _namespace(self.root),
            _local(self.root),
        ) != (_BPMN, "definitions"):
            self.error(_("The file is not a BPMN 2.0 document (bpmn:definitions)."))
            return None
        self._check_elements()
        self._index_lanes()
        processes = _bpmn_children(self.root, "process")
        called = {
            str(element.get("calledElement") or "")
            for element in self.root.iter(f"{{{_BPMN}}}callActivity")
        }
        main = [
            process
            for process in processes
            if process.get("isExecutable", "true") == "true" and process.get("id") not in called
        ]
        for process in processes:
            self._check_container(process)
        self._check_calls({str(p.get("id")): p for p in processes})
        if not main:
            self.error(_("The file has no executable process."))
            return None
        if len(main) > 1:
            self.error(
                _("The file has more than one executable process (%(ids)s); keep one.")
                % {"ids": ", ".join(f"“{p.get('id')}”" for p in main)}
            )
            return None
        return main[0]

    def _check_elements(self) -> None:
        diagram = f"{{{_BPMNDI}}}BPMNDiagram"
        for element in self.root.iter():
            if not isinstance(element.tag, str):
                if isinstance(element, etree._Entity):
                    self.error(_("The file uses XML entities, which are not allowed."))
                continue
            namespace, name = _namespace(element), _local(element)
            if any(_local(a) == "extensionElements" for a in element.iterancestors()):
                continue  # reported once, by the extensionElements element itself
            if namespace in _DIAGRAM_NAMESPACES:
                self._check_coordinates(element, name)
                if not any(a.tag == diagram for a in element.iterancestors()) and (
                    element.tag != diagram
                ):
                    self.error(
                        _("“%(id)s” has diagram element %(tag)s outside bpmndi:BPMNDiagram.")
                        % {"id": _where(element), "tag": name}
                    )
                continue
            element_id = element.get("id")
            if element_id:
                if element_id in self.by_id:
                    self.error(_("The id “%(id)s” is used twice.") % {"id": element_id})
                self.by_id[element_id] = element
            if namespace != _BPMN:
                self.error(
                    _("“%(id)s” contains the extension element %(tag)s, which is not supported.")
                    % {"id": _where(element.getparent()), "tag": element.tag}
                )
                continue
            self._check_element(element, name)

    def _check_coordinates(self, element: Any, name: str) -> None:
        for attribute in ("x", "y", "width", "height") if name in {"Bounds", "waypoint"} else ():
            value = element.get(attribute)
            if value is None:
                continue
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                self.error(
                    _("The diagram of “%(id)s” has a coordinate that is not a number.")
                    % {"id": _where(element.getparent())}
                )
                return

    def _check_element(self, element: Any, name: str) -> None:
        where = _where(element)
        if name == "scriptTask":
            self.error(
                _(
                    "Script task “%(id)s” would run code, which is not allowed: use a service "
                    "task that names an automation."
                )
                % {"id": where}
            )
        elif name == "script":
            self.error(_("“%(id)s” contains a script, which is not allowed.") % {"id": where})
        elif name in {"timeDate", "timeCycle"}:
            self.error(
                _(
                    "Timer “%(id)s” must wait for a duration such as P10D; dates and cycles "
                    "are not supported."
                )
                % {"id": where}
            )
        elif name not in _ALLOWED:
            if element.get("id"):
                message = _("“%(id)s” is a bpmn:%(tag)s, which is not supported.")
            else:
                message = _("“%(id)s” contains bpmn:%(tag)s, which is not supported.")
            self.error(message % {"id": where, "tag": name})
        elif name == "extensionElements":
            for child in element:
                if not isinstance(child.tag, str):
                    continue
                if "script" in _local(child).lower():
                    self.error(
                        _("“%(id)s” carries a script (%(tag)s), which is not allowed.")
                        % {"id": where, "tag": _local(child)}
                    )
                else:
                    self.error(
                        _("“%(id)s” has extension elements (%(tag)s), which are not supported.")
                        % {"id": where, "tag": _local(child)}
                    )
        elif name in _FLOW_NODES | {"sequenceFlow", "process", "lane"} and not element.get("id"):
            self.error(_("A bpmn:%(tag)s has no id.") % {"tag": name})

    def _index_lanes(self) -> None:
        for lane in self.root.iter(f"{{{_BPMN}}}lane"):
            lane_name = (lane.get("name") or "").strip()
            for ref in _bpmn_children(lane, "flowNodeRef"):
                self.lane_of[(ref.text or "").strip()] = lane_name

    def _lane(self, element: Any) -> str | None:
        """Return the lane name an element sits in (a sub-process passes on its own lane)."""
        current = element
        while current is not None and _local(current) != "process":
            element_id = current.get("id")
            if element_id in self.lane_of:
                return self.lane_of[element_id]
            current = current.getparent()
        return None

    def _check_container(self, container: Any) -> None:
        """Check the flow nodes and flows directly inside a process or sub-process."""
        nodes = {
            str(node.get("id")): node
            for node in _bpmn_children(container, *_FLOW_NODES)
            if node.get("id")
        }
        flows = [flow for flow in _bpmn_children(container, "sequenceFlow") if flow.get("id")]
        container_id = _where(container)
        if _local(container) == "subProcess" and container.get("triggeredByEvent") == "true":
            self.error(
                _("“%(id)s” is an event sub-process, which is not supported.")
                % {"id": container_id}
            )
        starts = [n for n in nodes.values() if _local(n) == "startEvent"]
        if len(starts) != 1:
            self.error(_("“%(id)s” must have exactly one start event.") % {"id": container_id})
        if not any(_local(n) == "endEvent" for n in nodes.values()):
            self.error(_("“%(id)s” has no end event.") % {"id": container_id})
        incoming: dict[str, list[Any]] = {node_id: [] for node_id in nodes}
        outgoing: dict[str, list[Any]] = {node_id: [] for node_id in nodes}
        for flow in flows:
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source not in nodes or target not in nodes:
                self.error(
                    _("Flow “%(id)s” does not connect two elements of “%(container)s”.")
                    % {"id": flow.get("id"), "container": container_id}
                )
                continue
            outgoing[source].append(flow)
            incoming[target].append(flow)
        for node_id, node in nodes.items():
            self._check_node(node_id, node, incoming[node_id], outgoing[node_id], nodes)
            if _local(node) == "subProcess":
                self._check_container(node)

    def _check_node(
        self,
        node_id: str,
        node: Any,
        incoming: list[Any],
        outgoing: list[Any],
        nodes: Mapping[str, Any],
    ) -> None:
        kind = _local(node)
        params = {"id": node_id}
        definitions = [
            child
            for child in node
            if isinstance(child.tag, str) and _local(child).endswith("EventDefinition")
        ]
        if kind in {"startEvent", "endEvent"} and definitions:
            self.error(_("Event “%(id)s” must be a plain start or end event.") % params)
        if kind in {"startEvent", "boundaryEvent"}:
            if incoming:
                self.error(_("“%(id)s” cannot have incoming flows.") % params)
        elif not incoming:
            self.error(_("“%(id)s” has no incoming flow.") % params)
        if kind == "endEvent":
            if outgoing:
                self.error(_("End event “%(id)s” cannot have outgoing flows.") % params)
        elif kind in _GATEWAYS:
            if not outgoing:
                self.error(_("Gateway “%(id)s” has no outgoing flow.") % params)
        elif len(outgoing) != 1:
            self.error(
                _("“%(id)s” must have exactly one outgoing flow; use a gateway to branch.") % params
            )
        if kind in _GATEWAYS:
            self._check_gateway(node_id, node, outgoing)
        else:
            for flow in outgoing:
                if _bpmn_children(flow, "conditionExpression"):
                    self.error(
                        _(
                            "Flow “%(id)s” has a condition, but only flows leaving an "
                            "exclusive gateway may have one."
                        )
                        % {"id": flow.get("id")}
                    )
        if kind in {"boundaryEvent", "intermediateCatchEvent"}:
            self._check_timer(node_id, node, definitions)
        if kind == "boundaryEvent":
            attached = nodes.get(str(node.get("attachedToRef")))
            if attached is None or _local(attached) not in {
                "userTask",
                "subProcess",
                "callActivity",
            }:
                self.error(
                    _("Timer “%(id)s” must be attached to a user task or sub-process.") % params
                )
        if kind == "userTask":
            self._check_user_task(node_id, node)
        if kind == "serviceTask":
            self._check_service_task(node_id, node)

    def _check_gateway(self, node_id: str, node: Any, outgoing: list[Any]) -> None:
        default = node.get("default")
        exclusive = _local(node) == "exclusiveGateway"
        if default and default not in {flow.get("id") for flow in outgoing}:
            self.error(
                _("The default flow of gateway “%(id)s” is not one of its outgoing flows.")
                % {"id": node_id}
            )
        if default and not exclusive:
            self.error(_("Parallel gateway “%(id)s” cannot have a default flow.") % {"id": node_id})
        for flow in outgoing:
            flow_id = flow.get("id")
            conditions = _bpmn_children(flow, "conditionExpression")
            if not exclusive:
                if conditions:
                    self.error(
                        _("Flow “%(id)s” leaves a parallel gateway and cannot have a condition.")
                        % {"id": flow_id}
                    )
                continue
            if not conditions:
                if flow_id != default and len(outgoing) > 1:
                    self.error(
                        _(
                            "Flow “%(id)s” leaves gateway “%(gateway)s” without a condition "
                            "and is not its default flow."
                        )
                        % {"id": flow_id, "gateway": node_id}
                    )
                continue
            if flow_id == default:
                self.error(_("Default flow “%(id)s” cannot have a condition.") % {"id": flow_id})
            try:
                expression_check(expression=conditions[0].text or "")
            except ExpressionError as error:
                self.error(
                    _("The condition on flow “%(id)s” is not allowed: %(reason)s.")
                    % {"id": flow_id, "reason": error}
                )

    def _check_timer(self, node_id: str, node: Any, definitions: list[Any]) -> None:
        timer = [d for d in definitions if _local(d) == "timerEventDefinition"]
        if len(definitions) != 1 or len(timer) != 1:
            self.error(_("“%(id)s” must be a timer (one timer definition).") % {"id": node_id})
            return
        durations = _bpmn_children(timer[0], "timeDuration")
        if len(durations) != 1:
            if not _bpmn_children(timer[0], "timeDate", "timeCycle"):
                self.error(_("Timer “%(id)s” has no duration.") % {"id": node_id})
            return
        text = (durations[0].text or "").strip()
        if _DATA_NAME.fullmatch(text):
            # The duration is read from the case data when the timer starts.
            self.timers[node_id] = text
            return
        parts = _duration_parts(text)
        if parts is None:
            self.error(
                _(
                    "Timer “%(id)s” waits for “%(value)s”, which is neither an ISO 8601 "
                    "duration such as P10D or PT12H nor the name of a case data item."
                )
                % {"id": node_id, "value": text[:40]}
            )
            return
        if not _duration_fits(parts):
            self.error(_("Timer “%(id)s” waits for longer than 10 years.") % {"id": node_id})
            return
        self.timers[node_id] = text

    def _check_user_task(self, node_id: str, node: Any) -> None:
        name = (node.get("name") or "").strip()
        if not name:
            self.error(_("User task “%(id)s” has no name.") % {"id": node_id})
        lane = self._lane(node)
        role = DEFAULT_LANE if lane is None else lane.lower()
        if role not in LANES:
            self.error(
                _(
                    "User task “%(id)s” is in lane “%(lane)s”; user tasks belong in a lane "
                    "named caseworker, supervisor or applicant, or in no lane."
                )
                % {"id": node_id, "lane": lane}
            )
            return
        self.user_tasks.append(UserTaskDefinition(element_id=node_id, name=name, lane=role))

    def _check_service_task(self, node_id: str, node: Any) -> None:
        implementation = (node.get("implementation") or "").strip()
        if not implementation.startswith(AUTOMATION_PREFIX):
            self.error(
                _(
                    "Service task “%(id)s” does not name its automation: set "
                    'implementation="civicstack:<automation id>".'
                )
                % {"id": node_id}
            )
            return
        automation_id = implementation.removeprefix(AUTOMATION_PREFIX)
        if not _AUTOMATION_ID.fullmatch(automation_id):
            self.error(
                _(
                    "Service task “%(id)s” names “%(automation)s”, which is not an automation "
                    "id (lower-case words joined by dots, such as checks.documents_present)."
                )
                % {"id": node_id, "automation": automation_id[:60]}
            )
            return
        if self.known_automations is not None and automation_id not in self.known_automations:
            self.error(
                _("Service task “%(id)s” names the unknown automation “%(automation)s”.")
                % {"id": node_id, "automation": automation_id}
            )
            return
        self.service_tasks[node_id] = automation_id

    def _check_calls(self, processes: Mapping[str, Any]) -> None:
        calls: dict[str, set[str]] = {}
        for call in self.root.iter(f"{{{_BPMN}}}callActivity"):
            called = str(call.get("calledElement") or "")
            if called not in processes:
                self.error(
                    _(
                        "Call activity “%(id)s” calls “%(called)s”, which is not a process in "
                        "this file."
                    )
                    % {"id": _where(call), "called": called[:60]}
                )
                continue
            if processes[called].get("isExecutable", "true") != "true":
                self.error(
                    _("Process “%(called)s” is called by “%(id)s” but is not executable.")
                    % {"id": _where(call), "called": called}
                )
            caller = next((a for a in call.iterancestors() if _local(a) == "process"), None)
            if caller is not None:
                calls.setdefault(str(caller.get("id")), set()).add(called)

        def reaches(start: str, goal: str) -> bool:
            # Iterative and visiting each process once: linear in the calls, however they
            # are nested or chained.
            seen: set[str] = set()
            stack = list(calls.get(start, set()))
            while stack:
                called = stack.pop()
                if called == goal:
                    return True
                if called not in seen:
                    seen.add(called)
                    stack.extend(calls.get(called, set()))
            return False

        for process_id in calls:
            if reaches(process_id, process_id):
                self.error(_("Process “%(id)s” calls itself.") % {"id": process_id})

    def info(self, main: Any) -> ProcessInfo:
        participant_names = {
            p.get("processRef"): p.get("name") for p in self.root.iter(f"{{{_BPMN}}}participant")
        }
        process_id = str(main.get("id"))
        return ProcessInfo(
            process_id=process_id,
            name=(main.get("name") or participant_names.get(process_id) or process_id).strip(),
            user_tasks=tuple(self.user_tasks),
            service_tasks=dict(self.service_tasks),
            timers=dict(self.timers),
            has_diagram=bool(self.root.findall(f"{{{_BPMNDI}}}BPMNDiagram/{{{_BPMNDI}}}BPMNPlane")),
        )


def _parse_xml(xml: str | bytes) -> Any:
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    if not isinstance(raw, bytes):
        raise ProcessInvalid([_("The process must be BPMN XML text.")])
    if len(raw) > MAX_PROCESS_BYTES:
        raise ProcessInvalid(
            [_("The file is larger than %(size)s MB.") % {"size": MAX_PROCESS_BYTES // 2**20}]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Other encodings would also hide a DOCTYPE from the check below.
        raise ProcessInvalid([_("The file must be UTF-8 text.")]) from None
    # Entities are the way into entity bombs and external files; BPMN never needs a DTD.
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise ProcessInvalid(
            [_("The file has a DOCTYPE or entity declaration, which is not allowed.")]
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(raw, parser=parser)
    except etree.XMLSyntaxError as error:
        raise ProcessInvalid(
            [_("The file is not well-formed XML: %(reason)s") % {"reason": error.msg}]
        ) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise ProcessInvalid([_("The file has a DOCTYPE declaration, which is not allowed.")])
    return root


def _define(xml: str | bytes, known_automations: Collection[str] | None) -> _Definition:
    root = _parse_xml(xml)
    check = _Check(root, known_automations)
    try:
        main = check.run()
    except RecursionError:
        raise ProcessInvalid([_("The process is nested too deeply to be read.")]) from None
    if check.errors or main is None:
        raise ProcessInvalid(check.errors)
    info = check.info(main)
    parser = _CaseParser()
    try:
        parser.add_bpmn_xml(root)
        spec = parser.get_spec(info.process_id)
        subprocess_specs = parser.get_subprocess_specs(info.process_id)
    except ValidationException as error:
        raise ProcessInvalid(
            [_("“%(id)s”: %(reason)s") % {"id": error.id or "definitions", "reason": error}]
        ) from None
    except SpiffWorkflowException as error:
        raise ProcessInvalid([str(error)]) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as error:
        # The checks above should leave nothing for SpiffWorkflow's parser to trip over;
        # should one slip through, the file is still refused rather than crashing.
        raise ProcessInvalid(
            [_("The process could not be read: %(reason)s") % {"reason": error}]
        ) from None
    serialised = {
        "spec": _SERIALIZER.registry.convert(spec),
        "subprocess_specs": {
            k: _SERIALIZER.registry.convert(v) for k, v in subprocess_specs.items()
        },
    }
    fingerprint = hashlib.sha256(json.dumps(serialised, sort_keys=True).encode()).hexdigest()
    return _Definition(
        info=info, spec=spec, subprocess_specs=subprocess_specs, fingerprint=fingerprint
    )


def process_check(
    *, xml: str | bytes, known_automations: Collection[str] | None = None
) -> ProcessInfo:
    """Check a BPMN 2.0 document and describe it, or raise ``ProcessInvalid``.

    ``known_automations``, when given, is the set of automation ids service tasks may name.
    """
    return _define(xml, known_automations).info


# --- Running a process -----------------------------------------------------------------------


def _json_dict(value: object, *, what: str) -> dict[str, Any]:
    """Return a deep copy of ``value`` after making sure it is a JSON object."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict, not {type(value).__name__}")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must hold JSON values only: {error}") from None
    copied: dict[str, Any] = json.loads(text)
    if copied != value:
        # json.dumps turns non-string keys and tuples into something else.
        raise TypeError(f"{what} must have string keys and lists, not tuples")
    return copied


def _kind(task_spec: Any) -> str | None:
    if isinstance(task_spec, StartEvent):
        return "start_event"
    if isinstance(task_spec, EndEvent):
        return "end_event"
    if isinstance(task_spec, CaseServiceTask):
        return "service_task"
    if isinstance(task_spec, ExclusiveGateway | ParallelGateway):
        return "gateway"
    if isinstance(task_spec, BoundaryEvent | IntermediateCatchEvent):
        return "timer"
    if isinstance(task_spec, CallActivity | SubWorkflowTask):
        return "subprocess"
    return None


def _element_of(task: Any) -> str | None:
    """Return the diagram element a task stands for, looking past SpiffWorkflow's helpers."""
    # A task with boundary events sits behind a split task that is not on the diagram.
    if task.task_spec.bpmn_id:
        return str(task.task_spec.bpmn_id)
    for child in task.children:
        if not isinstance(child.task_spec, BoundaryEvent):
            return _element_of(child)
    return None


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


class ProcessInstance:
    """One case's running process: a SpiffWorkflow ``BpmnWorkflow`` behind a small API.

    Not thread-safe: load, change and dump an instance inside one transaction.
    """

    def __init__(self, *, definition: _Definition, workflow: Any, engine: CaseScriptEngine) -> None:
        self._definition = definition
        self._workflow = workflow
        self._engine = engine
        self._failed = False

    @classmethod
    def start(cls, *, xml: str | bytes, data: Mapping[str, Any]) -> ProcessInstance:
        """Check ``xml`` and start a new instance whose data is ``data``; nothing runs yet."""
        definition = _define(xml, None)
        engine = CaseScriptEngine()
        workflow = BpmnWorkflow(definition.spec, definition.subprocess_specs, script_engine=engine)
        workflow.task_tree.data = _json_dict(dict(data), what="data")
        return cls(definition=definition, workflow=workflow, engine=engine)

    @classmethod
    def load(cls, *, xml: str | bytes, state: Mapping[str, Any]) -> ProcessInstance:
        """Restore an instance from ``dump()`` and the XML it started with."""
        definition = _define(xml, None)
        if state.get("format") != STATE_FORMAT:
            raise ProcessStateInvalid(
                _("The stored case process has format %(found)s; this version reads %(wanted)s.")
                % {"found": state.get("format"), "wanted": STATE_FORMAT}
            )
        if state.get("serializer_version") != SPIFF_SERIALIZER_VERSION:
            # A SpiffWorkflow upgrade that changes its format needs a migration written then.
            raise ProcessStateInvalid(
                _("The stored case process needs migrating to this version of the engine.")
            )
        if (
            state.get("process_id") != definition.info.process_id
            or state.get("fingerprint") != definition.fingerprint
        ):
            raise ProcessStateInvalid(
                _("The stored case process was started with a different process definition.")
            )
        engine = CaseScriptEngine()
        try:
            workflow = _SERIALIZER.registry.restore(
                copy.deepcopy(state["workflow"]),
                spec=definition.spec,
                subprocess_specs=definition.subprocess_specs,
            )
        except (KeyError, TypeError, ValueError, AttributeError, SpiffWorkflowException):
            raise ProcessStateInvalid(_("The stored case process is damaged.")) from None
        if not isinstance(workflow, BpmnWorkflow):
            raise ProcessStateInvalid(_("The stored case process is damaged."))
        workflow.script_engine = engine
        return cls(definition=definition, workflow=workflow, engine=engine)

    def dump(self) -> dict[str, Any]:
        """Return the instance's state as a JSON-compatible dict for ``load``."""
        self._ensure_usable()
        workflow = _SERIALIZER.to_dict(self._workflow)
        state = {
            "format": STATE_FORMAT,
            "serializer_version": SPIFF_SERIALIZER_VERSION,
            "process_id": self._definition.info.process_id,
            "fingerprint": self._definition.fingerprint,
            "workflow": workflow,
        }
        # Through JSON and back, so the caller holds exactly what a JSONField stores.
        dumped: dict[str, Any] = json.loads(json.dumps(state, allow_nan=False))
        return dumped

    @property
    def info(self) -> ProcessInfo:
        """What the process contains (as ``process_check`` reports it)."""
        return self._definition.info

    @property
    def is_completed(self) -> bool:
        """Whether the process has reached its end."""
        return bool(self._workflow.is_completed())

    @property
    def data(self) -> dict[str, Any]:
        """Return a copy of the data as of the most recent step (the final data once completed)."""
        if self._workflow.is_completed():
            source = self._workflow.data
        elif self._workflow.last_task is not None:
            source = self._workflow.last_task.data
        else:
            source = self._workflow.task_tree.data
        return copy.deepcopy(dict(source))

    def advance(self, *, automations: Automations, now: datetime) -> list[StepRecord]:
        """Run every step the engine can take by itself at ``now``; return what ran.

        Gateways, start and end events, service tasks (calling
        ``automations(automation_id, data)``) and timers due at ``now`` run, in the order
        timers fell due; user tasks and timers not yet due stop the engine.
        """
        self._ensure_usable()
        now = _aware(now)
        records: list[StepRecord] = []
        current: list[Any] = []

        def will_complete(task: Any) -> None:
            current[:] = [task]
            if isinstance(task.task_spec, CaseServiceTask):
                automation_id = self.info.service_tasks[task.task_spec.bpmn_id]
                result = automations(automation_id, copy.deepcopy(task.data))
                self._engine.automation_results[task.id] = _json_dict(
                    result, what=f"the result of automation {automation_id}"
                )

        def did_complete(task: Any) -> None:
            kind = _kind(task.task_spec)
            if kind is None or not task.task_spec.bpmn_id:
                return
            spec = task.task_spec
            result: dict[str, Any] = {}
            automation_id = self.info.service_tasks.get(spec.bpmn_id)
            if kind == "service_task":
                result = self._engine.automation_results.pop(task.id, {})
            elif kind == "gateway":
                result = {"next": [_element_of(child) for child in task.children]}
            elif kind == "timer":
                result = {"due": task.internal_data.get("event_value")}
            records.append(
                StepRecord(
                    element_id=spec.bpmn_id,
                    kind=kind,
                    name=spec.bpmn_name or "",
                    automation_id=automation_id if kind == "service_task" else None,
                    result=result,
                )
            )

        self._engine.now = now
        try:
            # Fire timers in the order they fell due, so a reminder due on day 7 still runs
            # before the deadline due on day 10 when the scheduler comes by on day 11.
            horizons = sorted({due for due in self._waiting_timers().values() if due <= now})
            for horizon in [*horizons, now]:
                self._engine.horizon = horizon
                self._run_engine(will_complete, did_complete)
        except ExpressionError as error:
            self._failed = True
            element = current[0].task_spec.bpmn_id if current else "definitions"
            raise ProcessStepFailed(element_id=element, reason=str(error)) from None
        except SpiffWorkflowException as error:
            self._failed = True
            element = current[0].task_spec.bpmn_id if current else "definitions"
            raise ProcessStepFailed(element_id=element, reason=str(error)) from None
        finally:
            self._engine.now = None
            self._engine.horizon = None
            self._engine.automation_results.clear()
        return records

    def _run_engine(
        self, will_complete: Callable[[Any], None], did_complete: Callable[[Any], None]
    ) -> None:
        """Run engine steps until only user tasks and waiting timers are left."""
        steps = 0

        def counted(task: Any) -> None:
            nonlocal steps
            steps += 1
            if steps > MAX_ENGINE_STEPS:
                # A loop of gateways with no user task or timer in it would spin forever.
                raise ProcessStepFailed(
                    element_id=str(task.task_spec.bpmn_id or task.task_spec.name),
                    reason=str(_("the process runs in a loop without waiting for anyone")),
                )
            will_complete(task)

        while True:
            self._workflow.refresh_timers()
            if self._workflow.get_next_task(state=TaskState.READY, manual=False) is None:
                return
            before = steps
            self._workflow.do_engine_steps(
                will_complete_task=counted, did_complete_task=did_complete
            )
            if steps == before:
                return  # nothing SpiffWorkflow would run: never spin

    def ready_user_tasks(self) -> list[UserTaskRef]:
        """Return the user tasks waiting for someone, in the process's order."""
        lanes = {task.element_id: task.lane for task in self.info.user_tasks}
        return [
            UserTaskRef(
                task_id=str(task.id),
                element_id=task.task_spec.bpmn_id,
                name=task.task_spec.bpmn_name or "",
                lane=lanes.get(task.task_spec.bpmn_id, DEFAULT_LANE),
            )
            for task in self._workflow.get_tasks(state=TaskState.READY)
            if isinstance(task.task_spec, UserTask)
        ]

    def complete(self, *, task_id: str, data: Mapping[str, Any]) -> None:
        """Complete a ready user task, merging ``data`` into its data; call ``advance`` next."""
        self._ensure_usable()
        clean = _json_dict(dict(data), what="data")
        task = None
        try:
            task = self._workflow.get_task_from_id(uuid.UUID(task_id))
        except (ValueError, TypeError, AttributeError, SpiffWorkflowException):
            task = None
        if (
            task is None
            or not isinstance(task.task_spec, UserTask)
            or task.state != TaskState.READY
        ):
            raise UserTaskNotReady(
                _("This task is not waiting to be done. It may have been done already.")
            )
        task.data.update(clean)
        task.run()

    def next_timer_at(self) -> datetime | None:
        """Return when the earliest waiting timer falls due, if any timer is waiting."""
        dues = self._waiting_timers().values()
        return min(dues) if dues else None

    def active_elements(self) -> list[str]:
        """Return the ids of the elements the case is at now (for the diagram)."""
        active: list[str] = []
        for task in self._workflow.get_tasks(
            state=TaskState.READY | TaskState.WAITING | TaskState.STARTED
        ):
            element_id = task.task_spec.bpmn_id
            if element_id and element_id not in active:
                active.append(element_id)
        return active

    def _waiting_timers(self) -> dict[uuid.UUID, datetime]:
        dues: dict[uuid.UUID, datetime] = {}
        for task in self._workflow.get_tasks(state=TaskState.WAITING):
            definition = getattr(task.task_spec, "event_definition", None)
            due = task.internal_data.get("event_value")
            fired = task.internal_data.get("event_fired", False)
            if isinstance(definition, CaseDurationTimer) and isinstance(due, str) and not fired:
                dues[task.id] = datetime.fromisoformat(due)
        return dues

    def _ensure_usable(self) -> None:
        if self._failed:
            raise ProcessStepFailed(
                element_id="definitions",
                reason=_("an earlier step failed; load the case process again"),
            )
