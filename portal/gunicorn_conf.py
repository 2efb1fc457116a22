"""gunicorn's settings for the web container (``gunicorn -c portal/gunicorn_conf.py``).

Its own lines (start, worker boots and exits, timeouts) are written like the portal's: one
JSON object per line in production (``LOG_FORMAT``, default json unless ``DJANGO_DEBUG``), so
a log collector reads every line of every container the same way. There is no access log:
the portal logs each request itself (``portal.request``: method, route, status, duration,
request id, user), and a second, plain-text line per request would only be noise.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()

_debug = os.environ.get("DJANGO_DEBUG", "").lower() in {"1", "true", "yes", "on"}
_format = os.environ.get("LOG_FORMAT", "text" if _debug else "json").lower()

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # As portal.observability.json_formatter (which needs Django's settings loaded).
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _format == "json" else "text",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "propagate": False},
    },
}
