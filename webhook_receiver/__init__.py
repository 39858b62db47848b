"""The webhook receiver: a thin Flask app that verifies, stores, enqueues and answers.

``create_app()`` builds it; ``tds receiver`` serves it with gunicorn.
"""

from webhook_receiver.app import create_app  # noqa: F401
