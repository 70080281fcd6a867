"""The IVR menu engine over the catalog's menus (their schema is
:mod:`ivr.catalog.menus`): the pure menu walker (:mod:`.engine`), say-number
fragments (:mod:`.saynumber`), menu and prompt checks (:mod:`.checks`, run by
:mod:`ivr.check`), a simulator (:mod:`.simulate`) and an HTML map
(:mod:`.mapview`).

The menu sits above the catalog: it imports the catalog, never the reverse.
"""
