"""The portal's one settings module, read from the environment.

With ``DJANGO_DEBUG`` unset or false these are production settings: ``SECRET_KEY``,
``ALLOWED_HOSTS`` and ``DATABASE_URL`` must be given. With ``DJANGO_DEBUG=true`` anything unset
falls back to the embedded default: SQLite and a filesystem Celery broker under ``var/``, and
the local AWS sandbox on 127.0.0.1. README.md has the full table of variables.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from portal import env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.string("PORTAL_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env.boolean("DJANGO_DEBUG", default=False)
if not DEBUG:
    env.require(["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])

SECRET_KEY = env.string("SECRET_KEY", "dev-only-not-secret-" + "x" * 40)
# Old keys still accepted for signatures (sessions, password resets) while a rotation settles.
SECRET_KEY_FALLBACKS = env.string_list("SECRET_KEY_FALLBACKS")
ALLOWED_HOSTS = env.string_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.string_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "portal",
    "governance",
    "workspaces",
    "costs",
]

MIDDLEWARE = [
    # First, so every response is counted and logged with its request id, the HTTPS
    # redirect and static files included: there is no separate access log (gunicorn_conf.py).
    "portal.request_context.RequestContextMiddleware",
    "portal.observability.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.PortalLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a locked-out sign-in into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Local runs serve assets through staticfiles' finders; production serves the collected,
    # hashed and compressed files from the web process itself.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env.url(
    "DATABASE_URL",
    schemes=("postgres", "postgresql", "sqlite"),
    default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The embedded default runs web, worker and beat against one file: wait for locks
    # instead of failing, and take the write lock at BEGIN so two writers never deadlock.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
# API throttle counts live here: production points every web process at one Redis (a
# per-process memory cache would multiply each limit by the number of processes).
CACHE_URL = env.url("CACHE_URL", schemes=("redis", "rediss", "locmem"), default="locmem://portal")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if CACHE_URL.startswith("locmem:")
    else {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out username before any password is checked (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Single sign-on (OpenID Connect, mozilla-django-oidc); docs/sso.md ----------------------
OIDC_ENABLED = env.boolean("OIDC_ENABLED", default=False)
OIDC_PROVIDER_NAME = env.string("OIDC_PROVIDER_NAME", "your agency account")
OIDC_RP_CLIENT_ID = env.string("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env.string("OIDC_RP_CLIENT_SECRET")
_HTTP = ("https", "http")
# The discovery document fills in any endpoint not given explicitly (portal.oidc).
OIDC_OP_DISCOVERY = env.url("OIDC_OP_DISCOVERY", schemes=_HTTP)
OIDC_OP_AUTHORIZATION_ENDPOINT = env.url("OIDC_OP_AUTHORIZATION_ENDPOINT", schemes=_HTTP)
OIDC_OP_TOKEN_ENDPOINT = env.url("OIDC_OP_TOKEN_ENDPOINT", schemes=_HTTP)
OIDC_OP_USER_ENDPOINT = env.url("OIDC_OP_USER_ENDPOINT", schemes=_HTTP)
OIDC_OP_JWKS_ENDPOINT = env.url("OIDC_OP_JWKS_ENDPOINT", schemes=_HTTP)
OIDC_RP_SIGN_ALGO = env.string("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env.string("OIDC_RP_SCOPES", "openid email profile")
OIDC_USERNAME_CLAIM = env.string("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env.string("OIDC_GROUPS_CLAIM", "groups")
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.integer(
    "OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 15 * 60, minimum=60
)
OIDC_USE_PKCE = True
OIDC_TIMEOUT = 10  # seconds for each call to the identity provider
OIDC_AUTHENTICATE_CLASS = "portal.oidc.SignInView"
OIDC_CALLBACK_CLASS = "portal.oidc.CallbackView"
if OIDC_ENABLED:
    if not OIDC_RP_CLIENT_ID or not (OIDC_OP_DISCOVERY or OIDC_OP_AUTHORIZATION_ENDPOINT):
        raise ImproperlyConfigured(
            "OIDC_ENABLED needs OIDC_RP_CLIENT_ID and either OIDC_OP_DISCOVERY or the"
            " OIDC_OP_*_ENDPOINT variables"
        )
    AUTHENTICATION_BACKENDS.append("portal.oidc.PortalOIDCBackend")
    # Silently renews the ID token with the provider every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "portal.oidc.SessionRefresh",
    )

# --- Break-glass lockout (django-axes): local passwords only ---------------------------------
AXES_FAILURE_LIMIT = env.integer("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.integer("AXES_COOLOFF_MINUTES", 15, minimum=1))
# Per username, whatever the address: guessing from many machines is stopped too. The price
# (anyone can lock a known name for the cool-off) is paid only by break-glass accounts.
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 warns that a lockout without the address can be dodged by rotating user agents or
# cookies; a lockout keyed on the username alone cannot be, so the warning does not apply.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.sso_views.locked_out"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("PORTAL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
# Third-party assets come from npm packages pinned in package-lock.json; each is mounted under
# its own prefix so templates never reach into node_modules directly.
NODE_MODULES = BASE_DIR / "node_modules"
STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Only what pages load: the compiled CSS and JS, and the fonts and images the CSS uses.
    *(
        (f"uswds/{part}", NODE_MODULES / "@uswds" / "uswds" / "dist" / part)
        for part in ("css", "fonts", "img", "js")
    ),
    ("htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("chartjs", NODE_MODULES / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------------
# A strict policy: scripts only from our origin or with the per-request nonce, no inline
# handlers, no eval. htmx is configured (base.html) not to inject its indicator styles.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.integer("SESSION_COOKIE_AGE", 8 * 3600, minimum=300)
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Browsers accept a __Host- cookie only when Secure, for path / and without a Domain, so
    # a sibling subdomain can neither read nor plant the session or CSRF cookie.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", default=True)
    # Behind a TLS-terminating proxy (the usual deployment) the proxy says the scheme.
    if env.boolean("SECURE_PROXY_SSL_HEADER", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# --- E-mail ---------------------------------------------------------------------------------
_mail_backend = env.string(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {
    "default": {
        "BACKEND": _mail_backend,
        "OPTIONS": {
            "host": env.string("EMAIL_HOST", "localhost"),
            "port": env.integer("EMAIL_PORT", 25, minimum=1),
            "username": env.string("EMAIL_HOST_USER"),
            "password": env.string("EMAIL_HOST_PASSWORD"),
            "use_tls": env.boolean("EMAIL_USE_TLS", default=False),
        }
        if _mail_backend.endswith("smtp.EmailBackend")
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "ml-portal@localhost")

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.url(
    "CELERY_BROKER_URL", schemes=("redis", "rediss", "filesystem", "memory"), default=""
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]
if CELERY_BROKER_URL:
    # Redis redelivers an unacknowledged message after this long; it must outlast the
    # longest task (CELERY_TASK_TIME_LIMIT) or a slow task would run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    _queue_dir = VAR_DIR / "celery" / "queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "processed").mkdir(parents=True, exist_ok=True)
    (VAR_DIR / "celery" / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # Broadcast (pidbox) messages; kombu's default is ./control in the working directory.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# acks_late is switched on per task, only for tasks that are idempotent.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT"
    )
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- AWS ------------------------------------------------------------------------------------
# In production an unset AWS_ENDPOINT_URL means real AWS through boto3's credential chain.
# In a local run (DEBUG) it means the sandbox on SANDBOX_PORT.
SANDBOX_PORT = env.integer("SANDBOX_PORT", 4566, minimum=1)
AWS_ENDPOINT_URL = env.url(
    "AWS_ENDPOINT_URL",
    schemes=("http", "https"),
    default=f"http://127.0.0.1:{SANDBOX_PORT}" if DEBUG else "",
)
# The sandbox accepts any credentials; local runs should not need an AWS profile to exist.
AWS_SANDBOX_CREDENTIALS = env.boolean(
    "AWS_SANDBOX_CREDENTIALS",
    default=DEBUG and AWS_ENDPOINT_URL.startswith(("http://127.0.0.1", "http://localhost")),
)
AWS_REGION = env.string("AWS_REGION", env.string("AWS_DEFAULT_REGION", "us-east-1"))
AWS_ROLE_ARN = env.string("AWS_ROLE_ARN")
AWS_ROLE_EXTERNAL_ID = env.string("AWS_ROLE_EXTERNAL_ID")
AWS_CONNECT_TIMEOUT = env.decimal_number("AWS_CONNECT_TIMEOUT", 5.0)
AWS_READ_TIMEOUT = env.decimal_number("AWS_READ_TIMEOUT", 30.0)
AWS_MAX_ATTEMPTS = env.integer("AWS_MAX_ATTEMPTS", 5, minimum=1)

# --- Costs ----------------------------------------------------------------------------------
# Cost Explorer revises recent days; each sync re-reads this many days before today.
COST_SYNC_LOOKBACK_DAYS = env.integer("COST_SYNC_LOOKBACK_DAYS", 4, minimum=1)

# --- Compliance history ---------------------------------------------------------------------
# Hourly evaluations add a row per notebook and control; the daily prune (governance/
# retention.py) keeps every run this many days, then the last run of each UTC day per team.
COMPLIANCE_EVERY_RUN_DAYS = env.integer("COMPLIANCE_EVERY_RUN_DAYS", 14, minimum=1)
# Results, summaries and runs older than this are deleted; 0 keeps them forever.
COMPLIANCE_RETENTION_DAYS = env.integer("COMPLIANCE_RETENTION_DAYS", 400, minimum=0)
if 0 < COMPLIANCE_RETENTION_DAYS < COMPLIANCE_EVERY_RUN_DAYS:
    raise ImproperlyConfigured(
        f"COMPLIANCE_RETENTION_DAYS must be 0 (keep forever) or at least "
        f"COMPLIANCE_EVERY_RUN_DAYS ({COMPLIANCE_EVERY_RUN_DAYS}), not {COMPLIANCE_RETENTION_DAYS}"
    )

# --- REST API -------------------------------------------------------------------------------


def _throttle_rate(name: str, value: str) -> str:
    # DRF reads "N/period" by the period's first letter, and only on the first request.
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must be a rate such as 1200/min; got {value!r}")
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # Per signed-in user (by user id, whichever way they authenticated) and per client address
    # for anonymous calls; counted in the shared cache so every web process sees one count.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": _throttle_rate("API_THROTTLE_USER", env.string("API_THROTTLE_USER", "1200/min")),
        "anon": _throttle_rate("API_THROTTLE_ANON", env.string("API_THROTTLE_ANON", "60/min")),
    },
    # The client address is the last one the proxies in front of us appended; without a proxy
    # X-Forwarded-For is the caller's own claim and is ignored.
    "NUM_PROXIES": env.integer("API_TRUSTED_PROXIES", 0 if DEBUG else 1, minimum=0),
}
API_TOKEN_MAX_ACTIVE = env.integer("API_TOKEN_MAX_ACTIVE", 10, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "ML workspace portal API",
    "DESCRIPTION": "Request, approve and operate governed SageMaker workspaces.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from the pinned sidecar package, never a CDN (no internet in many agencies).
    "SWAGGER_UI_DIST": "SIDECAR",
    # Deep links put a link inside each operation's button, which screen readers cannot use
    # (axe: nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api.schema.document_common_errors",
    ],
}

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.string("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {LOG_LEVEL!r}"
    )
# JSON lines for log collectors in production, readable text for local runs. Every record
# carries request_id, user_id, path, task_name and task_id (portal/observability.py).
LOG_FORMAT = env.string("LOG_FORMAT", "text" if DEBUG else "json").lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.observability.ContextFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(task_name)s] "
            "%(message)s"
        },
        "json": {"()": "portal.observability.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # Python's warnings (captured in portal/apps.py), in the same format as the rest.
        "py.warnings": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- Metrics (portal/metrics.py) ------------------------------------------------------------
# /metrics answers a direct connection from these networks, or anyone with the bearer token;
# a request relayed by a proxy (X-Forwarded-For) must carry the token.
METRICS_ENABLED = env.boolean("METRICS_ENABLED", default=True)
METRICS_TOKEN = env.string("METRICS_TOKEN")
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False)
        for item in env.string_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None
# gunicorn and Celery prefork run several processes: prometheus_client shares their values
# through files here. It reads the variable itself at import; the settings only check it.
PROMETHEUS_MULTIPROC_DIR = env.string("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# The Celery worker serves its own metrics here (0: not at all).
WORKER_METRICS_PORT = env.integer("WORKER_METRICS_PORT", 0, minimum=0)
WORKER_METRICS_ADDRESS = env.string("WORKER_METRICS_ADDRESS", "127.0.0.1")

# --- Portal ---------------------------------------------------------------------------------
PORTAL_NAME = env.string("PORTAL_NAME", "ML Workspaces")
PORTAL_AGENCY = env.string("PORTAL_AGENCY", "An official website of your agency")
