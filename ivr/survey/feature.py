"""The post-call survey as a feature of `ivr serve`: the FastAGI `survey` script.
No context, no routes."""

from __future__ import annotations

from ivr.app import Feature

from .agi import survey_script

FEATURE = Feature("survey", agi={"survey": survey_script})
