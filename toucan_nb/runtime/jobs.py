"""The `/api/jobs` view of queue and history: normalisation, filtering, sorting, paging (docs/protocol.md §8).

Pure functions over snapshots; no locks, any thread. The first six names are those ComfyUI's
`comfy_execution/jobs.py` exports to its unit tests (docs/execution.md §6.1 "test_jobs.py"), with the
same signatures and behaviour as ComfyUI 0.8.0; `toucan_nb.compat` re-exports them. `list_jobs`
and `get_job` are what the HTTP layer calls: they take the raw query strings and raise
`BadRequestError` / `NotFoundError`, which the HTTP layer turns into its 400 / 404 bodies.

Queue items may be `QueueItem`s or 5-element wire arrays; history items `HistoryEntry`s or §17
wire dicts, keyed by prompt_id; `list_jobs` and `get_job` also take a `History` itself, which
spares building the wire dicts of entries that are filtered out or not asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from .errors import BadRequestError, NotFoundError
from .events import ExecutionError, ExecutionInterrupted, ExecutionStart, ExecutionSuccess
from .history import History, HistoryEntry
from .queue import QueueItem

__all__ = [
    "JobStatus",
    "OutputsSummary",
    "apply_sorting",
    "get_all_jobs",
    "get_job",
    "get_outputs_summary",
    "is_previewable",
    "list_jobs",
    "normalize_history_item",
    "normalize_queue_item",
]


class JobStatus:
    """Job status values, in the order ComfyUI lists them in its 400 message."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    ALL = [PENDING, IN_PROGRESS, COMPLETED, FAILED]
    # Newer ComfyUI has a "cancelled" status and the official frontend (1.58) asks for it; no job
    # here is ever cancelled, so the filter is accepted and matches nothing. Not listed in the
    # 400 message, which stays ComfyUI 0.8's.
    ACCEPTED_FILTERS = frozenset([*ALL, "cancelled"])


PREVIEWABLE_MEDIA_TYPES = frozenset({"images", "video", "audio"})
THREE_D_EXTENSIONS = (".obj", ".fbx", ".gltf", ".glb")
SORT_FIELDS = ("created_at", "execution_duration")
SORT_ORDERS = ("asc", "desc")

_END_EVENTS = frozenset({ExecutionSuccess.name, ExecutionError.name, ExecutionInterrupted.name})


class OutputsSummary(NamedTuple):
    """`(outputs_count, preview_output)`; a tuple because ComfyUI's callers unpack it."""

    count: int  # type: ignore[assignment]  # ComfyUI's field name; it hides tuple.count, unused here
    preview: dict[str, Any] | None


def is_previewable(media_type: str, item: Mapping[str, Any]) -> bool:
    """Whether an output item can be previewed: its media key, its MIME `format`, or a 3D filename."""
    if media_type in PREVIEWABLE_MEDIA_TYPES:
        return True
    fmt = item.get("format") or ""
    if isinstance(fmt, str) and fmt.startswith(("video/", "audio/")):
        return True
    filename = item.get("filename") or ""
    return isinstance(filename, str) and filename.lower().endswith(THREE_D_EXTENSIONS)


def get_outputs_summary(outputs: Mapping[str, Any]) -> OutputsSummary:
    """Count output items and pick the preview (docs/protocol.md §8).

    Counts every dict inside every list value of every node's output, except under `animated`.
    The preview is the first previewable item with `type == "output"`, else the first previewable
    item at all, copied with `nodeId` and `mediaType` added.
    """
    count = 0
    preview: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, Mapping):
            continue
        for media_type, items in node_outputs.items():
            # `animated` is a list of flags beside the images, not items.
            if media_type == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, Mapping):
                    continue
                count += 1
                if preview is not None or not is_previewable(media_type, item):
                    continue
                enriched = {**item, "nodeId": node_id, "mediaType": media_type}
                if item.get("type") == "output":
                    preview = enriched
                elif fallback is None:
                    fallback = enriched
    return OutputsSummary(count, preview or fallback)


def _metadata(extra_data: Any) -> tuple[Any, Any]:
    """`(create_time, workflow_id)` from a prompt's extra_data."""
    if not isinstance(extra_data, Mapping):
        return None, None
    pnginfo = extra_data.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, Mapping) else None
    workflow_id = workflow.get("id") if isinstance(workflow, Mapping) else None
    return extra_data.get("create_time"), workflow_id


