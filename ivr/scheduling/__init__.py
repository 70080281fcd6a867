"""Central scheduling (集中排班): forecast, Erlang staffing, shift plans,
simulation, adherence and the in-seat rate (在位率). See docs/scheduling.md."""
