"""The metrics adapters: where the core meets asyncio, SQLite and HTTP.

- `live`: the live pipeline (`LiveMetrics`), asyncio tasks that read AMI
  events, apply them to the reducer, store them and publish updates; it
  reads the clock for its intervals.
- `store`: the durable event store on SQLite (`SqliteEventStore`).
- `http`: the aiohttp handlers of the metrics and wallboard routes.

Each owns its failure handling (retries, back-pressure, timeouts); the
decisions are in the core (`ivr.metrics`).
"""
