"""The finance dashboard: totals, the per-team table and its sorting, the spend chart's data
table, filters, the CSV (exactly the page's cells), the tag warning, fixed query counts, and
against the sandbox ledger after a real cost sync, every team's and day's total."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from costs import selectors
from costs.calendar import cost_today
from costs.models import CostTagStatus, TeamBudget, TeamDailyCost
from costs.selectors import tables
from costs.sync import cost_sync
from portal.selectors import teams_visible_to
from tests.conftest import World
from tests.costs import support as ps
from tests.costs.ledger_support import COST_TAGS, days_back, untagged, usage
from tests.factories import ProjectFactory, TeamFactory

pytestmark = pytest.mark.django_db

TODAY = cost_today  # the cost calendar: UTC days
NO_VALUE = "\N{EN DASH}"


def dashboard(client: Any, query: str = "") -> str:
    response = client.get(reverse("costs_dashboard") + (f"?{query}" if query else ""))
    assert response.status_code == 200
    return str(response.content.decode())


def export(client: Any, query: str = "") -> list[list[list[str]]]:
    response = client.get(reverse("costs_dashboard_csv") + (f"?{query}" if query else ""))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return ps.csv_tables(response.content.decode())


@pytest.fixture
def spend(world: World) -> dict[str, Any]:
    """Data Science: two workspaces at 2.00 and 1.00 a day for 5 days (15.00), a budget of 20
    (75 %) and an open 50 % alert; Public Health: 0.50 a day (2.50), no budget; untagged 0.25
    a day (1.25). Days are today and the four before, all within this month when possible."""
    ours = ps.make_workspaces(world.team, world.project, world.analyst, 2)
    (theirs,) = ps.make_workspaces(world.other_team, world.other_project, world.outsider, 1, "ph")
    days = [TODAY() - dt.timedelta(days=d) for d in range(5)]
    rows: list[ps.Row] = []
    for day in days:
        rows += [
            (day, ours[0], ps.SAGEMAKER, Decimal("2.00")),
            (day, ours[1], ps.SAGEMAKER, Decimal("1.00")),
            (day, theirs, ps.SAGEMAKER, Decimal("0.50")),
            (day, None, ps.SAGEMAKER, Decimal("0.25")),
        ]
    ps.add_costs(rows)
    TeamBudget.objects.create(team=world.team, monthly_usd=Decimal("20.00"))
    ps.forecast(world.team, "31.00", "27.50", "34.00")
    ps.alert(world.team, 50)
    ps.tags_active()
    ps.finished_sync()
    in_month = [d for d in days if d.month == TODAY().month]
    return {"ours": ours, "theirs": theirs, "days": days, "in_month": len(in_month)}


def test_the_dashboard_shows_the_month_the_teams_and_the_untagged_row(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.finance)
    html = dashboard(client)
    n = spend["in_month"]
    teams = {row[0]: row for row in ps.page_tables(html)["teams-table"][1:]}
    assert teams["Data Science"][1] == f"{3 * n:.2f}"
    assert "31.00" in teams["Data Science"][2]
    assert "27.50 to 34.00" in teams["Data Science"][2]
    assert "AWS Cost Explorer forecast" in teams["Data Science"][2]
    assert teams["Data Science"][3] == "20.00"
    assert teams["Data Science"][4] == f"{int(3 * n * 100 / 20)} %"
    assert teams["Data Science"][5] == "15.00"  # the selected range: the last 90 days
    assert teams["Data Science"][6] == "Actual ≥ 50 %"
    assert teams["Public Health"][3] == "none"
    assert teams["Untagged or unknown"][1] == f"{0.25 * n:.2f}"
    assert teams["Untagged or unknown"][5] == "1.25"
    # The organisation's month includes untagged spend.
    assert 'data-testid="org-mtd">$' + f"{3.75 * n:,.2f}" in html
    assert "of $20.00 in team budgets" in html
    assert "Figures from AWS Cost Explorer as of" in html
    assert 'data-testid="tag-warning"' not in html


def test_the_spend_table_has_a_column_per_team_untagged_and_total_and_rows_add_up(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.finance)
    html = dashboard(client)
    series = ps.page_tables(html)["series"]
    assert series[0] == ["Day", "Data Science", "Public Health", "Untagged or unknown", "Total"]
    assert len(series) == 1 + 90  # every day of the default range, zeros included
    by_day = {row[0]: row[1:] for row in series[1:]}
    assert by_day[TODAY().isoformat()] == ["3.00", "0.50", "0.25", "3.75"]
    assert by_day[(TODAY() - dt.timedelta(days=30)).isoformat()] == ["0.00"] * 4
    # The chart draws the same numbers from its JSON island, and says so in words.
    assert 'id="cost-chart-teams"' in html
    assert "the table “Spend per team (USD)” below lists the same amounts" in html


def test_eight_teams_get_columns_and_the_rest_are_summed_as_other(
    world: World, client: Any
) -> None:
    ps.bulk_org(world.analyst, teams=11, workspaces_per_team=1, days=2)
    client.force_login(world.admin)
    series = ps.page_tables(dashboard(client, "granularity=monthly"))["series"]
    header = series[0]
    assert header[0] == "Month"
    assert header[-3:] == ["Other teams", "Untagged or unknown", "Total"]
    assert len(header) == 1 + 8 + 3
    for row in series[1:]:
        values = [Decimal(v) for v in row[1:]]
        assert sum(values[:-1]) == values[-1]


def _pivoted_team_days(user: Any, start: dt.date, end: dt.date, granularity: str) -> Any:
    """The series as the drill-down pages make theirs: every team-day sum pivoted here."""
    labels = {
        str(t.pk): selectors.Column(str(t.pk), t.name, reverse("team_costs", args=[t.slug]))
        for t in teams_visible_to(user)
    }
    amounts = tables.grouped(
        TeamDailyCost.objects.filter(day__gte=start, day__lte=end), granularity, "team_id"
    )
    periods = selectors.periods_between(start, end, granularity)
    return tables.pivot(amounts, periods, granularity, labels, [selectors.UNTAGGED], "Other teams")


@pytest.mark.parametrize("granularity", ["daily", "monthly"])
def test_the_series_summed_per_column_in_the_database_equals_the_team_day_pivot(
    world: World, granularity: str
) -> None:
    """The dashboard has the database sum the rollup into its columns (8 teams, "Other
    teams", untagged); the table must be the one pivoting every team-day sum gives: the same
    columns with ties broken by name, hidden teams' spend as untagged, and half cents rounded
    once per cell after summing, not per team."""
    rows: list[ps.Row] = []
    for i in range(11):
        team = TeamFactory.create(name=f"Pivot team {i:02d}", slug=f"pivot-{i:02d}")
        project = ProjectFactory.create(team=team, name="Main", slug="main")
        (workspace,) = ps.make_workspaces(team, project, world.analyst, 1, prefix=f"pv{i}")
        # Totals tie in threes and fours, one tie across the eighth column; every team-day
        # ends in half a cent; one day is a credit.
        for d in range(45):
            amount = Decimal(1 + i % 3) + Decimal("0.005")
            rows.append((TODAY() - dt.timedelta(days=d), workspace, ps.SAGEMAKER, amount))
        rows.append((TODAY() - dt.timedelta(days=50), workspace, ps.SAGEMAKER, Decimal("-0.5")))
    TeamFactory.create(name="Pivot team without spend", slug="pivot-none")
    # A team whose credit cancels its spend has no column and is in no total.
    netting = TeamFactory.create(name="Pivot team netting to zero", slug="pivot-zero")
    (nets,) = ps.make_workspaces(
        netting, ProjectFactory.create(team=netting, name="Main", slug="main"), world.analyst, 1
    )
    rows.append((TODAY() - dt.timedelta(days=1), nets, ps.SAGEMAKER, Decimal("7")))
    rows.append((TODAY() - dt.timedelta(days=2), nets, ps.SAGEMAKER, Decimal("-7")))
    (mine,) = ps.make_workspaces(world.team, world.project, world.analyst, 1, prefix="own")
    for d in range(45):
        rows.append((TODAY() - dt.timedelta(days=d), mine, ps.SAGEMAKER, Decimal("0.125")))
        rows.append((TODAY() - dt.timedelta(days=d), None, ps.SAGEMAKER, Decimal("0.333")))
    ps.add_costs(rows)
    start, end = TODAY() - dt.timedelta(days=89), TODAY()
    # Finance sees every team; an analyst (not a dashboard reader, but the selector allows
    # it) sees one, and the others' spend is counted with untagged spend.
    for user, columns in [(world.finance, 1 + 8 + 3), (world.analyst, 1 + 2 + 1)]:
        org = selectors.org_costs(user, start=start, end=end, granularity=granularity)
        expected = _pivoted_team_days(user, start, end, granularity)
        assert len(org.series.header) == columns
        assert org.series.header[1:] == expected.header[1:]
        assert [c.key for c in org.series.columns] == [c.key for c in expected.columns]
        assert org.series.csv_rows() == expected.csv_rows()
    finance = selectors.org_costs(world.finance, start=start, end=end, granularity=granularity)
    # Both ways of reading the range (daily: totals, then the pivot in the database;
    # monthly: team-month sums pivoted here) give each team's month and range totals.
    month = TODAY().replace(day=1)
    for since, until, attribute in [(start, end, "in_range"), (month, TODAY(), "month_to_date")]:
        sums: dict[str | None, Decimal] = dict(
            TeamDailyCost.objects.filter(day__gte=since, day__lte=until)
            .values("team__name")
            .annotate(total=Sum("amount_usd"))
            .values_list("team__name", "total")
        )
        shown = {r.label: getattr(r, attribute) for r in [*finance.rows, finance.untagged]}
        assert shown == {
            r.label: selectors.money(sums.get(r.team.name if r.team else None))
            for r in [*finance.rows, finance.untagged]
        }
        assert shown["Pivot team 02"] > 0
    # The tie across the eighth column goes by name: "Pivot team 00" has a column, its equals
    # 03, 06 and 09 are in "Other teams".
    assert "Pivot team 00" in finance.series.header
    assert "Pivot team 03" not in finance.series.header
    if granularity == "daily":
        today = dict(zip(finance.series.header, finance.series.csv_rows()[-1], strict=True))
        assert today["Pivot team 00"] == "1.01"
        # Teams 03, 06, 09 and Data Science: 3 x 1.005 + 0.125 rounded once (not 3.16).
        assert today["Other teams"] == "3.14"
        assert today["Untagged or unknown"] == "0.33"


def test_open_alerts_are_tagged_by_how_far_a_team_is_over(world: World, client: Any) -> None:
    ps.alert(world.team, 100)
    ps.alert(world.other_team, 80, kind="forecast")
    client.force_login(world.finance)
    html = dashboard(client)
    assert '<span class="usa-tag bg-secondary-dark">Actual ≥ 100 %</span>' in html
    assert '<span class="usa-tag bg-accent-warm-darker">Forecast ≥ 80 %</span>' in html
    teams = {row[0]: row for row in ps.page_tables(html)["teams-table"][1:]}
    assert teams["Data Science"][6] == "Actual ≥ 100 %"
    assert teams["Public Health"][6] == "Forecast ≥ 80 %"
    assert teams["Public Health"][2] == "none yet"


@pytest.mark.parametrize(
    ("sort", "first", "aria"),
    [
        ("team", "Data Science", ("team", "ascending")),
        ("-team", "Public Health", ("team", "descending")),
        ("mtd", "Public Health", ("mtd", "ascending")),
        ("", "Data Science", ("mtd", "descending")),
        ("-budget", "Data Science", ("budget", "descending")),
        ("budget", "Public Health", ("budget", "ascending")),  # no budget sorts as the lowest
        ("-range", "Data Science", ("range", "descending")),
        ("nonsense", "Data Science", ("mtd", "descending")),
    ],
)
def test_the_team_table_sorts_on_the_server_with_aria_sort_on_one_header(
    world: World, client: Any, spend: dict[str, Any], sort: str, first: str, aria: tuple[str, str]
) -> None:
    client.force_login(world.finance)
    html = dashboard(client, f"sort={sort}")
    rows = ps.page_tables(html)["teams-table"][1:]
    assert rows[0][0] == first
    assert rows[-1][0] == "Untagged or unknown"  # always last, never sorted among teams
    assert html.count("aria-sort=") == 1
    key, direction = aria
    header = html.split(f'data-sort="{key}"')[0].rsplit("<th", 1)[1]
    assert f'aria-sort="{direction}"' in header
    # The CSV lists the teams in the same order.
    csv_teams = export(client, f"sort={sort}")[1]
    assert [r[0] for r in csv_teams[1:]] == [r[0] for r in rows]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=2026-02-01&end=2026-01-01", "is before the start"),
        ("start=2020-01-01&end=2026-01-01", "the longest is 731 days"),
        ("start=yesterday", "Enter a valid date."),
        ("granularity=weekly", "Select a valid choice. weekly is not one of the available"),
    ],
)
def test_bad_filters_say_what_is_wrong_and_show_the_default_range(
    world: World, client: Any, spend: dict[str, Any], query: str, message: str
) -> None:
    client.force_login(world.finance)
    html = dashboard(client, query)
    assert 'data-testid="filter-errors"' in html
    assert message in html
    assert len(ps.page_tables(html)["series"]) == 1 + 90


@pytest.mark.parametrize(
    "query",
    [
        "",
        "granularity=monthly",
        "sort=team",
        "start={d4}&end={d0}",
        "start={d4}&end={d0}&granularity=monthly&sort=-used",
        "start=2026-02-01&end=2026-01-01",  # invalid: both show the defaults
    ],
)
def test_the_csv_holds_exactly_the_cells_the_page_shows(
    world: World, client: Any, spend: dict[str, Any], query: str
) -> None:
    days = spend["days"]
    query = query.format(d0=days[0].isoformat(), d4=days[4].isoformat())
    client.force_login(world.finance)
    html = dashboard(client, query)
    series, teams = export(client, query)
    page = ps.page_tables(html)
    assert series == page["series"]
    # The team table's CSV spells out what the page groups in one cell (forecast range and
    # source); the amounts a reader compares are the same.
    page_teams = page["teams-table"]
    assert [r[0] for r in teams] == [r[0] for r in page_teams]
    for csv_row, page_row in zip(teams[1:], page_teams[1:], strict=True):
        assert csv_row[1] == page_row[1]  # month to date
        assert csv_row[8] == page_row[5]  # the selected range
        assert (f"{csv_row[7]} %" if csv_row[7] else NO_VALUE) == page_row[4]  # % used


def test_the_tag_warning_says_what_to_do_when_tags_were_never_checked_or_are_inactive(
    world: World, client: Any, spend: dict[str, Any]
) -> None:
    client.force_login(world.finance)
    assert 'data-testid="tag-warning"' not in dashboard(client)
    ps.tags_active(active=False)
    html = dashboard(client)
    assert 'data-testid="tag-warning"' in html
    assert "Billing → Cost allocation tags" in html
    assert "up to 24 hours" in html
    assert "<code>portal:workspace</code> (inactive)" in html
    CostTagStatus.objects.all().delete()
    html = dashboard(client)
    assert "Cost-allocation tags have not been checked yet" in html


# --- query counts ----------------------------------------------------------------------------


def count_queries(client: Any, url: str) -> tuple[int, float]:
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, url
    return len(captured), elapsed


@pytest.mark.slow
def test_cost_pages_keep_a_fixed_number_of_queries_from_3_to_60_teams(
    world: World, client: Any, django_assert_num_queries: Any
) -> None:
    teams = ps.bulk_org(world.analyst, teams=3, workspaces_per_team=2, days=30, prefix="s")
    for team in teams:
        TeamBudget.objects.create(team=team, monthly_usd=Decimal("100"))
        ps.forecast(team, "50", "40", "60", portal=True)
        ps.alert(team, 80)
    ps.tags_active()
    ps.finished_sync()
    first = teams[0]
    workspace = ps.Workspace.objects.filter(team=first).first()
    assert workspace is not None
    urls = [
        reverse("costs_dashboard"),
        reverse("costs_dashboard") + "?granularity=monthly&sort=team",
        reverse("costs_dashboard_csv"),
        reverse("team_costs", args=[first.slug]),
        reverse("project_costs", args=[first.slug, "main"]),
        reverse("workspace_costs", args=[workspace.pk]),
        reverse("cost_alerts") + "?state=all",
        reverse("team_detail", args=[first.slug]),
    ]
    client.force_login(world.finance)
    client.get(urls[0])  # warm the session and caches
    small = [count_queries(client, url)[0] for url in urls]

    more = ps.bulk_org(
        world.analyst, teams=57, workspaces_per_team=35, days=30, prefix="l", with_untagged=False
    )
    big = ProjectFactory.create(team=first, name="Big", slug="big")
    ps.add_costs(
        (TODAY() - dt.timedelta(days=d), w, ps.SAGEMAKER, Decimal("1"))
        for w in ps.make_workspaces(first, big, world.analyst, 40, prefix="big")
        for d in range(30)
    )
    for team in more:
        TeamBudget.objects.create(team=team, monthly_usd=Decimal("100"))
        ps.alert(team, 80)
    assert ps.Workspace.objects.count() >= 2000
    for url, expected in zip(urls, small, strict=True):
        with django_assert_num_queries(expected):
            client.get(url)
    queries, elapsed = count_queries(client, urls[0])
    print(
        f"\ndashboard on 60 teams, 2,000+ workspaces, 30 days: {queries} queries, "
        f"{elapsed * 1000:.0f} ms; per page: {dict(zip(urls, small, strict=True))}"
    )


def test_the_dashboard_query_count_is_small(world: World, client: Any, spend: Any) -> None:
    client.force_login(world.finance)
    client.get(reverse("costs_dashboard"))
    queries, _ = count_queries(client, reverse("costs_dashboard"))
    # session, user, the header (roles, unread, open alerts), freshness (tag statuses and
    # last sync), teams (with budget, forecast, open alerts), month and range totals, series
    assert queries == 7


# --- against the sandbox ledger --------------------------------------------------------------


def test_after_a_real_sync_every_team_and_day_equals_the_ledger_and_the_csv_the_page(
    world: World, sandbox_clean: Any, portal_on_sandbox: Any, client: Any
) -> None:
    sb = sandbox_clean
    sb.control.cost_tags(active=COST_TAGS)
    extra = TeamFactory.create(name="Road Safety", slug="road-safety", cost_center="CC-3001")
    extra_project = ProjectFactory.create(team=extra, name="Crashes", slug="crashes")
    ours = ps.make_workspaces(world.team, world.project, world.analyst, 3)
    theirs = ps.make_workspaces(world.other_team, world.other_project, world.outsider, 2, "ph")
    road = ps.make_workspaces(extra, extra_project, world.analyst, 1, "rs")
    days = days_back(12)
    rows = [usage(w, d, 1.25 + i + d.day / 100) for d in days for i, w in enumerate(ours)]
    rows += [usage(w, d, 0.4 * (i + 1)) for d in days for i, w in enumerate(theirs)]
    rows += [usage(road[0], d, 7.77) for d in days[::3]]
    rows += [untagged(d, 0.33) for d in days]
    rows.append({"day": days[-1].isoformat(), "cost": 2.0, "tags": {"portal:workspace": "gone"}})
    sb.control.ledger(rows)
    run = cost_sync()
    assert run.status == "succeeded", run.error

    # The ledger, asked directly: spend per day and portal:team tag (empty: untagged).
    ce = sb.client("ce")
    answer = ce.get_cost_and_usage(
        TimePeriod={"Start": days[0].isoformat(), "End": (days[-1] + dt.timedelta(1)).isoformat()},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "TAG", "Key": "portal:team"}],
    )
    assert "NextPageToken" not in answer
    names = {
        "data-science": "Data Science",
        "public-health": "Public Health",
        "": "Untagged or unknown",
        "road-safety": "Road Safety",
    }
    ledger: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for result in answer["ResultsByTime"]:
        for group in result["Groups"]:
            team = group["Keys"][0].partition("$")[2]
            ledger[result["TimePeriod"]["Start"], names[team]] += Decimal(
                group["Metrics"]["UnblendedCost"]["Amount"]
            )

    client.force_login(world.finance)
    query = f"start={days[0].isoformat()}&end={days[-1].isoformat()}"
    page = ps.page_tables(dashboard(client, query))["series"]
    header = page[0]
    assert set(header[1:-1]) == {
        "Data Science",
        "Public Health",
        "Road Safety",
        "Untagged or unknown",
    }
    assert len(page) == 1 + len(days)
    for row in page[1:]:
        for name, cell in zip(header[1:-1], row[1:-1], strict=True):
            expected = ledger.get((row[0], name), Decimal(0)).quantize(Decimal("0.01"))
            assert Decimal(cell) == expected, (row[0], name)
        total = sum((v for (d, _), v in ledger.items() if d == row[0]), Decimal(0))
        assert Decimal(row[-1]) == total.quantize(Decimal("0.01"))
    assert ledger[days[-1].isoformat(), "Untagged or unknown"] == Decimal("2.33")
    assert export(client, query)[0] == page


def test_cost_pages_count_days_as_aws_does_in_utc_whatever_the_portals_time_zone(
    world: World, client: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 09:00 on 1 November in Auckland it is still 31 October in UTC, AWS's calendar: the
    sync, forecasts and alerts are in October, so the pages must be too, not show an empty
    November month (and budget positions must not reset early)."""
    settings.TIME_ZONE = "Pacific/Auckland"
    instant = dt.datetime(2026, 10, 31, 20, 0, tzinfo=dt.UTC)
    assert timezone.localtime(instant).date() == dt.date(2026, 11, 1)
    (workspace,) = ps.make_workspaces(world.team, world.project, world.analyst, 1, prefix="utc")
    ps.add_costs(
        [
            (dt.date(2026, 10, 1), workspace, ps.SAGEMAKER, Decimal("2.00")),
            (dt.date(2026, 10, 31), workspace, ps.SAGEMAKER, Decimal("5.00")),
        ]
    )
    TeamBudget.objects.create(team=world.team, monthly_usd=Decimal("10"))
    client.force_login(world.finance)
    monkeypatch.setattr(timezone, "now", lambda: instant)
    body = client.get(reverse("costs_dashboard_csv")).content.decode()
    teams = {row[0]: row for row in ps.csv_tables(body)[1]}
    header = ps.csv_tables(body)[1][0]
    assert teams[world.team.name][header.index("Month to date (USD)")] == "7.00"
    assert selectors.budget_position(world.team).spent_usd == Decimal("7.00")
    html = client.get(reverse("team_costs", args=[world.team.slug])).content.decode()
    assert "Spent in October</dt>" in html
    assert 'data-testid="team-mtd">$7.00<' in html
