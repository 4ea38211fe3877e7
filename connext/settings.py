"""Connext settings: everything comes from the environment (django-environ).

Every variable has a safe default so the first run needs nothing installed:
SQLite, an embedded Celery broker on the filesystem, and the console channel.
The README lists every variable.
"""

import contextlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A `.env` beside manage.py is read if present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The default key is for the quick start and the tests only: anyone can read it here, and
# sign sessions and unsubscribe links with it. With DEBUG off, it (or .env.example's
# placeholder) is refused unless ALLOW_DEVELOPMENT_SECRET_KEY says this is such a run:
# `./dev up` and the test settings (tests/settings.py) set it, nothing in production does.
DEVELOPMENT_SECRET_KEY = "connext-insecure-development-key-change-me"
SECRET_KEY = env("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
if (
    SECRET_KEY in (DEVELOPMENT_SECRET_KEY, "replace-me-with-a-generated-secret")
    and not DEBUG
    and not env.bool("ALLOW_DEVELOPMENT_SECRET_KEY", default=False)
):
    raise ImproperlyConfigured(
        "SECRET_KEY is unset or a published placeholder, and DEBUG is off: Connext does not start "
        "like this. Set SECRET_KEY to a long random value, e.g. the output of "
        '`python -c "import secrets; print(secrets.token_urlsafe(50))"`. (The quick start and the tests '
        "run on the development key with ALLOW_DEVELOPMENT_SECRET_KEY=true, which `./dev up` sets.)"
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://localhost:8000").rstrip("/")
ALLOW_PRIVATE_URLS = env.bool("ALLOW_PRIVATE_URLS", default=False)

# Where the embedded mode keeps its files (broker queue, task results, static).
VAR_DIR = Path(env("CONNEXT_VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    # The operator's console first: its admin templates (base_site, index) are found before Django's.
    "panel",
    "panel.apps.ConnextAdminConfig",  # django.contrib.admin, on our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "connext",
    "apikeys",
    "groups",
    "subscribers",
    "segments",
    "webhooks",
    "logs",
    "devices",
    "accounts",
    "analytics",
    "blasts",
    "schedules",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "connext.middleware.APIResponseHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Provider callbacks (connext/wsgi.py): no cookies, sessions, CSRF tokens or users there.
HOOKS_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware"]

ROOT_URLCONF = "connext.urls"
WSGI_APPLICATION = "connext.wsgi.application"
# `/api/v1/groups/` must reach the same view as `/api/v1/groups` without a
# redirect (a redirected POST loses its body): routes accept both forms.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions queue writers instead of failing them.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    # A `SELECT 1` before each request's first query: a round trip per request (0.2-0.5 ms,
    # a fifth of a provider callback). Off: a connection the server dropped fails one
    # request, then Django opens a new one.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
    # Django's cursors bind client-side and never prepare; this lets the few
    # statements that ask for it (the API-key lookup, run on every request) keep
    # their plan on the connection.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "connext.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "static")))
with contextlib.suppress(OSError):  # whitenoise warns on every start when it is missing
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (tests, a bare checkout) whitenoise serves from the apps.
WHITENOISE_USE_FINDERS = True

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
USE_X_FORWARDED_HOST = env.bool("BEHIND_PROXY", default=False)

# --- Providers ------------------------------------------------------------------
# Empty means unset: without credentials every channel is the console channel.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", default="") or None  # None: Twilio's own
# WhatsApp through Twilio: the WhatsApp-enabled sender (E.164, sent as whatsapp:+...); unset: no
# WhatsApp through Twilio (the console takes whatsapp deliveries).
TWILIO_WHATSAPP_FROM = env("TWILIO_WHATSAPP_FROM", default="")
# RCS through Twilio: a Messaging Service (MG...) with an RCS sender and an SMS sender for the fallback.
TWILIO_RCS_MESSAGING_SERVICE_SID = env("TWILIO_RCS_MESSAGING_SERVICE_SID", default="")
SENDGRID_API_KEY = env("SENDGRID_API_KEY", default="")
SENDGRID_FROM_EMAIL = env("SENDGRID_FROM_EMAIL", default="")
SENDGRID_WEBHOOK_PUBLIC_KEY = env("SENDGRID_WEBHOOK_PUBLIC_KEY", default="")
SENDGRID_API_BASE_URL = env("SENDGRID_API_BASE_URL", default="") or None  # None: SendGrid's own

# --- Sending ---------------------------------------------------------------------
DISPATCH_BATCH_SIZE = env.int("DISPATCH_BATCH_SIZE", default=500)  # deliveries leased per claim
DISPATCH_CONCURRENCY = env.int("DISPATCH_CONCURRENCY", default=100)  # provider requests in flight per worker
DISPATCH_TASKS = env.int("DISPATCH_TASKS", default=4)  # dispatchers started per message
DISPATCH_TASK_SECONDS = env.float("DISPATCH_TASK_SECONDS", default=60.0)  # then a dispatcher re-enqueues itself
# A claimed batch is leased for DELIVERY_LEASE_SECONDS and the dispatcher renews the lease every
# DELIVERY_LEASE_RENEW_SECONDS while it works: a dead dispatcher's rows are free again within the
# lease, and a live one (a slow provider, a low rate limit) never loses its rows.
DELIVERY_LEASE_SECONDS = env.float("DELIVERY_LEASE_SECONDS", default=30.0)
DELIVERY_LEASE_RENEW_SECONDS = env.float("DELIVERY_LEASE_RENEW_SECONDS", default=DELIVERY_LEASE_SECONDS / 6)
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=5)
DELIVERY_RETRY_BASE_SECONDS = env.float("DELIVERY_RETRY_BASE_SECONDS", default=10.0)
# How long a throttled send (the provider's Retry-After) keeps being retried without spending an attempt.
DELIVERY_RETRY_MAX_SECONDS = env.float("DELIVERY_RETRY_MAX_SECONDS", default=6 * 3600.0)
SWEEP_STALE_SECONDS = env.float("SWEEP_STALE_SECONDS", default=20.0)
SWEEP_INTERVAL = env.float("SWEEP_INTERVAL", default=15.0)  # seconds between sweeps (beat)
TWILIO_RATE_LIMIT = env.int("TWILIO_RATE_LIMIT", default=0)  # sends/s across workers; 0 = none
SENDGRID_RATE_LIMIT = env.int("SENDGRID_RATE_LIMIT", default=0)
TWILIO_WHATSAPP_RATE_LIMIT = env.int("TWILIO_WHATSAPP_RATE_LIMIT", default=0)  # WhatsApp sends/s; 0 = none
TWILIO_RCS_RATE_LIMIT = env.int("TWILIO_RCS_RATE_LIMIT", default=0)  # RCS sends/s; 0 = none
CONSOLE_DELIVERY_DELAY = env.float("CONSOLE_DELIVERY_DELAY", default=2.0)
# Estimate prices: per SMS segment, per MMS, per call, per email, per WhatsApp message, per RCS message.
PRICE_SMS = env.float("PRICE_SMS", default=0.0079)
PRICE_MMS = env.float("PRICE_MMS", default=0.02)
PRICE_VOICE = env.float("PRICE_VOICE", default=0.014)
PRICE_EMAIL = env.float("PRICE_EMAIL", default=0.001)
PRICE_WHATSAPP = env.float("PRICE_WHATSAPP", default=0.005)
PRICE_RCS = env.float("PRICE_RCS", default=0.0083)
PRICE_CURRENCY = env("PRICE_CURRENCY", default="USD")

# --- Admin console -------------------------------------------------------------
# Seconds at most the dashboard keeps an organization's delivery and failure rates per channel
# (they group 30 days of deliveries; kept only while no status changes); the rest is always live.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=60)

# --- Schedules -------------------------------------------------------------------
SCHEDULE_TICK_SECONDS = env.float("SCHEDULE_TICK_SECONDS", default=5.0)  # how often beat fires due schedules
SCHEDULE_TICK_BATCH = env.int("SCHEDULE_TICK_BATCH", default=10000)  # schedules fired per transaction
SCHEDULE_FANOUT_TASKS = env.int("SCHEDULE_FANOUT_TASKS", default=16)  # fan-out tasks a tick's batch is split into

# --- Webhooks ------------------------------------------------------------------
# Webhook work has a queue of its own (run a worker on it: `celery -A connext worker -Q webhooks`),
# so a slow or dead endpoint never holds up sending or callbacks.
WEBHOOK_QUEUE = env("WEBHOOK_QUEUE", default="webhooks")
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Seconds before each retry of a failed attempt (Standard Webhooks' / Svix's schedule: about a day).
WEBHOOK_RETRY_SCHEDULE = env.list(
    "WEBHOOK_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOK_DISABLE_AFTER_SECONDS = env.float("WEBHOOK_DISABLE_AFTER_SECONDS", default=24 * 3600.0)
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", default=100)  # requests in flight per endpoint
# A batch is all in flight at once, so it ends within the timeout: its lease only needs a margin
# over that, and a dead dispatcher's rows are sent again soon after.
WEBHOOK_LEASE_SECONDS = env.float("WEBHOOK_LEASE_SECONDS", default=WEBHOOK_TIMEOUT_SECONDS + 5)
WEBHOOK_DRAIN_SECONDS = env.float("WEBHOOK_DRAIN_SECONDS", default=20.0)  # then a dispatcher lets other endpoints in
WEBHOOK_SWEEP_INTERVAL = env.float("WEBHOOK_SWEEP_INTERVAL", default=5.0)  # seconds between sweeps (beat)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)  # then deliveries are purged (hourly)

# --- Redis: broker and cache -------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery -------------------------------------------------------------------
# With Redis: Redis is broker and result store. Without it, the embedded mode
# uses kombu's filesystem transport, so a real worker process runs beside the
# web server with nothing else installed.
if REDIS_URL:
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "broker"
    for _folder in (_broker_dir, VAR_DIR / "results", VAR_DIR / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
    CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=f"file://{VAR_DIR / 'results'}")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(VAR_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="connext")
# A worker given no -Q consumes both; production runs one worker per queue (docker-compose.yml).
CELERY_TASK_QUEUES = (Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(WEBHOOK_QUEUE))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Tasks are named `<app>.<what it does>` (`name=` on the decorator), not by the module path
# Celery defaults to, so a moved function keeps its name in queued messages and here.
# connext's follow it; subscribers' and blasts' still carry their default names.
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-records": {"task": "connext.purge_idempotency_records", "schedule": 3600.0},
    "requeue-stalled-imports": {"task": "subscribers.requeue_stalled_imports", "schedule": 60.0},
    "sweep-deliveries": {"task": "blasts.sweep", "schedule": SWEEP_INTERVAL},
    # A tick the worker could not take in time is dropped: the next one fires the same schedules.
    "fire-schedules": {
        "task": "schedules.tick",
        "schedule": SCHEDULE_TICK_SECONDS,
        "options": {"expires": SCHEDULE_TICK_SECONDS * 2},
    },
    "sweep-webhooks": {
        "task": "webhooks.sweep",
        "schedule": WEBHOOK_SWEEP_INTERVAL,
        "options": {"queue": WEBHOOK_QUEUE},
    },
}

# --- Android gateway devices (devices/queue.py, docs/devices.md) ---------------------
# A claimed text not reported within the lease goes back to the queue, at most
# DEVICE_MAX_ATTEMPTS claims; a phone silent for DEVICE_OFFLINE_RELEASE_SECONDS (three missed
# 15-s heartbeats) loses its claims at once. With no phone able to take it, a text waits
# DEVICE_FALLBACK_SECONDS, then goes through the organization's normal channel.
DEVICE_LEASE_SECONDS = env.float("DEVICE_LEASE_SECONDS", default=120.0)
DEVICE_MAX_ATTEMPTS = env.int("DEVICE_MAX_ATTEMPTS", default=3)
DEVICE_OFFLINE_RELEASE_SECONDS = env.float("DEVICE_OFFLINE_RELEASE_SECONDS", default=45.0)
DEVICE_FALLBACK_SECONDS = env.float("DEVICE_FALLBACK_SECONDS", default=120.0)
DEVICE_TASKS_PER_POLL = env.int("DEVICE_TASKS_PER_POLL", default=10)  # most texts a phone holds at once
DEVICE_POOL_ORGANIZATION = env("DEVICE_POOL_ORGANIZATION", default="")  # name of the org whose phones are the pool
DEVICE_SWEEP_INTERVAL = env.float("DEVICE_SWEEP_INTERVAL", default=5.0)  # seconds between devices.release_claims
CELERY_BEAT_SCHEDULE["release-device-claims"] = {"task": "devices.release_claims", "schedule": DEVICE_SWEEP_INTERVAL}

# --- Accounts and analytics (accounts/, analytics/, docs/accounts.md) ----------------------
# How often the analytics rollups' shards of past hours are folded into one row each.
ANALYTICS_COMPACT_SECONDS = env.float("ANALYTICS_COMPACT_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE["compact-analytics"] = {"task": "analytics.compact", "schedule": ANALYTICS_COMPACT_SECONDS}

# --- API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["apikeys.permissions.RolePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["apikeys.throttling.APIKeyRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "connext.pagination.LimitOffsetPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["connext.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "connext.schema.ConnextAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "connext.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 25,
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
    "COERCE_DECIMAL_TO_STRING": False,
}

# Requests per minute per API key when the organization sets none.
DEFAULT_RATE_LIMIT = env.int("DEFAULT_RATE_LIMIT", default=600)
# `limits` storage: Redis when available, else per-process memory (embedded).
RATELIMIT_STORAGE_URL = env("RATELIMIT_STORAGE_URL", default=REDIS_URL or "memory://")
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

# Subscriber imports: largest upload or fetched file, and rows per transaction.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
IMPORT_CHUNK_ROWS = env.int("IMPORT_CHUNK_ROWS", default=5000)

SPECTACULAR_SETTINGS = {
    "TITLE": "Connext REST API",
    "DESCRIPTION": (
        "Manage subscribers, send blasts over SMS, voice and email, schedule them and read "
        'delivery logs. Every error is JSON `{"message": ...}`; lists are bare arrays with the '
        "total in `X-Total-Count`; booleans are returned as 0/1."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["connext.schema.strip_trailing_slash"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "connext.schema.exact_inputs"],
    "ENUM_NAME_OVERRIDES": {
        "ImportStatusEnum": "subscribers.models.ImportJob.Status",
        "CreditModeEnum": "accounts.serializers.CREDIT_MODES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # twilio's SDK logs every request and response at INFO: thousands of lines a blast.
    "loggers": {"django.request": {"level": "ERROR"}, "twilio": {"level": "WARNING"}},
}
