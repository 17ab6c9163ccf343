"""Every route of the support desk (issue 13), in one list for `app.main`."""

from __future__ import annotations

from app.inbox import desk_api, export, privacy, reports

routes = [*desk_api.routes, *reports.routes, *export.routes,
          *privacy.routes]
