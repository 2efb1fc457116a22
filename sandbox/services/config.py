"""AWS Config's managed SageMaker rules, evaluated from each notebook's real attributes.

Evaluation is change-triggered in effect: results are computed from the notebook as it is when
asked, and stamped with the time of its last change, as Config re-evaluates on a configuration
change. Rules and their results are per account and region.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.protocol import AwsError, AwsRequest
from sandbox.registry import operation
from sandbox.runtime import runtime
from sandbox.services.sagemaker import Notebook, region_notebooks
from sandbox.state import RegionState, new_id, state

RESOURCE_TYPE = "AWS::SageMaker::NotebookInstance"


def _no_internet(nb: Notebook, params: dict[str, str]) -> tuple[str, str | None]:
    if nb.moto.direct_internet_access == "Disabled":
        return "COMPLIANT", None
    return "NON_COMPLIANT", "Direct internet access is enabled for the notebook instance."


def _kms(nb: Notebook, params: dict[str, str]) -> tuple[str, str | None]:
    if not nb.moto.kms_key_id:
        return "NON_COMPLIANT", "The notebook instance has no AWS KMS key configured."
    wanted = [k.strip() for k in params.get("keyArns", "").split(",") if k.strip()]
    if wanted and nb.moto.kms_key_id not in wanted:
        return "NON_COMPLIANT", "The notebook instance's KMS key is not one of keyArns."
    return "COMPLIANT", None


def _root(nb: Notebook, params: dict[str, str]) -> tuple[str, str | None]:
    if (nb.moto.root_access or "Enabled") == "Disabled":
        return "COMPLIANT", None
    return "NON_COMPLIANT", "Root access is enabled for the notebook instance."


def _vpc(nb: Notebook, params: dict[str, str]) -> tuple[str, str | None]:
    if not nb.moto.subnet_id:
        return "NON_COMPLIANT", "The notebook instance is not launched inside a VPC."
    wanted = [s.strip() for s in params.get("SubnetIds", "").split(",") if s.strip()]
    if wanted and nb.moto.subnet_id not in wanted:
        return "NON_COMPLIANT", "The notebook instance's subnet is not one of SubnetIds."
    return "COMPLIANT", None


def _platform(nb: Notebook, params: dict[str, str]) -> tuple[str, str | None]:
    wanted = [
        p.strip()
        for p in params.get("supportedPlatformIdentifierVersions", "").split(",")
        if p.strip()
    ]
    if not wanted or nb.platform in wanted:
        return "COMPLIANT", None
    return "NON_COMPLIANT", f"Platform {nb.platform} is not supported."


def _required_tags(nb: Notebook, params: dict[str, str]) -> tuple[str, str | None]:
    tags = nb.tags
    for i in range(1, 7):
        key = params.get(f"tag{i}Key")
        if not key:
            continue
        if key not in tags:
            return "NON_COMPLIANT", f"Required tag {key} is missing."
        allowed = [v.strip() for v in params.get(f"tag{i}Value", "").split(",") if v.strip()]
        if allowed and tags[key] not in allowed:
            return "NON_COMPLIANT", f"Tag {key} has a value that is not allowed."
    return "COMPLIANT", None


Evaluator = Callable[[Notebook, dict[str, str]], tuple[str, str | None]]
MANAGED_RULES: dict[str, Evaluator] = {
    "SAGEMAKER_NOTEBOOK_NO_DIRECT_INTERNET_ACCESS": _no_internet,
    "SAGEMAKER_NOTEBOOK_INSTANCE_KMS_KEY_CONFIGURED": _kms,
    "SAGEMAKER_NOTEBOOK_INSTANCE_ROOT_ACCESS_CHECK": _root,
    "SAGEMAKER_NOTEBOOK_INSTANCE_INSIDE_VPC": _vpc,
    "SAGEMAKER_NOTEBOOK_INSTANCE_PLATFORM_VERSION": _platform,
    "REQUIRED_TAGS": _required_tags,
}


@dataclass
class ConfigRule:
    name: str
    arn: str
    rule_id: str
    identifier: str
    input_parameters: str
    description: str
    created: dt.datetime
    invoked: dt.datetime

    def params(self) -> dict[str, str]:
        return dict(json.loads(self.input_parameters or "{}"))

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ConfigRuleName": self.name,
            "ConfigRuleArn": self.arn,
            "ConfigRuleId": self.rule_id,
            "Source": {"Owner": "AWS", "SourceIdentifier": self.identifier},
            "Scope": {"ComplianceResourceTypes": [RESOURCE_TYPE]},
            "ConfigRuleState": "ACTIVE",
            "EvaluationModes": [{"Mode": "DETECTIVE"}],
        }
        if self.input_parameters:
            out["InputParameters"] = self.input_parameters
        if self.description:
            out["Description"] = self.description
        return out


def put_rule(
    region: RegionState,
    name: str,
    identifier: str,
    input_parameters: str = "",
    description: str = "",
) -> ConfigRule:
    if identifier not in MANAGED_RULES:
        raise AwsError(
            "InvalidParameterValueException",
            f"The sourceIdentifier {identifier} is invalid. "
            f"The sandbox evaluates {sorted(MANAGED_RULES)}.",
        )
    try:
        parsed = json.loads(input_parameters or "{}")
    except ValueError:
        raise AwsError(
            "InvalidParameterValueException", "Blank spaces are not acceptable for input parameter"
        ) from None
    if not isinstance(parsed, dict):
        raise AwsError("InvalidParameterValueException", "InputParameters must be a JSON object")
    now = runtime.clock.now()
    existing = region.config_rules.get(name)
    rule_id = existing.rule_id if existing else new_id("config-rule-", 6)
    rule = ConfigRule(
        name=name,
        arn=f"arn:aws:config:{region.region}:{region.account}:config-rule/{rule_id}",
        rule_id=rule_id,
        identifier=identifier,
        input_parameters=input_parameters,
        description=description,
        created=existing.created if existing else now,
        invoked=now,
    )
    region.config_rules[name] = rule
    return rule


def _region(req: AwsRequest) -> RegionState:
    return state.region(req.account, req.region)


def _rules(region: RegionState, names: list[str] | None) -> list[ConfigRule]:
    if not names:
        return sorted(region.config_rules.values(), key=lambda r: r.name)
    missing = [n for n in names if n not in region.config_rules]
    if missing:
        raise AwsError(
            "NoSuchConfigRuleException",
            f"The ConfigRule '{missing[0]}' provided in the request is invalid. "
            "Please check the configRule name.",
        )
    return [region.config_rules[n] for n in names]


def results(region: RegionState, rule: ConfigRule) -> list[dict[str, Any]]:
    out = []
    for nb in sorted(region_notebooks(region).values(), key=lambda n: n.name):
        if nb.status == "Deleting":
            continue
        compliance, annotation = MANAGED_RULES[rule.identifier](nb, rule.params())
        recorded = max(nb.last_modified, rule.invoked)
        item: dict[str, Any] = {
            "EvaluationResultIdentifier": {
                "EvaluationResultQualifier": {
                    "ConfigRuleName": rule.name,
                    "ResourceType": RESOURCE_TYPE,
                    "ResourceId": nb.name,
                    "EvaluationMode": "DETECTIVE",
                },
                "OrderingTimestamp": nb.last_modified,
            },
            "ComplianceType": compliance,
            "ResultRecordedTime": recorded,
            "ConfigRuleInvokedTime": recorded,
        }
        if annotation:
            item["Annotation"] = annotation
        out.append(item)
    return out


def _summary(kind: str, count: int) -> dict[str, Any]:
    if kind == "NON_COMPLIANT":
        return {
            "ComplianceType": kind,
            "ComplianceContributorCount": {
                "CappedCount": min(count, 100),
                "CapExceeded": count > 100,
            },
        }
    return {"ComplianceType": kind}


def _paged(
    items: list[Any], params: dict[str, Any], default: int = 100
) -> tuple[list[Any], str | None]:
    try:
        start = int(params.get("NextToken") or 0)
    except ValueError:
        raise AwsError("InvalidNextTokenException", "The nextToken provided is invalid") from None
    limit = int(params.get("Limit") or default)
    if limit > 100:
        raise AwsError("InvalidLimitException", "Limit must be at most 100")
    return items[start : start + limit], (
        str(start + limit) if start + limit < len(items) else None
    )


def _check_types(types: list[str] | None) -> list[str]:
    allowed = ("COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE", "INSUFFICIENT_DATA")
    for t in types or []:
        if t not in allowed:
            raise AwsError("InvalidParameterValueException", f"ComplianceType {t} is not valid")
    return list(types or [])


@operation("config", "PutConfigRule")
def put_config_rule(req: AwsRequest) -> dict[str, Any]:
    rule = req.params.get("ConfigRule") or {}
    source = rule.get("Source") or {}
    if source.get("Owner") != "AWS":
        raise AwsError(
            "InvalidParameterValueException", "The sandbox evaluates only AWS managed rules"
        )
    if not rule.get("ConfigRuleName"):
        raise AwsError("InvalidParameterValueException", "ConfigRuleName is required")
    put_rule(
        _region(req),
        rule["ConfigRuleName"],
        source.get("SourceIdentifier", ""),
        rule.get("InputParameters", ""),
        rule.get("Description", ""),
    )
    return {}


@operation("config", "DescribeConfigRules")
def describe_config_rules(req: AwsRequest) -> dict[str, Any]:
    rules = _rules(_region(req), req.params.get("ConfigRuleNames"))
    return {"ConfigRules": [r.detail() for r in rules]}


@operation("config", "DeleteConfigRule")
def delete_config_rule(req: AwsRequest) -> dict[str, Any]:
    region = _region(req)
    rule = _rules(region, [str(req.params.get("ConfigRuleName"))])[0]
    del region.config_rules[rule.name]
    return {}


@operation("config", "StartConfigRulesEvaluation")
def start_config_rules_evaluation(req: AwsRequest) -> dict[str, Any]:
    names = req.params.get("ConfigRuleNames") or []
    if not 1 <= len(names) <= 25:
        raise AwsError(
            "InvalidParameterValueException", "ConfigRuleNames must name between 1 and 25 rules"
        )
    now = runtime.clock.now()
    for rule in _rules(_region(req), names):
        rule.invoked = now
    return {}


@operation("config", "DescribeComplianceByConfigRule")
def describe_compliance_by_config_rule(req: AwsRequest) -> dict[str, Any]:
    region = _region(req)
    wanted = _check_types(req.params.get("ComplianceTypes"))
    out = []
    for rule in _rules(region, req.params.get("ConfigRuleNames")):
        found = results(region, rule)
        bad = sum(1 for r in found if r["ComplianceType"] == "NON_COMPLIANT")
        kind = "NON_COMPLIANT" if bad else "COMPLIANT" if found else "INSUFFICIENT_DATA"
        if wanted and kind not in wanted:
            continue
        out.append({"ConfigRuleName": rule.name, "Compliance": _summary(kind, bad)})
    items, token = _paged(out, req.params)
    response: dict[str, Any] = {"ComplianceByConfigRules": items}
    if token:
        response["NextToken"] = token
    return response


@operation("config", "GetComplianceDetailsByConfigRule")
def get_compliance_details_by_config_rule(req: AwsRequest) -> dict[str, Any]:
    region = _region(req)
    rule = _rules(region, [str(req.params.get("ConfigRuleName"))])[0]
    wanted = _check_types(req.params.get("ComplianceTypes")) or ["COMPLIANT", "NON_COMPLIANT"]
    found = [r for r in results(region, rule) if r["ComplianceType"] in wanted]
    items, token = _paged(found, req.params)
    response: dict[str, Any] = {"EvaluationResults": items}
    if token:
        response["NextToken"] = token
    return response


@operation("config", "DescribeComplianceByResource")
def describe_compliance_by_resource(req: AwsRequest) -> dict[str, Any]:
    region = _region(req)
    p = req.params
    if p.get("ResourceType") not in (None, RESOURCE_TYPE):
        return {"ComplianceByResources": []}
    wanted = _check_types(p.get("ComplianceTypes"))
    per_resource: dict[str, int] = {}
    for rule in region.config_rules.values():
        for r in results(region, rule):
            resource = r["EvaluationResultIdentifier"]["EvaluationResultQualifier"]["ResourceId"]
            per_resource.setdefault(resource, 0)
            if r["ComplianceType"] == "NON_COMPLIANT":
                per_resource[resource] += 1
    out = []
    for resource, bad in sorted(per_resource.items()):
        if p.get("ResourceId") and resource != p["ResourceId"]:
            continue
        kind = "NON_COMPLIANT" if bad else "COMPLIANT"
        if wanted and kind not in wanted:
            continue
        out.append(
            {
                "ResourceType": RESOURCE_TYPE,
                "ResourceId": resource,
                "Compliance": _summary(kind, bad),
            }
        )
    items, token = _paged(out, p)
    response: dict[str, Any] = {"ComplianceByResources": items}
    if token:
        response["NextToken"] = token
    return response
