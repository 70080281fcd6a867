"""Contact-center metrics: a pure KPI core fed by domain events.

Data flow: AMI events -> `intake.from_ami` -> domain events (`events`) ->
`store.SqliteEventStore` (durable) and `reducer.CenterState` (live state and
KPIs, definitions in `kpi`) -> `views` (JSON, CSV), `prometheus`, and
`wallboard` (the live page's updates, published by `live`). Asterisk's
queue_log -> `queue_log` -> the same events -> `reconcile` against the store.
Nothing here does network I/O or reads the clock.
"""
