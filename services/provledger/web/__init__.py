"""The lineage explorer page the API serves at ``/`` (issue 20): static files, no build at run time.

``web/static/`` holds the page: HTML, ES modules, CSS, and the pinned third-party modules
(graph drawing) that ``make install`` fetches. Everything under it is package data, shipped in
the wheel (``[tool.hatch.build.targets.wheel]`` packages the whole ``provledger`` folder), and
found at run time without knowing where the package was installed::

    from importlib.resources import files
    static = files("provledger.web") / "static"

The API serves that folder (:mod:`provledger.api.web`: ``/`` the page, ``/ui/<path>`` its files);
the page reads the ``/v1`` JSON and verifies evidence in the browser, so nothing here imports the
rest of provledger.
"""
