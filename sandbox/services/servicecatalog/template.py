"""The part of CloudFormation a Service Catalog product's template needs in the sandbox.

Parameters with their constraints, template-constraint rules, and the intrinsic functions a
notebook template uses. Anything else is refused with CloudFormation's kind of message, so a
product that would not launch on AWS does not launch here either.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.protocol import AwsError

NO_VALUE = object()


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParametersException", message)


def parameters(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template.get("Parameters") or {})


def check_template(template: Any) -> None:
    """Refuse templates the sandbox could not launch, when the artifact is created."""
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise invalid("Template format error: At least one Resources member must be defined.")
    kinds = {r.get("Type") for r in template["Resources"].values() if isinstance(r, dict)}
    if "AWS::SageMaker::NotebookInstance" not in kinds:
        raise invalid(
            "The sandbox launches only templates with an AWS::SageMaker::NotebookInstance resource"
        )


def resolve_parameters(
    template: dict[str, Any], given: dict[str, str]
) -> dict[str, str | list[str]]:
    """CloudFormation's parameter checks in its order: unknown keys, missing values, constraints."""
    declared = parameters(template)
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise invalid(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
    values: dict[str, str | list[str]] = {}
    missing = []
    for key, spec in declared.items():
        if key in given:
            raw = given[key]
        elif "Default" in spec:
            raw = str(spec["Default"])
        else:
            missing.append(key)
            continue
        values[key] = _check_value(key, spec, raw)
    if missing:
        raise invalid(f"Parameters: [{', '.join(missing)}] must have values")
    return values


def _check_value(key: str, spec: dict[str, Any], raw: str) -> str | list[str]:
    described = spec.get("ConstraintDescription")
    kind = spec.get("Type", "String")
    items = [v.strip() for v in raw.split(",")] if kind == "CommaDelimitedList" and raw else None
    for value in items if items is not None else [raw]:
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            raise invalid(described or f"Parameter '{key}' must be one of AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise invalid(described or f"Parameter '{key}' must match pattern {pattern}")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise invalid(
                described
                or f"Parameter '{key}' must contain at most {spec['MaxLength']} characters"
            )
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            raise invalid(
                described
                or f"Parameter '{key}' must contain at least {spec['MinLength']} characters"
            )
        if kind == "Number":
            try:
                number = float(value)
            except ValueError:
                raise invalid(f"Parameter '{key}' must be a number") from None
            if "MinValue" in spec and number < float(spec["MinValue"]):
                raise invalid(
                    described
                    or f"Parameter '{key}' must be a number not less than {spec['MinValue']}"
                )
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                raise invalid(
                    described
                    or f"Parameter '{key}' must be a number not greater than {spec['MaxValue']}"
                )
    return items if items is not None else raw


class Context:
    """What intrinsic functions can see while one template is being launched."""

    def __init__(
        self,
        template: dict[str, Any],
        values: dict[str, str | list[str]],
        account: str,
        region: str,
        physical: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.template = template
        self.values = values
        self.account = account
        self.region = region
        # logical id -> {"Ref": ..., attribute: ...} once the resource exists
        self.physical = physical or {}

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise invalid(f"Template error: unresolved condition dependency {name}")
        return bool(self.evaluate(conditions[name]))

    def evaluate(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.evaluate(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not next(iter(node)).startswith(("Fn::", "Ref", "Condition")):
            out = {k: self.evaluate(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v is not NO_VALUE}
        ((fn, arg),) = node.items()
        return self._function(fn, arg)

    def _function(self, fn: str, arg: Any) -> Any:
        if fn == "Ref":
            if arg in self.values:
                return self.values[arg]
            if str(arg).startswith("AWS::"):
                return self.pseudo(arg)
            if arg in self.physical:
                return self.physical[arg]["Ref"]
            raise invalid(f"Template format error: Unresolved resource dependencies [{arg}]")
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            try:
                return self.physical[logical][attribute]
            except KeyError:
                raise invalid(
                    f"Template error: unable to get attribute {attribute} of {logical}"
                ) from None
        if fn == "Fn::If":
            name, yes, no = arg
            return self.evaluate(yes if self.condition(name) else no)
        if fn == "Fn::Equals":
            left, right = (self.evaluate(a) for a in arg)
            return left == right
        if fn == "Fn::Not":
            return not self.evaluate(arg[0])
        if fn == "Fn::And":
            return all(self.evaluate(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.evaluate(a) for a in arg)
        if fn == "Fn::Contains":
            haystack, needle = (self.evaluate(a) for a in arg)
            return needle in haystack
        if fn == "Fn::Split":
            separator, text = arg
            text = self.evaluate(text)
            return list(text) if isinstance(text, list) else str(text).split(separator)
        if fn == "Fn::Join":
            separator, items = arg
            return separator.join(str(i) for i in self.evaluate(items))
        if fn == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: str(self._function("Ref", m.group(1))), arg)
        raise invalid(f"Template format error: Unsupported function {fn} in the sandbox")


def check_rules(rules: dict[str, Any], ctx: Context) -> None:
    """Template-constraint rules (the Rules of a TEMPLATE constraint), as CloudFormation does."""
    for rule in rules.values():
        if "RuleCondition" in rule and not ctx.evaluate(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions", []):
            if not ctx.evaluate(assertion["Assert"]):
                raise invalid(assertion.get("AssertDescription") or "Template constraint violated")


def rule_allowed_values(rules: dict[str, Any]) -> dict[str, list[str]]:
    """Allowed values a rule imposes as `Fn::Contains [[...], {"Ref": P}]`, per parameter."""
    found: dict[str, list[str]] = {}
    for rule in rules.values():
        if "RuleCondition" in rule:
            continue
        for assertion in rule.get("Assertions", []):
            expr = assertion.get("Assert", {})
            args = expr.get("Fn::Contains") if isinstance(expr, dict) else None
            if (
                isinstance(args, list)
                and len(args) == 2
                and isinstance(args[0], list)
                and isinstance(args[1], dict)
                and "Ref" in args[1]
            ):
                found[args[1]["Ref"]] = [str(v) for v in args[0]]
    return found
