"""The BPMN engine binding: default processes, state, timers, and refusing anything unsafe."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from civicstack.cases.workflow import (
    MAX_PROCESS_BYTES,
    CaseScriptEngine,
    ExpressionError,
    ProcessInstance,
    ProcessInvalid,
    ProcessStateInvalid,
    ProcessStepFailed,
    UserTaskNotReady,
    expression_evaluate,
    process_check,
)

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
# What the case services pass when a caseworker asks for information: a reply due in 10
# days, with a reminder after 7.
ASK = {
    "action": "request_information",
    "information_period": "P10D",
    "reminder_period": "P7D",
}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"


def _xml(name: str) -> bytes:
    return (PROCESSES / f"{name}.bpmn").read_bytes()


class Automations:
    """A stand-in for the case automations: records each call and answers from a table."""

    def __init__(self, *, auto_approved: bool = False) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.results: dict[str, dict[str, Any]] = {
            "checks.documents_present": {"documents_present": True, "documents_count": 2},
            "rules.evaluate": {"auto_approved": auto_approved, "rule_findings": []},
            "notify.information_reminder": {"information_reminded": True},
        }

    def __call__(self, automation_id: str, data: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((automation_id, data))
        return self.results[automation_id]


def _started(name: str, automations: Automations, *, at: datetime = T0) -> ProcessInstance:
    instance = ProcessInstance.start(
        xml=_xml(name),
        data={"answers": {"reason": "moving"}, "documents_count": 2, "service": "parking-permit"},
    )
    instance.advance(automations=automations, now=at)
    return instance


def _do(
    instance: ProcessInstance,
    element_id: str,
    data: dict[str, Any],
    automations: Callable[[str, dict[str, Any]], dict[str, Any]],
    *,
    at: datetime = T0,
) -> list[str]:
    """Complete the ready user task ``element_id``, advance, and return the elements run."""
    (task,) = [t for t in instance.ready_user_tasks() if t.element_id == element_id]
    instance.complete(task_id=task.task_id, data=data)
    return [record.element_id for record in instance.advance(automations=automations, now=at)]


def _ready(instance: ProcessInstance) -> list[tuple[str, str]]:
    return [(task.element_id, task.lane) for task in instance.ready_user_tasks()]


# --- The default processes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "user_tasks", "timers"),
    [
        ("simple-decision", [("assess", "caseworker")], {}),
        (
            "information-loop",
            [("assess", "caseworker"), ("await_information", "applicant")],
            {
                "information_overdue": "information_period",
                "information_reminder_due": "reminder_period",
            },
        ),
        (
            "two-step-approval",
            [
                ("assess", "caseworker"),
                ("approve_decision", "supervisor"),
                ("await_information", "applicant"),
            ],
            {
                "information_overdue": "information_period",
                "information_reminder_due": "reminder_period",
            },
        ),
    ],
)
def test_default_processes_pass_the_check(
    name: str, user_tasks: list[tuple[str, str]], timers: dict[str, str]
) -> None:
    """Each default process is valid, has a diagram, and lists its tasks, lanes and timers."""
    info = process_check(
        xml=_xml(name),
        known_automations={
            "checks.documents_present",
            "rules.evaluate",
            "notify.information_reminder",
        },
    )
    assert info.has_diagram
    assert [(task.element_id, task.lane) for task in info.user_tasks] == user_tasks
    assert all(task.name for task in info.user_tasks)
    assert info.service_tasks["check_documents"] == "checks.documents_present"
    assert info.service_tasks["apply_rules"] == "rules.evaluate"
    assert info.timers == timers


@pytest.mark.parametrize("name", ["simple-decision", "information-loop", "two-step-approval"])
def test_every_element_of_a_default_process_is_drawn(name: str) -> None:
    """Every flow node, lane and flow has a shape or edge, so bpmn-js can draw the whole process."""
    root = etree.fromstring(_xml(name))
    drawn = {element.get("bpmnElement") for element in root.iter(f"{{{BPMNDI}}}*")}
    process = root.find(f"{{{BPMN}}}process")
    assert process is not None
    wanted = {
        element.get("id")
        for element in process.iter()
        if isinstance(element.tag, str)
        and etree.QName(element).localname
        not in {"process", "laneSet", "flowNodeRef", "incoming", "outgoing"}
        and element.get("id")
        and not etree.QName(element).localname.endswith("Definition")
    }
    assert wanted - drawn == set()


@pytest.mark.parametrize("name", ["simple-decision", "information-loop", "two-step-approval"])
def test_default_processes_are_schema_valid_bpmn(name: str) -> None:
    """Each default process validates against the BPMN 2.0 schema, so other tools open it."""
    schema = BpmnValidator().validator
    assert schema.validate(etree.fromstring(_xml(name))), schema.error_log


def test_simple_decision_approves_automatically() -> None:
    """When the rules approve, the checks and rules run and the process ends by itself."""
    automations = Automations(auto_approved=True)
    instance = ProcessInstance.start(
        xml=_xml("simple-decision"),
        data={"answers": {"reason": "moving"}, "documents_count": 2, "service": "parking-permit"},
    )
    records = instance.advance(automations=automations, now=T0)

    assert [(r.element_id, r.kind) for r in records] == [
        ("start", "start_event"),
        ("check_documents", "service_task"),
        ("apply_rules", "service_task"),
        ("auto_approved_gateway", "gateway"),
        ("approved_automatically", "end_event"),
    ]
    assert records[1].automation_id == "checks.documents_present"
    assert records[1].result == {"documents_present": True, "documents_count": 2}
    assert records[3].result == {"next": ["approved_automatically"]}
    assert [call[0] for call in automations.calls] == ["checks.documents_present", "rules.evaluate"]
    # Each automation sees the data so far, the earlier automation's findings included.
    assert automations.calls[1][1]["documents_present"] is True
    assert automations.calls[1][1]["answers"] == {"reason": "moving"}
    assert instance.is_completed
    assert instance.data["auto_approved"] is True
    assert instance.ready_user_tasks() == []
    assert instance.active_elements() == []
    assert instance.next_timer_at() is None


def test_simple_decision_goes_to_a_caseworker_when_not_approved() -> None:
    """Without automatic approval a caseworker assesses; completing it ends the process."""
    automations = Automations(auto_approved=False)
    instance = _started("simple-decision", automations)

    assert _ready(instance) == [("assess", "caseworker")]
    assert instance.ready_user_tasks()[0].name == "Assess and decide"
    assert instance.active_elements() == ["assess"]
    assert not instance.is_completed

    assert _do(instance, "assess", {"action": "decide"}, automations) == ["decided"]
    assert instance.is_completed
    assert instance.data["action"] == "decide"


def test_information_loop_decides_straight_away() -> None:
    """Completing assess with action decide ends the process."""
    automations = Automations()
    instance = _started("information-loop", automations)
    assert _ready(instance) == [("assess", "caseworker")]

    assert _do(instance, "assess", {"action": "decide"}, automations) == [
        "action_gateway",
        "decided",
    ]
    assert instance.is_completed


def test_information_loop_asks_the_applicant_and_returns_to_the_caseworker() -> None:
    """request_information waits for the applicant; their answer brings the case back."""
    automations = Automations()
    instance = _started("information-loop", automations)

    assert _do(instance, "assess", ASK, automations) == ["action_gateway"]
    assert _ready(instance) == [("await_information", "applicant")]
    assert set(instance.active_elements()) == {
        "await_information",
        "information_overdue",
        "information_reminder_due",
    }
    assert instance.next_timer_at() == T0 + timedelta(days=7)

    answered = T0 + timedelta(days=2)
    assert (
        _do(instance, "await_information", {"information": "Here."}, automations, at=answered) == []
    )
    assert _ready(instance) == [("assess", "caseworker")]
    # The answer cancelled both timers.
    assert instance.next_timer_at() is None
    assert instance.data["information"] == "Here."

    _do(instance, "assess", {"action": "decide"}, automations, at=answered)
    assert instance.is_completed
    assert "notify.information_reminder" not in [call[0] for call in automations.calls]


def test_two_step_approval_approved() -> None:
    """A decision goes to a supervisor; approval ends the process."""
    automations = Automations()
    instance = _started("two-step-approval", automations)

    _do(instance, "assess", {"action": "decide"}, automations)
    assert _ready(instance) == [("approve_decision", "supervisor")]
    assert _do(instance, "approve_decision", {"approval": "approved"}, automations) == [
        "approval_gateway",
        "decision_approved",
    ]
    assert instance.is_completed


def test_two_step_approval_rejected_then_approved() -> None:
    """A rejected decision goes back to the caseworker, and the next one can be approved."""
    automations = Automations()
    instance = _started("two-step-approval", automations)

    _do(instance, "assess", {"action": "decide"}, automations)
    assert _do(instance, "approve_decision", {"approval": "rejected"}, automations) == [
        "approval_gateway"
    ]
    assert _ready(instance) == [("assess", "caseworker")]
    _do(instance, "assess", {"action": "decide"}, automations)
    assert _ready(instance) == [("approve_decision", "supervisor")]
    _do(instance, "approve_decision", {"approval": "approved"}, automations)
    assert instance.is_completed


def test_two_step_approval_can_ask_for_information_too() -> None:
    """The caseworker in a two-step process can ask the applicant before deciding."""
    automations = Automations()
    instance = _started("two-step-approval", automations)

    _do(instance, "assess", ASK, automations)
    assert _ready(instance) == [("await_information", "applicant")]
    _do(instance, "await_information", {}, automations)
    _do(instance, "assess", {"action": "decide"}, automations)
    assert _ready(instance) == [("approve_decision", "supervisor")]


# --- State -----------------------------------------------------------------------------------


def test_dump_is_json_and_round_trips_exactly() -> None:
    """dump() survives JSON, and loading it gives back exactly the same state."""
    automations = Automations()
    instance = _started("information-loop", automations)
    state = instance.dump()

    assert json.loads(json.dumps(state)) == state
    assert state["format"] == 1
    assert state["process_id"] == "information_loop"
    assert ProcessInstance.load(xml=_xml("information-loop"), state=state).dump() == state


def test_a_loaded_instance_at_a_user_task_resumes_identically() -> None:
    """Loaded at a user task, an instance offers the same task and continues the same way."""
    automations = Automations()
    original = _started("two-step-approval", automations)
    loaded = ProcessInstance.load(xml=_xml("two-step-approval"), state=original.dump())

    assert loaded.ready_user_tasks() == original.ready_user_tasks()
    assert loaded.active_elements() == original.active_elements()
    assert loaded.data == original.data
    for instance in (original, loaded):
        assert _do(instance, "assess", {"action": "decide"}, automations) == ["action_gateway"]
        assert _do(instance, "approve_decision", {"approval": "approved"}, automations) == [
            "approval_gateway",
            "decision_approved",
        ]
        assert instance.is_completed
    assert loaded.data == original.data


def test_case_data_that_looks_like_engine_objects_round_trips() -> None:
    """An answer whose keys look like SpiffWorkflow's serialised objects stays plain data."""
    data = {
        "answers": {
            "typename": "UUID",
            "value": "6f1c6f6e-0000-4000-8000-000000000000",
            "group": [{"typename": "BpmnWorkflow"}],
        },
    }
    instance = ProcessInstance.start(xml=_xml("simple-decision"), data=data)
    instance.advance(automations=Automations(), now=T0)
    loaded = ProcessInstance.load(xml=_xml("simple-decision"), state=instance.dump())

    assert loaded.data["answers"] == data["answers"]
    assert loaded.dump() == instance.dump()


