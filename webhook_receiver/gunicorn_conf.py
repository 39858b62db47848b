"""gunicorn settings for ``tds receiver`` and ``tds status-page``: a worker that exits drops
its live metrics (prometheus-client multiprocess mode, ``TDS_METRICS_DIR``)."""


def child_exit(server, worker):
    from tds import metrics

    metrics.mark_process_dead(worker.pid)
