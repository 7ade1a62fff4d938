"""The metrics engine: a catalog of named metrics (``catalog.METRICS``) and one service that
computes any of them as a time series by day or week, filtered and grouped, in SQL
(``service.parse_query`` -> ``service.series`` -> ``service.table``). docs/metrics.md defines
every metric."""