def test_state_loads_only_with_the_process_it_started_with() -> None:
    """A state loaded with another process, or an unknown format, is refused."""
    state = _started("simple-decision", Automations()).dump()

    with pytest.raises(ProcessStateInvalid):
        ProcessInstance.load(xml=_xml("information-loop"), state=state)
    changed = _xml("simple-decision").replace(b"auto_approved == True", b"auto_approved != False")
    with pytest.raises(ProcessStateInvalid):
        ProcessInstance.load(xml=changed, state=state)
    with pytest.raises(ProcessStateInvalid):
        ProcessInstance.load(xml=_xml("simple-decision"), state={**state, "format": 99})
    with pytest.raises(ProcessStateInvalid):
        ProcessInstance.load(
            xml=_xml("simple-decision"), state={**state, "workflow": {"typename": "Nonsense"}}
        )


def test_diagram_changes_do_not_stop_a_state_loading() -> None:
    """Moving shapes on the diagram leaves running cases loadable."""
    state = _started("simple-decision", Automations()).dump()
    moved = _xml("simple-decision").replace(b'x="590" y="320"', b'x="600" y="330"')
    assert moved != _xml("simple-decision")
    assert ProcessInstance.load(xml=moved, state=state).dump() == state


# --- Timers ----------------------------------------------------------------------------------


