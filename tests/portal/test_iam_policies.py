"""Least privilege: every AWS operation the portal's code can call is allowed by the IAM policy
of the role that makes the call (docs/iam/), and the policies grant no wildcard actions.

How the operations are found (static, so a call on a rarely taken path counts too):

- clients: ``aws.client("<service>")`` (and ``<session>.client("<service>")`` inside the
  gateway); a name assigned such a client anywhere in a module stands for that service in
  the whole module (``sc = aws.client("servicecatalog")`` then ``_read_product(sc, ...)``);
- operations: a method called on such a client or on ``aws.client(...)`` directly, and
  ``get_paginator("<operation>")``; plus the compliance module's dispatcher form
  ``call("<service>", "<operation>", ...)``. A client used in any other dynamic way
  (``getattr(aws.client(service), name)``) must be one of the known dispatchers below, so a
  new one cannot hide calls from this test.

Which role makes a call: the web role for everything reachable from the web side (views, API,
admin, health, forms, middleware, authentication, template tags) without going through a
Celery task; the worker role for everything else (tasks, and management commands, which are
run in the worker's container). Reachability follows references between functions by name,
which over-approximates: a web module that merely mentions a function counts as calling it.

boto3 method → IAM action: ``<signing name>:<OperationName>`` from botocore's service model,
with the exceptions in ``ACTION_EXCEPTIONS`` (also in docs/iam/README.md).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel

ROOT = Path(__file__).resolve().parents[2]
IAM = ROOT / "docs" / "iam"
APPS = ("portal", "workspaces", "governance", "costs")

# IAM prefixes that differ from botocore's signing name.
IAM_PREFIX = {"tagging": "tag"}
# Operations whose IAM action is not <prefix>:<OperationName>. None: needs no permission on the
# portal's roles (GetCallerIdentity needs none at all; AssumeRole is allowed by the *base*
# identity's policy and the target role's trust policy, docs/iam/README.md).
ACTION_EXCEPTIONS: dict[tuple[str, str], str | None] = {
    ("sts", "GetCallerIdentity"): None,
    ("sts", "AssumeRole"): None,
    **{
        ("budgets", op): "budgets:ModifyBudget"
        for op in (
            "CreateBudget",
            "UpdateBudget",
            "DeleteBudget",
            "CreateNotification",
            "UpdateNotification",
            "DeleteNotification",
            "CreateSubscriber",
            "UpdateSubscriber",
            "DeleteSubscriber",
        )
    },
    **{
        ("budgets", op): "budgets:ViewBudget"
        for op in (
            "DescribeBudget",
            "DescribeBudgets",
            "DescribeNotificationsForBudget",
            "DescribeSubscribersForNotification",
            "DescribeBudgetPerformanceHistory",
        )
    },
}
# IAM actions that are permissions only, with no API operation of the same name.
PERMISSION_ONLY_ACTIONS = {"iam:PassRole", "budgets:ViewBudget", "budgets:ModifyBudget"}
# Functions that call a client method chosen at run time, and the call form that feeds them.
KNOWN_DISPATCHERS = {("governance.compliance", "_Calls.__call__")}
# Modules whose code runs in the web process (for a request).
WEB_MODULE = re.compile(
    r"(^|\.)(views|\w+_views|admin|forms|health|middleware|authentication|context_processors"
    r"|oidc|urls|\w+_urls|metrics|observability)$|\.api\.|\.templatetags\."
)
# A web role's actions read, except these (a URL signed for the notebook's owner).
WEB_WRITE_EXCEPTIONS = {"sagemaker:CreatePresignedNotebookInstanceUrl"}
READ_VERBS = ("Describe", "List", "Get", "Search", "View")
# Operations the portal is known to call: the scan must find at least these.
KNOWN_OPERATIONS = {
    ("servicecatalog", "SearchProductsAsAdmin"),
    ("servicecatalog", "ListLaunchPaths"),
    ("servicecatalog", "ProvisionProduct"),
    ("servicecatalog", "DescribeRecord"),
    ("servicecatalog", "TerminateProvisionedProduct"),
    ("sagemaker", "DescribeNotebookInstance"),
    ("sagemaker", "StopNotebookInstance"),
    ("sagemaker", "StartNotebookInstance"),
    ("sagemaker", "CreatePresignedNotebookInstanceUrl"),
    ("sagemaker", "ListNotebookInstances"),
    ("config", "GetComplianceDetailsByConfigRule"),
    ("resourcegroupstaggingapi", "GetResources"),
    ("sts", "GetCallerIdentity"),
}


@cache
def service_model(name: str) -> ServiceModel | None:
    session = botocore.session.get_session()
    if name not in session.get_available_services():
        return None
    return session.get_service_model(name)


@cache
def operations(service: str) -> dict[str, str]:
    """boto3 method name → API operation name."""
    model = service_model(service)
    assert model is not None, service
    return {botocore.xform_name(op): op for op in model.operation_names}


def iam_action(service: str, operation: str) -> str | None:
    if (service, operation) in ACTION_EXCEPTIONS:
        return ACTION_EXCEPTIONS[(service, operation)]
    model = service_model(service)
    assert model is not None
    return f"{IAM_PREFIX.get(model.signing_name, model.signing_name)}:{operation}"


# --- the scan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    where: str  # module:function:line


@dataclass
class Unit:
    """A function, method, class body or module body: what it calls in AWS and refers to."""

    module: str
    name: str
    is_task: bool = False
    calls: list[Call] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)  # dotted names as written
    dynamic: list[str] = field(default_factory=list)


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield module.removesuffix(".__init__"), ast.parse(path.read_text(), str(path))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _client_service(node: ast.AST) -> str | None:
    """'sagemaker' for ``aws.client("sagemaker")`` or ``session.client("sagemaker", ...)``."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    named_client = (isinstance(func, ast.Attribute) and func.attr == "client") or (
        isinstance(func, ast.Name) and func.id == "client"
    )
    service = _literal(node.args[0])
    if named_client and service and service_model(service) is not None:
        return service
    return None