def _pruned(job: dict[str, Any]) -> dict[str, Any]:
    # Job objects omit keys whose value would be null (docs/protocol.md §8).
    return {key: value for key, value in job.items() if value is not None}


def _queue_wire(item: QueueItem | Sequence[Any]) -> Sequence[Any]:
    return item.to_wire() if isinstance(item, QueueItem) else item


def _history_wire(entry: HistoryEntry | Mapping[str, Any]) -> Mapping[str, Any]:
    return entry.to_wire() if isinstance(entry, HistoryEntry) else entry


def normalize_queue_item(item: QueueItem | Sequence[Any], status: str) -> dict[str, Any]:
    """The job of a pending or running queue item (sensitive data already stripped)."""
    number, prompt_id, _prompt, extra_data, _outputs = _queue_wire(item)[:5]
    create_time, workflow_id = _metadata(extra_data)
    return _pruned({
        "id": prompt_id,
        "status": status,
        "priority": number,
        "create_time": create_time,
        "outputs_count": 0,
        "workflow_id": workflow_id,
    })


def normalize_history_item(prompt_id: str, history_item: HistoryEntry | Mapping[str, Any],
                           include_outputs: bool = False) -> dict[str, Any]:
    """The job of a history entry; with `include_outputs`, the `/api/jobs/{id}` detail form."""
    wire = _history_wire(history_item)
    number, _id, prompt, extra_data, _outputs = wire["prompt"][:5]
    create_time, workflow_id = _metadata(extra_data)

    status_info = wire.get("status", {}) or {}
    # Only "error" fails; interrupted runs are "error" too (docs/protocol.md §8).
    status = JobStatus.FAILED if status_info.get("status_str") == "error" else JobStatus.COMPLETED

    outputs = wire.get("outputs", {})
    outputs_count, preview_output = get_outputs_summary(outputs or {})

    start_time = end_time = execution_error = None
    for message in status_info.get("messages") or ():
        if not isinstance(message, (list, tuple)) or len(message) < 2:
            continue
        event, data = message[0], message[1]
        if not isinstance(data, Mapping):
            continue
        if event == ExecutionStart.name:
            start_time = data.get("timestamp")
        elif event in _END_EVENTS:
            end_time = data.get("timestamp")
            if event == ExecutionError.name:
                execution_error = data

    job = _pruned({
        "id": prompt_id,
        "status": status,
        "priority": number,
        "create_time": create_time,
        "execution_start_time": start_time,
        "execution_end_time": end_time,
        "execution_error": execution_error,
        "outputs_count": outputs_count,
        "preview_output": preview_output,
        "workflow_id": workflow_id,
    })
    if include_outputs:
        job["outputs"] = outputs
        job["execution_status"] = wire.get("status", {})
        job["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return job


def apply_sorting(jobs: list[dict[str, Any]], sort_by: str, sort_order: str) -> list[dict[str, Any]]:
    """Stable sort by `create_time` or, for `execution_duration`, end − start; missing values count as 0."""
    if sort_by == "execution_duration":
        def key(job: Mapping[str, Any]) -> Any:
            start = job.get("execution_start_time")
            end = job.get("execution_end_time")
            return end - start if start and end else 0
    else:
        def key(job: Mapping[str, Any]) -> Any:
            return job.get("create_time") or 0
    return sorted(jobs, key=key, reverse=sort_order == "desc")


def get_all_jobs(running: Iterable[Any], queued: Iterable[Any], history: Mapping[str, Any],
                 status_filter: Sequence[str] | None = None, workflow_id: str | None = None,
                 sort_by: str = "created_at", sort_order: str = "desc", limit: int | None = None,
                 offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """`(page of jobs, total after filtering)` from parsed parameters (ComfyUI's helper of that name).

    Candidates are running, then pending (heap order), then history (insertion order) before
    the stable sort. An empty `status_filter` list selects nothing; None selects everything.
    """
    wanted = JobStatus.ALL if status_filter is None else status_filter
    jobs: list[dict[str, Any]] = []
    if JobStatus.IN_PROGRESS in wanted:
        jobs.extend(normalize_queue_item(item, JobStatus.IN_PROGRESS) for item in running)
    if JobStatus.PENDING in wanted:
        jobs.extend(normalize_queue_item(item, JobStatus.PENDING) for item in queued)
    want_completed = JobStatus.COMPLETED in wanted
    want_failed = JobStatus.FAILED in wanted
    if want_completed or want_failed:
        for prompt_id, entry in history.items():
            failed = _status_str(entry) == "error"
            if (want_failed if failed else want_completed):
                jobs.append(normalize_history_item(prompt_id, entry))
    if workflow_id:
        jobs = [job for job in jobs if job.get("workflow_id") == workflow_id]
    jobs = apply_sorting(jobs, sort_by, sort_order)
    total = len(jobs)
    if offset > 0:
        jobs = jobs[offset:]
    if limit is not None:
        jobs = jobs[:limit]
    return jobs, total


def _status_str(entry: HistoryEntry | Mapping[str, Any]) -> Any:
    if isinstance(entry, HistoryEntry):
        return entry.status_str
    return (entry.get("status") or {}).get("status_str")


def _bad_request(message: str) -> BadRequestError:
    return BadRequestError(message, 400, {"error": message})


def _parse_int(raw: str | int, message: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _bad_request(message) from None


def list_jobs(running: Iterable[Any], pending: Iterable[Any], history_entries: Mapping[str, Any] | History, *,
              status: str | None = None, workflow_id: str | None = None,
              sort_by: str | None = "created_at", sort_order: str | None = "desc",
              limit: str | int | None = None, offset: str | int | None = 0) -> dict[str, Any]:
    """The full `GET /api/jobs` body from raw query values (None = parameter absent).

    Validates in ComfyUI's order (status, sort_by, sort_order, limit, offset) and raises
    `BadRequestError(message, 400, {"error": message})` with its exact messages.
    """
    status_filter = None
    if status:
        status_filter = [value.strip().lower() for value in status.split(",") if value.strip()]
        invalid = [value for value in status_filter if value not in JobStatus.ACCEPTED_FILTERS]
        if invalid:
            raise _bad_request(f"Invalid status value(s): {', '.join(invalid)}. "
                               f"Valid values: {', '.join(JobStatus.ALL)}")
    sort_by = (sort_by if sort_by is not None else "created_at").lower()
    sort_order = (sort_order if sort_order is not None else "desc").lower()
    if sort_by not in SORT_FIELDS:
        raise _bad_request("sort_by must be 'created_at' or 'execution_duration'")
    if sort_order not in SORT_ORDERS:
        raise _bad_request("sort_order must be 'asc' or 'desc'")
    parsed_limit = None
    if limit is not None:
        parsed_limit = _parse_int(limit, "limit must be an integer")
        if parsed_limit <= 0:
            raise _bad_request("limit must be a positive integer")
    parsed_offset = 0 if offset is None else max(0, _parse_int(offset, "offset must be an integer"))

    if isinstance(history_entries, History):
        history_entries = {entry.prompt_id: entry for entry in history_entries.entries()}
    jobs, total = get_all_jobs(running, pending, history_entries, status_filter=status_filter,
                               workflow_id=workflow_id, sort_by=sort_by, sort_order=sort_order,
                               limit=parsed_limit, offset=parsed_offset)
    return {
        "jobs": jobs,
        "pagination": {
            "offset": parsed_offset,
            "limit": parsed_limit,
            "total": total,
            "has_more": parsed_offset + len(jobs) < total,
        },
    }


def get_job(job_id: str, running: Iterable[Any], pending: Iterable[Any],
            history: Mapping[str, Any] | History) -> dict[str, Any]:
    """The `GET /api/jobs/{job_id}` body: history first (detail form), then running, then pending.

    Raises NotFoundError when the id is nowhere.
    """
    entry = history.entry(job_id) if isinstance(history, History) else history.get(job_id)
    if entry is not None:
        return normalize_history_item(job_id, entry, include_outputs=True)
    for item in running:
        if _queue_wire(item)[1] == job_id:
            return normalize_queue_item(item, JobStatus.IN_PROGRESS)
    for item in pending:
        if _queue_wire(item)[1] == job_id:
            return normalize_queue_item(item, JobStatus.PENDING)
    raise NotFoundError("Job not found")
