"""Every route of the support desk (issue 13), in one list for `app.main`."""

from __future__ import annotations

from app.inbox import desk_api, export, presence, privacy, reports, staff_pages

routes = [*desk_api.routes, *reports.routes, *export.routes,
          *privacy.routes, *staff_pages.routes,
          *presence.routes]
