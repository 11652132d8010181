"""The operator's page of the jobs that run once across workers (``govsms.jobs``): each job's
last run, its result and next run, and the history of runs."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from govsms import jobs
from govsms.auth import Permission
from govsms.i18n import N_
from govsms.paging import clamp_page
from govsms.web.controller import PageController
from govsms.web.forms import Db, Now
from govsms.web.guards import requires, users_only
from govsms.web.params import PageNumber
from govsms.web.render import NavItem, page

NAV = [NavItem(N_("Jobs"), "/operator/jobs", Permission.PLATFORM)]
PER_PAGE = 50
JOB_LABELS = {"nightly": N_("Nightly job"), "audit.prune": N_("Access log prune")}
STEP_LABELS = {
    "blocklist_cleanup": N_("Blocklist clean-up"), "statistics_roll_up": N_("Statistics roll-up"), "audit_checkpoint": N_("Audit checkpoint"),
    "error": N_("Error"),
    # The access log prune's report (govsms.audit.prune): counts and the anchor's sequence number.
    "anchor_seq": N_("Anchor at sequence"), "events": N_("Events"), "links": N_("Links by person"), "checkpoints": N_("Checkpoints"),
    "batches": N_("Transactions"),
}
COUNT_LABELS = {
    "accounts": N_("accounts"), "numbers": N_("numbers"), "memberships": N_("group memberships"), "rows": N_("rows"),
    "sealed": N_("events sealed"), "ms": N_("ms"),
}
STATUS_LABELS = {jobs.RUNNING: N_("running"), jobs.DONE: N_("done"), jobs.FAILED: N_("failed")}


class JobOperatorPages(PageController):
    """``/operator/jobs``: for the provider's operator only."""

    guards = (users_only, requires(Permission.PLATFORM))

    @get("/operator/jobs")
    def jobs_page(self, request: Request[Any, Any, Any], db: Db, now: Now, page_number: PageNumber = 1) -> Template:
        last = jobs.last_runs(db)
        names = sorted({*jobs.SCHEDULES, *last})
        summaries = [
            (name, jobs.SCHEDULES.get(name), last.get(name), jobs.SCHEDULES[name].next_run(now) if name in jobs.SCHEDULES else None)
            for name in names
        ]
        number, size = clamp_page(page_number, PER_PAGE)
        return page(
            request, "web/operator_jobs.html", summaries=summaries, history=jobs.run_history(db, page=number, per_page=size),
            job_labels=JOB_LABELS, step_labels=STEP_LABELS, count_labels=COUNT_LABELS, status_labels=STATUS_LABELS,
        )


ROUTES = [JobOperatorPages]