def _waiting_for_information(name: str = "information-loop") -> tuple[ProcessInstance, Automations]:
    automations = Automations()
    instance = _started(name, automations)
    _do(instance, "assess", ASK, automations)
    return instance, automations


def test_timers_fire_only_when_due() -> None:
    """Nothing happens a second before the reminder is due; at the due time it fires."""
    instance, automations = _waiting_for_information()
    due = T0 + timedelta(days=7)
    assert instance.next_timer_at() == due

    assert instance.advance(automations=automations, now=due - timedelta(seconds=1)) == []
    assert _ready(instance) == [("await_information", "applicant")]

    records = instance.advance(automations=automations, now=due)
    assert [(r.element_id, r.kind) for r in records] == [
        ("information_reminder_due", "timer"),
        ("send_information_reminder", "service_task"),
        ("reminder_sent", "end_event"),
    ]
    assert records[0].result == {"due": due.isoformat()}
    assert records[1].result == {"information_reminded": True}
    # The reminder does not interrupt: the applicant can still answer, and the deadline stands.
    assert _ready(instance) == [("await_information", "applicant")]
    assert instance.next_timer_at() == T0 + timedelta(days=10)
    assert not instance.is_completed


def test_a_timer_survives_a_restart() -> None:
    """A timer dumped and loaded by a fresh worker fires after its due time, and not before."""
    instance, automations = _waiting_for_information()
    instance.advance(automations=automations, now=T0 + timedelta(days=7))
    state = instance.dump()
    deadline = T0 + timedelta(days=10)

    early = ProcessInstance.load(xml=_xml("information-loop"), state=state)
    assert early.next_timer_at() == deadline
    assert early.advance(automations=automations, now=deadline - timedelta(minutes=1)) == []
    assert _ready(early) == [("await_information", "applicant")]

    late = ProcessInstance.load(xml=_xml("information-loop"), state=state)
    records = late.advance(automations=automations, now=deadline + timedelta(hours=1))
    assert [r.element_id for r in records] == ["information_overdue"]
    assert _ready(late) == [("assess", "caseworker")]
    assert late.next_timer_at() is None


def test_a_late_advance_fires_timers_in_the_order_they_fell_due() -> None:
    """Advanced on day 11, the day-7 reminder still runs before the day-10 deadline."""
    instance, automations = _waiting_for_information()
    state = ProcessInstance.load(xml=_xml("information-loop"), state=instance.dump())

    records = state.advance(automations=automations, now=T0 + timedelta(days=11))
    assert [r.element_id for r in records] == [
        "information_reminder_due",
        "send_information_reminder",
        "reminder_sent",
        "information_overdue",
    ]
    assert _ready(state) == [("assess", "caseworker")]


