"""/api/jobs and /api/jobs/{job_id} (docs/protocol.md §8); normalisation lives in runtime.jobs.

Declared with their `/api` prefix, so the generated mirror puts them at `/api/api/jobs...` and
nothing answers `/jobs` (QUIRK(docs/protocol.md §2)). IO loop thread.
"""

from __future__ import annotations

from toucan_nb.api.handlers.base import ApiHandler
from toucan_nb.runtime import jobs


class JobsHandler(ApiHandler):
    def get(self) -> None:
        rt = self.runtime
        arg = self.get_query_argument
        running, pending = rt.queue_listing()
        self.write_json(jobs.list_jobs(
            running, pending, rt.history,
            status=arg("status", None), workflow_id=arg("workflow_id", None),
            sort_by=arg("sort_by", None), sort_order=arg("sort_order", None),
            limit=arg("limit", None), offset=arg("offset", None),
        ))


class JobHandler(ApiHandler):
    def get(self, job_id: str) -> None:
        rt = self.runtime
        running, pending = rt.queue_listing()
        self.write_json(jobs.get_job(job_id, running, pending, rt.history))
