"""Cost Explorer spend, forecasts, budgets and alerts (issue 7)."""