def test_a_second_request_starts_fresh_timers() -> None:
    """After the deadline passed, asking again gives the applicant another 10 days."""
    instance, automations = _waiting_for_information("two-step-approval")
    day_10 = T0 + timedelta(days=10)
    instance.advance(automations=automations, now=day_10)
    assert _ready(instance) == [("assess", "caseworker")]

    _do(instance, "assess", ASK, automations, at=day_10)
    assert instance.next_timer_at() == day_10 + timedelta(days=7)


def test_advance_needs_an_aware_time() -> None:
    """A naive datetime is refused."""
    instance = ProcessInstance.start(xml=_xml("simple-decision"), data={})
    with pytest.raises(ValueError, match="timezone"):
        instance.advance(automations=Automations(), now=datetime(2026, 3, 2, 9))


# --- Completing tasks and failures -----------------------------------------------------------


def test_only_ready_user_tasks_can_be_completed() -> None:
    """Unknown ids, finished tasks and engine tasks are refused with a clear error."""
    automations = Automations()
    instance = _started("simple-decision", automations)
    (task,) = instance.ready_user_tasks()

    with pytest.raises(UserTaskNotReady):
        instance.complete(task_id="not-a-uuid", data={})
    with pytest.raises(UserTaskNotReady):
        instance.complete(task_id="6f1c6f6e-0000-4000-8000-000000000000", data={})
    with pytest.raises(TypeError):
        instance.complete(task_id=task.task_id, data={"when": datetime.now(tz=UTC)})
    instance.complete(task_id=task.task_id, data={"action": "decide"})
    with pytest.raises(UserTaskNotReady):
        instance.complete(task_id=task.task_id, data={"action": "decide"})


def test_a_failing_automation_leaves_the_instance_usable() -> None:
    """The automation's error passes through; advancing again resumes at that service task."""
    instance = ProcessInstance.start(xml=_xml("simple-decision"), data={})

    class Unavailable(Exception):
        pass

    def broken(automation_id: str, data: dict[str, Any]) -> dict[str, Any]:
        if automation_id == "rules.evaluate":
            raise Unavailable
        return {"documents_present": True}

    with pytest.raises(Unavailable):
        instance.advance(automations=broken, now=T0)
    automations = Automations()
    records = instance.advance(automations=automations, now=T0)
    assert [r.element_id for r in records] == ["apply_rules", "auto_approved_gateway"]
    assert [call[0] for call in automations.calls] == ["rules.evaluate"]
    assert _ready(instance) == [("assess", "caseworker")]


def test_an_automation_must_return_json() -> None:
    """An automation result that is not a JSON object is a programming error."""
    instance = ProcessInstance.start(xml=_xml("simple-decision"), data={})
    with pytest.raises(TypeError):
        instance.advance(automations=lambda automation_id, data: {"at": T0}, now=T0)


def test_a_failing_condition_stops_the_instance() -> None:
    """A gateway whose condition cannot be evaluated names itself; the instance is then unusable."""
    automations = Automations()
    instance = _started("information-loop", automations)
    (task,) = instance.ready_user_tasks()
    instance.complete(task_id=task.task_id, data={})

    with pytest.raises(ProcessStepFailed) as raised:
        instance.advance(automations=automations, now=T0)
    assert raised.value.element_id == "action_gateway"
    assert "action" in raised.value.reason
    with pytest.raises(ProcessStepFailed):
        instance.dump()


# --- Refusing unsafe or unsupported processes ------------------------------------------------

_DEFINITIONS = (
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="definitions" targetNamespace="https://example.org/test">'
)


def _linear(*elements: str, extra: str = "", process_attrs: str = 'isExecutable="true"') -> str:
    """A process start -> each element in turn -> end; each element's id is its first attribute."""
    ids = ["start", *[element.split('id="', 1)[1].split('"', 1)[0] for element in elements], "end"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="flow_{n}" sourceRef="{a}" targetRef="{b}" />'
        for n, (a, b) in enumerate(itertools.pairwise(ids))
    )
    return (
        f'{_DEFINITIONS}<bpmn:process id="p" {process_attrs}>'
        '<bpmn:startEvent id="start" />'
        f"{''.join(elements)}"
        '<bpmn:endEvent id="end" />'
        f"{flows}</bpmn:process>{extra}</bpmn:definitions>"
    )


def _gateway(condition: str) -> str:
    """A process whose gateway has one flow with ``condition`` and a default flow."""
    return (
        f'{_DEFINITIONS}<bpmn:process id="p" isExecutable="true">'
        '<bpmn:startEvent id="start" />'
        '<bpmn:exclusiveGateway id="choose" default="otherwise" />'
        '<bpmn:endEvent id="yes_end" /><bpmn:endEvent id="no_end" />'
        '<bpmn:sequenceFlow id="in" sourceRef="start" targetRef="choose" />'
        '<bpmn:sequenceFlow id="when" sourceRef="choose" targetRef="yes_end">'
        f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="otherwise" sourceRef="choose" targetRef="no_end" />'
        "</bpmn:process></bpmn:definitions>"
    )


