"""Analytics: figures computed from the operational tables for the T&S team, its leadership
and analysts.

- ``metrics``: the metric catalog and the time-series engine behind the metrics API, the
  console dashboards, goals and the bench.
- ``sql``: expressions that differ between SQLite and PostgreSQL (bucket keys, durations,
  JSON), so each aggregate is one statement on both databases.
- ``export``: CSV/XLSX downloads of any table.

Every figure is computed by the database (GROUP BY, window functions, indexed ranges);
nothing loads a table's rows into Python.
"""
