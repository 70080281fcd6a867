"""The post-call survey as a feature: the rating and its validation (`rating.py`,
pure), the survey over an AGI session (`flow.py`), the FastAGI `survey` script
(`agi.py`) and its wiring (`feature.py`)."""

from .flow import SurveyFlow
from .rating import RATING_KEYS, SurveyContextError, SurveyRating, rating_of

__all__ = ["RATING_KEYS", "SurveyContextError", "SurveyFlow", "SurveyRating", "rating_of"]