def _refusals(xml: str | bytes, **kwargs: Any) -> list[str]:
    with pytest.raises(ProcessInvalid) as raised:
        process_check(xml=xml, **kwargs)
    assert raised.value.errors
    return raised.value.errors


def _timer(definition: str) -> str:
    """A process whose user task has a boundary timer with ``definition`` inside it."""
    return _linear('<bpmn:userTask id="wait" name="Wait" />').replace(
        '<bpmn:endEvent id="end" />',
        '<bpmn:endEvent id="end" /><bpmn:boundaryEvent id="too_late" attachedToRef="wait">'
        f"<bpmn:timerEventDefinition>{definition}</bpmn:timerEventDefinition>"
        '</bpmn:boundaryEvent><bpmn:endEvent id="late_end" />'
        '<bpmn:sequenceFlow id="late" sourceRef="too_late" targetRef="late_end" />',
    )


def test_the_test_helpers_build_valid_processes() -> None:
    """The small processes the refusal tests start from are themselves accepted."""
    process_check(xml=_linear('<bpmn:userTask id="look" name="Look" />'))
    process_check(xml=_gateway("answers['x'] == 1"))
    info = process_check(xml=_timer("<bpmn:timeDuration>PT36H</bpmn:timeDuration>"))
    assert info.timers == {"too_late": "PT36H"}


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        pytest.param(
            _linear(
                '<bpmn:scriptTask id="run_it"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>'
            ),
            ["“run_it”", "Script task"],
            id="script-task",
        ),
        pytest.param(
            _linear(
                '<bpmn:userTask id="look" name="Look"><bpmn:extensionElements>'
                "<spiffworkflow:preScript>import os</spiffworkflow:preScript>"
                "</bpmn:extensionElements></bpmn:userTask>"
            ),
            ["“look”", "script"],
            id="spiff-pre-script",
        ),
        pytest.param(
            _linear(
                '<bpmn:serviceTask id="svc" implementation="civicstack:checks.ok">'
                '<bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="x" />'
                "</bpmn:extensionElements></bpmn:serviceTask>"
            ),
            ["“svc”", "extension"],
            id="other-extension",
        ),
        pytest.param(
            _gateway("__import__('os').system('x')"),
            ["“when”", "function calls"],
            id="condition-call",
        ),
        pytest.param(
            _gateway("answers.get == 1"),
            ["“when”", "attribute"],
            id="condition-attribute",
        ),
        pytest.param(
            _gateway("(lambda: True) == True"),
            ["“when”", "lambda"],
            id="condition-lambda",
        ),
        pytest.param(
            _gateway("[x for x in answers] == []"),
            ["“when”", "comprehension"],
            id="condition-comprehension",
        ),
        pytest.param(
            _gateway("__class__ == 1"),
            ["“when”", "_"],
            id="condition-dunder",
        ),
        pytest.param(
            _linear('<bpmn:serviceTask id="svc" implementation="civicstack:Run Anything!" />'),
            ["“svc”", "not an automation id"],
            id="automation-format",
        ),
        pytest.param(
            _linear('<bpmn:serviceTask id="svc" />'),
            ["“svc”", "implementation"],
            id="automation-missing",
        ),
        pytest.param(
            _timer("<bpmn:timeDate>2026-04-01T09:00:00Z</bpmn:timeDate>"),
            ["“too_late”", "duration"],
            id="timer-date",
        ),
        pytest.param(
            _timer("<bpmn:timeCycle>R3/PT1H</bpmn:timeCycle>"),
            ["“too_late”", "duration"],
            id="timer-cycle",
        ),
        pytest.param(
            _timer("<bpmn:timeDuration>10 days</bpmn:timeDuration>"),
            ["“too_late”", "ISO 8601"],
            id="timer-not-iso",
        ),
        pytest.param(
            _timer("<bpmn:timeDuration>P99999999M</bpmn:timeDuration>"),
            ["“too_late”", "10 years"],
            id="timer-too-long",
        ),
        pytest.param(
            _linear('<bpmn:callActivity id="call" calledElement="elsewhere" />'),
            ["“call”", "“elsewhere”"],
            id="call-unknown-process",
        ),
        pytest.param(
            _linear('<bpmn:manualTask id="by_hand" />'),
            ["“by_hand”", "manualTask"],
            id="unsupported-element",
        ),
        pytest.param(
            _linear(
                '<bpmn:userTask id="look" name="Look" />',
                extra='<bpmn:process id="q" isExecutable="true" />',
            ),
            ["more than one executable process"],
            id="two-executable-processes",
        ),
        pytest.param(
            _linear(
                '<bpmn:userTask id="look" name="Look" />', process_attrs='isExecutable="false"'
            ),
            ["no executable process"],
            id="no-executable-process",
        ),
        pytest.param(
            _linear('<bpmn:userTask id="look" name="Look" />').replace(
                '<bpmn:startEvent id="start" />',
                '<bpmn:laneSet id="lanes"><bpmn:lane id="lane" name="Managers">'
                "<bpmn:flowNodeRef>look</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"
                '<bpmn:startEvent id="start" />',
            ),
            ["“look”", "“Managers”"],
            id="unknown-lane",
        ),
        pytest.param(
            _gateway("True").replace(' default="otherwise"', ""),
            ["“otherwise”", "without a condition"],
            id="flow-without-condition",
        ),
        pytest.param(
            _linear('<bpmn:userTask id="look" name="Look" />').replace(
                'sourceRef="look" targetRef="end" />',
                'sourceRef="look" targetRef="end"><bpmn:conditionExpression>True'
                "</bpmn:conditionExpression></bpmn:sequenceFlow>",
            ),
            ["“flow_1”", "condition"],
            id="condition-on-task-flow",
        ),
        pytest.param(
            _linear('<bpmn:userTask id="look" />'),
            ["“look”", "no name"],
            id="user-task-without-name",
        ),
    ],
)
def test_process_check_refuses_with_a_message_naming_the_element(
    xml: str, expected: list[str]
) -> None:
    """Each unsafe or unsupported construct is refused, and the message names the element."""
    errors = _refusals(xml)
    assert any(all(part in error for part in expected) for error in errors), errors


