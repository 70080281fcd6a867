"""The IVR menu engine: menus as catalog data (:mod:`.model`), the pure menu
walker (:mod:`.engine`), say-number fragments (:mod:`.saynumber`), catalog
checks (:mod:`.checks`), a simulator (:mod:`.simulate`) and an HTML map
(:mod:`.mapview`).

This package's ``__init__`` imports nothing: ``ivr.catalog.model`` imports
``ivr.menu.model``, and the engine imports the catalog, so eager imports here
would be a cycle.
"""
