"""Contact-center metrics: a pure KPI core fed by domain events.

Data flow: AMI events -> `intake.from_ami` -> domain events (`events`) ->
`store.SqliteEventStore` (durable) and `reducer.CenterState` (live state and
KPIs, definitions in `kpi`). Asterisk's queue_log -> `queue_log` -> the same
events -> `reconcile` against the store. Nothing here does network I/O or
reads the clock.
"""
