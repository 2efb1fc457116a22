"""Reads for prices, estimates, budget positions and the cost pages.

The organisation dashboard reads the per-team rollup (TeamDailyCost); the drill-down below a
team reads the daily rows (DailyCost). Every page's query count is fixed: one grouped query
per table, whatever the number of teams, workspaces or days.

- ``tables``: periods, money and the tables a page shows and its CSV holds;
- ``budgets``: budget positions (the request flow's check), budgets and alerts;
- ``estimates``: a workspace's monthly estimate from the price table;
- ``freshness``: the last sync and the cost-allocation tag warning;
- ``org``: the finance dashboard; ``drill``: team, project and workspace costs.
"""

from costs.calendar import month_start
from costs.selectors.budgets import (
    ALERT_STATES,
    BudgetPosition,
    BudgetRow,
    BudgetStatus,
    alerts_filtered,
    alerts_visible_to,
    banner_alerts_for,
    budget_position,
    budget_positions,
    budget_rows,
    budgets_visible_to,
)
from costs.selectors.drill import (
    Drill,
    TeamMonth,
    WorkspaceCosts,
    project_drill,
    team_drill,
    team_month,
    workspace_costs,
    workspace_drill,
)
from costs.selectors.estimates import Estimate, PriceUnknown, estimate_monthly
from costs.selectors.freshness import (
    SyncFailure,
    SyncStamp,
    TagWarning,
    freshness,
    tag_warning,
)
from costs.selectors.org import (
    TEAM_SORTS,
    AlertState,
    OrgCosts,
    TeamCostRow,
    org_costs,
    parse_sort,
    team_rows_table,
)
from costs.selectors.tables import (
    UNTAGGED,
    Column,
    CostTable,
    TableRow,
    chart_data,
    money,
    period_label,
    periods_between,
)

__all__ = [
    "ALERT_STATES",
    "TEAM_SORTS",
    "UNTAGGED",
    "AlertState",
    "BudgetPosition",
    "BudgetRow",
    "BudgetStatus",
    "Column",
    "CostTable",
    "Drill",
    "Estimate",
    "OrgCosts",
    "PriceUnknown",
    "SyncFailure",
    "SyncStamp",
    "TableRow",
    "TagWarning",
    "TeamCostRow",
    "TeamMonth",
    "WorkspaceCosts",
    "alerts_filtered",
    "alerts_visible_to",
    "banner_alerts_for",
    "budget_position",
    "budget_positions",
    "budget_rows",
    "budgets_visible_to",
    "chart_data",
    "estimate_monthly",
    "freshness",
    "money",
    "month_start",
    "org_costs",
    "parse_sort",
    "period_label",
    "periods_between",
    "project_drill",
    "tag_warning",
    "team_drill",
    "team_month",
    "team_rows_table",
    "workspace_costs",
    "workspace_drill",
]