def test_process_check_refuses_automations_that_do_not_exist() -> None:
    """Given the known automations, a service task naming another one is refused."""
    xml = _linear('<bpmn:serviceTask id="svc" implementation="civicstack:checks.nothing" />')
    assert process_check(xml=xml).service_tasks == {"svc": "checks.nothing"}
    errors = _refusals(xml, known_automations={"checks.documents_present"})
    assert any("“svc”" in error and "checks.nothing" in error for error in errors)


def test_process_check_lists_every_problem() -> None:
    """Several problems give several messages, not just the first."""
    xml = _linear(
        '<bpmn:scriptTask id="one"><bpmn:script>x</bpmn:script></bpmn:scriptTask>',
        '<bpmn:serviceTask id="two" />',
    )
    errors = _refusals(xml)
    assert any("“one”" in error for error in errors)
    assert any("“two”" in error for error in errors)


def test_process_check_refuses_files_over_the_size_cap() -> None:
    """A file over the cap is refused before it is parsed."""
    padding = "<!-- " + "x" * MAX_PROCESS_BYTES + " -->"
    xml = _linear('<bpmn:userTask id="look" name="Look" />') + padding
    (error,) = _refusals(xml)
    assert "larger than 1 MB" in error


_BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" name="&lol9;" />
</bpmn:definitions>"""

_XXE = """<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" name="&secret;" />
</bpmn:definitions>"""


def _utf16(xml: str) -> bytes:
    return xml.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16")


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        pytest.param(_BILLION_LAUGHS, "DOCTYPE", id="billion-laughs"),
        pytest.param(_XXE, "DOCTYPE", id="xxe"),
        # UTF-16 would hide the DOCTYPE from a text search, so only UTF-8 is read at all.
        pytest.param(_utf16(_BILLION_LAUGHS), "UTF-8", id="billion-laughs-utf16"),
        pytest.param(_utf16(_XXE), "UTF-8", id="xxe-utf16"),
    ],
)
def test_process_check_refuses_entities(xml: str | bytes, expected: str) -> None:
    """Entity bombs and external entities are refused before anything is expanded or read."""
    (error,) = _refusals(xml)
    assert expected in error
    assert "root:" not in error


def test_process_check_refuses_what_is_not_bpmn() -> None:
    """Text that is not XML, and XML that is not BPMN, get one clear message."""
    assert "not well-formed" in _refusals("this is not xml")[0]
    assert "not a BPMN 2.0 document" in _refusals("<html><body /></html>")[0]


# --- Sub-processes, calls and parallel work run too ------------------------------------------


def test_call_activities_parallel_work_and_intermediate_timers_run() -> None:
    """A call to a process in the same file, a parallel split and a wait all run end to end."""
    xml = (
        f"{_DEFINITIONS}"
        '<bpmn:process id="main" isExecutable="true">'
        '<bpmn:startEvent id="start" />'
        '<bpmn:parallelGateway id="split" /><bpmn:parallelGateway id="join" />'
        '<bpmn:callActivity id="call_review" calledElement="review" />'
        '<bpmn:subProcess id="embedded"><bpmn:startEvent id="sub_start" />'
        '<bpmn:intermediateCatchEvent id="cool_off"><bpmn:timerEventDefinition>'
        "<bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>"
        '</bpmn:intermediateCatchEvent><bpmn:endEvent id="sub_end" />'
        '<bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="cool_off" />'
        '<bpmn:sequenceFlow id="s2" sourceRef="cool_off" targetRef="sub_end" />'
        "</bpmn:subProcess>"
        '<bpmn:endEvent id="end" />'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />'
        '<bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="call_review" />'
        '<bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="embedded" />'
        '<bpmn:sequenceFlow id="f4" sourceRef="call_review" targetRef="join" />'
        '<bpmn:sequenceFlow id="f5" sourceRef="embedded" targetRef="join" />'
        '<bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end" />'
        "</bpmn:process>"
        '<bpmn:process id="review" isExecutable="true">'
        '<bpmn:startEvent id="review_start" /><bpmn:userTask id="second_look" name="Second look" />'
        '<bpmn:endEvent id="review_end" />'
        '<bpmn:sequenceFlow id="r1" sourceRef="review_start" targetRef="second_look" />'
        '<bpmn:sequenceFlow id="r2" sourceRef="second_look" targetRef="review_end" />'
        "</bpmn:process></bpmn:definitions>"
    )
    info = process_check(xml=xml)
    assert info.process_id == "main"
    assert info.timers == {"cool_off": "P1D"}
    automations = Automations()
    instance = ProcessInstance.start(xml=xml, data={"n": 1})
    instance.advance(automations=automations, now=T0)
    assert _ready(instance) == [("second_look", "caseworker")]
    assert instance.next_timer_at() == T0 + timedelta(days=1)

    restored = ProcessInstance.load(xml=xml, state=instance.dump())
    _do(restored, "second_look", {"looked": True}, automations, at=T0)
    assert not restored.is_completed
    records = restored.advance(automations=automations, now=T0 + timedelta(days=1))
    assert "cool_off" in [r.element_id for r in records]
    assert restored.is_completed


# --- The script engine never runs code -------------------------------------------------------


class _Task:
    """Just enough of a SpiffWorkflow task for the engine's evaluate and execute."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data