def _is_task(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _dotted(target) in {"shared_task", "app.task", "celery_app.task"}:
            return True
    return False


def _client_names(tree: ast.Module) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            value = node.value
            service = _client_service(value) if value is not None else None
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if service and isinstance(target, ast.Name):
                    names.setdefault(target.id, set()).add(service)
    return names


def _operation(services: set[str], method: str) -> tuple[str, str] | None:
    for service in sorted(services):
        if method in operations(service):
            return service, operations(service)[method]
    return None


def _scan_unit(unit: Unit, nodes: list[ast.AST], clients: dict[str, set[str]]) -> None:
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                dotted = _dotted(node)
                if dotted:
                    unit.refs.add(dotted)
            if not isinstance(node, ast.Call):
                continue
            where = f"{unit.module}:{unit.name}:{node.lineno}"
            func = node.func
            if isinstance(func, ast.Attribute):
                receiver = func.value
                services = (
                    {s}
                    if (s := _client_service(receiver))
                    else clients.get(_dotted(receiver), set())
                )
                method = func.attr
                if services and method == "get_paginator":
                    method = (_literal(node.args[0]) if node.args else None) or ""
                if services and method:
                    found = _operation(services, method)
                    if found:
                        unit.calls.append(Call(*found, where))
            # The dispatcher form: call("<service>", "<operation>", **params).
            service, name = (
                (_literal(node.args[0]), _literal(node.args[1]))
                if len(node.args) >= 2
                else (None, None)
            )
            if service and name and service_model(service) is not None:
                found = _operation({service}, name)
                if found:
                    unit.calls.append(Call(*found, where))
            # A client whose method is chosen at run time.
            if (
                _dotted(func) == "getattr"
                and node.args
                and (
                    _client_service(node.args[0])
                    or _dotted(node.args[0]) in clients
                    or (
                        isinstance(node.args[0], ast.Call)
                        and _dotted(node.args[0].func).endswith("client")
                    )
                )
            ):
                unit.dynamic.append(where)


def scan() -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for module, tree in _modules():
        clients = _client_names(tree)
        body = Unit(module, "<module>")
        top: list[ast.AST] = []
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                unit = Unit(module, stmt.name, is_task=_is_task(stmt))
                _scan_unit(unit, [stmt], clients)
                units[f"{module}:{stmt.name}"] = unit
            elif isinstance(stmt, ast.ClassDef):
                cls = Unit(module, stmt.name)
                class_body: list[ast.AST] = []
                for item in stmt.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        method = Unit(module, f"{stmt.name}.{item.name}", is_task=_is_task(item))
                        _scan_unit(method, [item], clients)
                        units[f"{module}:{stmt.name}.{item.name}"] = method
                        cls.refs.add(f"{stmt.name}.{item.name}")
                    else:
                        class_body.append(item)
                _scan_unit(cls, class_body + list(stmt.decorator_list), clients)
                units[f"{module}:{stmt.name}"] = cls
            else:
                top.append(stmt)
        _scan_unit(body, top, clients)
        units[f"{module}:<module>"] = body
    return units


def _imports(module: str, tree: ast.Module, modules: set[str]) -> dict[str, str]:
    """Local name → a module (``lifecycle``) or a module's attribute (``module:name``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join([*module.split(".")[: -node.level], node.module])
            for alias in node.names:
                target = f"{base}.{alias.name}"
                names[alias.asname or alias.name] = (
                    target if target in modules else f"{base}:{alias.name}"
                )
    return names


def edges(units: dict[str, Unit]) -> dict[str, set[str]]:
    trees = dict(_modules())
    modules = set(trees)
    by_module_name: dict[tuple[str, str], list[str]] = {}
    for key, unit in units.items():
        short = unit.name.rsplit(".", 1)[-1]
        by_module_name.setdefault((unit.module, short), []).append(key)
        by_module_name.setdefault((unit.module, unit.name), []).append(key)
    graph: dict[str, set[str]] = {}
    for key, unit in units.items():
        imported = _imports(unit.module, trees[unit.module], modules)
        targets: set[str] = set()
        for ref in unit.refs:
            head, _, rest = ref.partition(".")
            if head in imported:
                target = imported[head]
                if target in modules:  # lifecycle.workspace_open
                    attr = rest.split(".")[0]
                    targets.update(by_module_name.get((target, attr), []))
                else:  # from workspaces.tasks import provision_workspace
                    mod, _, name = target.partition(":")
                    targets.update(by_module_name.get((mod, name), []))
            else:  # a name of this module, or self.method / obj.method of its classes
                targets.update(by_module_name.get((unit.module, head), []))
                if rest:
                    targets.update(by_module_name.get((unit.module, rest.split(".")[-1]), []))
        graph[key] = targets - {key}
    return graph


def reachable(graph: dict[str, set[str]], units: dict[str, Unit], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        # A task runs in the worker: the web side only enqueues it.
        stack.extend(t for t in graph.get(key, ()) if not units[t].is_task)
    return seen


@dataclass
class Scan:
    units: dict[str, Unit]
    web: list[Call]
    worker: list[Call]

    @property
    def all_calls(self) -> list[Call]:
        return [c for u in self.units.values() for c in u.calls]


@cache
def gateway_scan() -> Scan:
    units = scan()
    graph = edges(units)
    web_roots = {k for k, u in units.items() if WEB_MODULE.search(u.module)}
    web_units = reachable(graph, units, {k for k in web_roots if not units[k].is_task})
    web = [c for k in web_units for c in units[k].calls]
    worker = [c for k, u in units.items() if k not in web_units for c in u.calls]
    # Shared helpers reachable from both sides are also the worker's when a task reaches them.
    task_units = reachable(graph, units, {k for k, u in units.items() if u.is_task})
    worker += [c for k in task_units & web_units for c in units[k].calls]
    return Scan(units, web, worker)


# --- the policies ---------------------------------------------------------------------------

POLICY_FILES = ["web-role.json", "worker-role.json", "launch-constraint-role.json"]
TRUST_FILES = ["web-role-trust.json", "worker-role-trust.json", "launch-constraint-role-trust.json"]
ACTION_FORMAT = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((IAM / name).read_text())
    return document


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    value = document["Statement"]
    return value if isinstance(value, list) else [value]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allowed_actions(name: str) -> set[str]:
    return {
        action
        for statement in statements(load(name))
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


def _problems(document: Any, *, trust: bool) -> list[str]:
    problems: list[str] = []
    if not isinstance(document, dict):
        return ["not a JSON object"]
    if document.get("Version") != "2012-10-17":
        problems.append('Version must be "2012-10-17"')
    extra = set(document) - {"Version", "Statement", "Id"}
    if extra:
        problems.append(f"unknown top-level keys {sorted(extra)}")
    listed = document.get("Statement")
    if not listed:
        return [*problems, "no Statement"]
    sids = [s.get("Sid") for s in as_list(listed) if isinstance(s, dict)]
    if len([s for s in sids if s]) != len({s for s in sids if s}):
        problems.append("duplicate Sid")
    for index, statement in enumerate(as_list(listed)):
        label = statement.get("Sid", f"#{index}") if isinstance(statement, dict) else f"#{index}"
        if not isinstance(statement, dict):
            problems.append(f"{label}: not an object")
            continue
        allowed_keys = {"Sid", "Effect", "Action", "Resource", "Condition", "Principal"}
        if set(statement) - allowed_keys:
            problems.append(f"{label}: unknown keys {sorted(set(statement) - allowed_keys)}")
        if statement.get("Effect") not in {"Allow", "Deny"}:
            problems.append(f"{label}: Effect must be Allow or Deny")
        if "Sid" in statement and not re.fullmatch(r"[A-Za-z0-9]+", str(statement["Sid"])):
            problems.append(f"{label}: Sid must be alphanumeric")
        actions = statement.get("Action")
        if not actions or not all(isinstance(a, str) for a in as_list(actions)):
            problems.append(f"{label}: Action must be a string or a list of strings")
            continue
        for action in as_list(actions):
            if "*" in action or "?" in action:
                problems.append(f"{label}: wildcard action {action}")
            elif not ACTION_FORMAT.match(action):
                problems.append(f"{label}: malformed action {action}")
        if "Condition" in statement and not isinstance(statement["Condition"], dict):
            problems.append(f"{label}: Condition must be an object")
        if trust:
            if "Principal" not in statement:
                problems.append(f"{label}: a trust policy statement needs a Principal")
            if "Resource" in statement:
                problems.append(f"{label}: a trust policy has no Resource")
        else:
            if "Principal" in statement:
                problems.append(f"{label}: an identity policy has no Principal")
            resources = statement.get("Resource")
            if not resources or not all(isinstance(r, str) for r in as_list(resources)):
                problems.append(f"{label}: Resource must be a string or a list of strings")
                continue
            for resource in as_list(resources):
                if resource != "*" and not resource.startswith("arn:aws:"):
                    problems.append(f"{label}: resource {resource} is neither * nor an ARN")
    return problems


@cache
def _api_actions() -> frozenset[str]:
    """Every <prefix>:<Operation> botocore knows, under each service's IAM prefix."""
    session = botocore.session.get_session()
    found: set[str] = set()
    for name in session.get_available_services():
        model = session.get_service_model(name)
        prefix = IAM_PREFIX.get(model.signing_name, model.signing_name)
        found.update(f"{prefix}:{op}" for op in model.operation_names)
        found.update(f"{model.endpoint_prefix}:{op}" for op in model.operation_names)
    return frozenset(found)


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", POLICY_FILES + TRUST_FILES)
def test_each_policy_is_a_valid_policy_document_without_wildcard_actions(name: str) -> None:
    try:
        document = load(name)
    except json.JSONDecodeError as error:
        pytest.fail(f"{name} is not valid JSON: {error}")
    assert _problems(document, trust=name.endswith("-trust.json")) == []


@pytest.mark.parametrize("name", POLICY_FILES)
def test_every_action_in_a_policy_exists_in_aws(name: str) -> None:
    unknown = sorted(
        action
        for action in allowed_actions(name)
        if action not in _api_actions() and action not in PERMISSION_ONLY_ACTIONS
    )
    assert unknown == []


@pytest.mark.parametrize("name", POLICY_FILES)
def test_every_statement_on_all_resources_is_explained_in_the_readme(name: str) -> None:
    readme = (IAM / "README.md").read_text()
    for statement in statements(load(name)):
        if "*" in as_list(statement["Resource"]):
            assert statement.get("Sid"), f"{name}: a statement on * needs a Sid"
            assert f"`{statement['Sid']}`" in readme, (
                f"docs/iam/README.md must say why {name}'s {statement['Sid']} cannot be scoped"
            )


def test_the_policy_checker_catches_what_it_should() -> None:
    good: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    assert _problems(good, trust=False) == []
    for action in ("*", "s3:*", "sagemaker:Describe*", "ec2:Describe?pc", "GetObject"):
        bad = {**good, "Statement": [{**good["Statement"][0], "Action": [action]}]}
        assert _problems(bad, trust=False), action
    assert _problems({**good, "Version": "2008-10-17"}, trust=False)
    assert _problems({"Version": "2012-10-17", "Statement": []}, trust=False)
    assert _problems([good], trust=False)
    no_resource = {**good, "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}
    assert _problems(no_resource, trust=False)
    assert _problems(good, trust=True)  # no Principal, has a Resource


def test_the_scan_finds_the_operations_the_portal_is_known_to_call() -> None:
    found = {(c.service, c.operation) for c in gateway_scan().all_calls}
    assert found >= KNOWN_OPERATIONS, sorted(KNOWN_OPERATIONS - found)
    # Paginators count as their operation.
    assert ("sagemaker", "ListNotebookInstances") in found
    # The costs backend, when it is there, is scanned like the rest.
    if (ROOT / "costs" / "sync.py").exists():
        assert ("ce", "GetCostAndUsage") in found


def test_the_scan_tells_web_from_worker() -> None:
    result = gateway_scan()
    web = {(c.service, c.operation) for c in result.web}
    worker = {(c.service, c.operation) for c in result.worker}
    # Opening a notebook signs a URL during the request; launching happens in a task.
    assert ("sagemaker", "CreatePresignedNotebookInstanceUrl") in web
    assert ("sts", "GetCallerIdentity") in web  # /readyz
    assert ("servicecatalog", "ProvisionProduct") in worker
    assert ("servicecatalog", "ProvisionProduct") not in web


def test_no_client_is_used_dynamically_outside_the_known_dispatchers() -> None:
    dynamic = {(u.module, u.name) for u in gateway_scan().units.values() if u.dynamic}
    assert dynamic <= KNOWN_DISPATCHERS, sorted(dynamic - KNOWN_DISPATCHERS)


def _uncovered(calls: list[Call], policy: str) -> list[str]:
    allowed = allowed_actions(policy)
    missing = []
    for call in calls:
        action = iam_action(call.service, call.operation)
        if action is not None and action not in allowed:
            missing.append(f"{action} ({call.where})")
    return sorted(set(missing))


def test_every_call_on_the_web_side_is_allowed_by_the_web_role() -> None:
    assert _uncovered(gateway_scan().web, "web-role.json") == []


def test_every_other_call_is_allowed_by_the_worker_role() -> None:
    assert _uncovered(gateway_scan().worker, "worker-role.json") == []


def test_the_web_role_only_reads() -> None:
    writes = sorted(
        action
        for action in allowed_actions("web-role.json")
        if not action.split(":")[1].startswith(READ_VERBS) and action not in WEB_WRITE_EXCEPTIONS
    )
    assert writes == []


def test_the_roles_grant_nothing_the_code_does_not_call() -> None:
    result = gateway_scan()
    for policy, calls in (("web-role.json", result.web), ("worker-role.json", result.worker)):
        used = {iam_action(c.service, c.operation) for c in calls}
        assert allowed_actions(policy) - used == set(), policy


def test_the_action_exceptions_are_documented() -> None:
    readme = (IAM / "README.md").read_text()
    for (service, operation), action in ACTION_EXCEPTIONS.items():
        if service == "budgets":
            assert operation in readme, operation
            assert str(action) in readme
        else:
            assert f"{service}:{operation}" in readme
