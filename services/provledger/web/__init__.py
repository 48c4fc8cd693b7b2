"""The lineage explorer page the API serves at ``/`` (issue 20): static files, no build at run time.

``web/static/`` holds the page: HTML, ES modules, CSS, and the pinned third-party modules
(graph drawing) that ``make install`` fetches. Everything under it is package data, shipped in
the wheel (``[tool.hatch.build.targets.wheel]`` packages the whole ``provledger`` folder), and
found at run time without knowing where the package was installed::

    from importlib.resources import files
    static = files("provledger.web") / "static"

The API mounts that folder (issue 20 adds the route in ``api/``); the page reads only the public
``/v1`` JSON and verifies evidence in the browser, so nothing here imports the rest of provledger.
"""