def test_the_script_engine_refuses_to_run_code(tmp_path: Path) -> None:
    """execute always refuses; evaluate accepts only the safe language, and nothing runs."""
    marker = tmp_path / "ran"
    engine = CaseScriptEngine()
    task = _Task({"auto_approved": True})

    with pytest.raises(ExpressionError):
        engine.execute(task, f"open({str(marker)!r}, 'w').write('x')")
    with pytest.raises(ExpressionError):
        engine.evaluate(task, f"__import__('os').system('touch {marker}')")
    with pytest.raises(ExpressionError):
        engine.environment.execute(f"open({str(marker)!r}, 'w')", {}, {})
    with pytest.raises(ExpressionError):
        engine.call_service(task, operation_name="x")
    assert engine.evaluate(task, "auto_approved == True") is True
    with pytest.raises(ExpressionError):
        engine.evaluate(task, "'yes'")  # a condition must be true or false
    assert not marker.exists()


def test_crafted_xml_that_skips_the_check_still_runs_no_code(tmp_path: Path) -> None:
    """Parsed without process_check, a script task and a code condition fail with our engine."""
    marker = tmp_path / "ran"
    script = f"open({str(marker)!r}, 'w').write('x')"
    crafted = (
        f'{_DEFINITIONS}<bpmn:process id="p" isExecutable="true">'
        '<bpmn:startEvent id="start" />'
        f'<bpmn:scriptTask id="run_it"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>'
        '<bpmn:endEvent id="end" />'
        '<bpmn:sequenceFlow id="a" sourceRef="start" targetRef="run_it" />'
        '<bpmn:sequenceFlow id="b" sourceRef="run_it" targetRef="end" />'
        "</bpmn:process></bpmn:definitions>"
    )
    condition = _gateway(f"__import__('os').system('touch {marker}') == 0")
    for xml in (crafted, condition):
        parser = BpmnParser()
        parser.add_bpmn_str(xml.encode())
        workflow = BpmnWorkflow(parser.get_spec("p"), script_engine=CaseScriptEngine())
        with pytest.raises(Exception) as raised:
            workflow.do_engine_steps()
        assert isinstance(raised.value, ExpressionError) or isinstance(
            raised.value.__cause__ or raised.value.__context__, ExpressionError
        ), raised.value
    assert not marker.exists()


# --- The safe expression language ------------------------------------------------------------

_DATA: dict[str, Any] = {
    "auto_approved": True,
    "documents_count": 2,
    "service": "parking-permit",
    "answers": {"reason": "moving", "vehicles": ["car"], "count": 1, "nothing": None},
    "flag": 1,
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("auto_approved == True", True),
        ("auto_approved", True),
        ("flag == True", False),  # JSON true is not 1
        ("documents_count >= 2 and service == 'parking-permit'", True),
        ("not auto_approved or documents_count < 1", False),
        ("answers['reason'] in ['moving', 'new']", True),
        ("answers['reason'] not in ('moving',)", False),
        ("'car' in answers['vehicles']", True),
        ("answers['vehicles'][0] == 'car'", True),
        ("answers['nothing'] == None", True),
        ("-1 < answers['count'] <= 1", True),
        ("'park' in service", True),
        ("'reason' in answers", True),
    ],
)
def test_safe_expressions_evaluate(expression: str, expected: bool) -> None:
    """The allowed language works as a caseworker would expect."""
    assert expression_evaluate(expression=expression, data=_DATA) is expected


@pytest.mark.parametrize(
    "expression",
    [
        "missing == 1",  # an unknown name is an error, not false
        "answers['missing'] == 1",
        "service < 3",  # text and numbers cannot be ordered
        "documents_count and True",  # and/or/not need booleans
        "1 in documents_count",
        "True < 2",
        "",
        "x = 1",
        "answers[1:2] == []",
        "documents_count + 1 == 3",
        "import os",
    ],
)
def test_unsafe_or_meaningless_expressions_raise_expression_error(expression: str) -> None:
    """Anything outside the language, or meaningless on the data, raises ExpressionError."""
    with pytest.raises(ExpressionError):
        expression_evaluate(expression=expression, data=_DATA)


