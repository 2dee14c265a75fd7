"""The rendering toolkit every page uses: templates, form helpers, clinic-local time, FieldError.

It sits below the domains and imports none of them (an import-linter contract in
pyproject.toml), so a domain's pages and routers can use it while `web/`, the app factory,
stays at the top. What a page needs from a domain (who is logged in, for the header) the app
factory plugs in: see `ui.templating`.
"""
