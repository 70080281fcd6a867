"""FastAGI `survey`: the survey flow, in the first line's language unless the
call says otherwise."""

from __future__ import annotations

from aiohttp import web

from ivr.agi import Handler
from ivr.app import CATALOG
from ivr.render import ContainerPaths

from .flow import SurveyFlow


def survey_script(app: web.Application) -> Handler:
    return SurveyFlow(ContainerPaths().sounds, app[CATALOG].numbers[0].language).handle