_TOKENS = st.sampled_from(
    [
        "auto_approved", "answers", "service", "documents_count", "flag", "missing", "__class__",
        "[", "]", "(", ")", ",", ".", ":", "'reason'", "'x'", "0", "1", "-", "+", "*", "**",
        "==", "!=", "<", ">=", " in ", " not in ", " and ", " or ", "not ", " is ", "True",
        "None", "lambda", "for", "if", "else", "__import__", "'\\x00'", "1e999", "{", "}",
    ]
)  # fmt: skip


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_TOKENS, max_size=25).map("".join)))
def test_the_evaluator_raises_nothing_but_its_own_error(expression: str) -> None:
    """Whatever the text, evaluation returns a value or raises ExpressionError."""
    with contextlib.suppress(ExpressionError):
        expression_evaluate(expression=expression, data=_DATA)


def test_timer_reads_its_duration_from_case_data():
    """A timer naming a data item waits for the duration the case set, or refuses junk."""
    automations = Automations()
    instance = _started("information-loop", automations)
    _do(
        instance,
        "assess",
        {"action": "request_information", "information_period": "P3D", "reminder_period": "P1D"},
        automations,
    )
    assert instance.next_timer_at() == T0 + timedelta(days=1)
    other = _started("information-loop", automations)
    task = next(t for t in other.ready_user_tasks() if t.element_id == "assess")
    other.complete(
        task_id=task.task_id,
        data={"action": "request_information", "information_period": "__import__"},
    )
    with pytest.raises(Exception, match="duration"):
        other.advance(automations=automations, now=T0)


def _chain(count: int) -> str:
    """A file whose main process calls a chain of ``count`` processes, one after another."""
    processes = []
    for number in range(count):
        following = (
            f'<bpmn:callActivity id="call_{number}" calledElement="p{number + 1}">'
            f"<bpmn:incoming>a{number}</bpmn:incoming><bpmn:outgoing>b{number}</bpmn:outgoing>"
            "</bpmn:callActivity>"
            if number + 1 < count
            else f'<bpmn:userTask id="assess_{number}" name="Assess">'
            f"<bpmn:incoming>a{number}</bpmn:incoming><bpmn:outgoing>b{number}</bpmn:outgoing>"
            "</bpmn:userTask>"
        )
        target = f"call_{number}" if number + 1 < count else f"assess_{number}"
        processes.append(
            f'<bpmn:process id="p{number}" isExecutable="{"true" if number == 0 else "false"}">'
            f'<bpmn:startEvent id="s{number}"><bpmn:outgoing>a{number}</bpmn:outgoing>'
            "</bpmn:startEvent>"
            f"{following}"
            f'<bpmn:endEvent id="e{number}"><bpmn:incoming>b{number}</bpmn:incoming>'
            "</bpmn:endEvent>"
            f'<bpmn:sequenceFlow id="a{number}" sourceRef="s{number}" targetRef="{target}"/>'
            f'<bpmn:sequenceFlow id="b{number}" sourceRef="{target}" targetRef="e{number}"/>'
            "</bpmn:process>"
        )
    return (
        f'<bpmn:definitions xmlns:bpmn="{BPMN}" id="d" targetNamespace="https://x.example">'
        + "".join(processes)
        + "</bpmn:definitions>"
    )


def test_long_call_chains_are_checked_quickly_or_refused_clearly():
    """Deep or wide call graphs never crash the check or take exponential time."""
    import time

    started = time.monotonic()
    for count in (40, 1500):
        try:
            process_check(xml=_chain(count))
        except ProcessInvalid as error:
            assert error.errors
    assert time.monotonic() - started < 30


LOOP = f"""<bpmn:definitions xmlns:bpmn="{BPMN}" id="d" targetNamespace="https://x.example">
<bpmn:process id="loop" isExecutable="true">
  <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
  <bpmn:parallelGateway id="fork"><bpmn:incoming>f0</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming>
    <bpmn:outgoing>f1</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:parallelGateway>
  <bpmn:exclusiveGateway id="again" default="f3"><bpmn:incoming>f1</bpmn:incoming>
    <bpmn:outgoing>f3</bpmn:outgoing></bpmn:exclusiveGateway>
  <bpmn:userTask id="assess" name="Assess"><bpmn:incoming>f4</bpmn:incoming>
    <bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
  <bpmn:endEvent id="end"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
  <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork"/>
  <bpmn:sequenceFlow id="f1" sourceRef="fork" targetRef="again"/>
  <bpmn:sequenceFlow id="f3" sourceRef="again" targetRef="fork"/>
  <bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="assess"/>
  <bpmn:sequenceFlow id="f5" sourceRef="assess" targetRef="end"/>
</bpmn:process></bpmn:definitions>"""


def test_a_process_that_loops_without_waiting_is_stopped():
    """A loop with no user task or timer in it stops with an error instead of spinning."""
    try:
        process_check(xml=LOOP)
    except ProcessInvalid:
        return  # refused at upload: also fine
    instance = ProcessInstance.start(xml=LOOP, data={})
    with pytest.raises(ProcessStepFailed):
        instance.advance(automations=Automations(), now=T0)
