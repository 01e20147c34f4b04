"""Django settings, driven by the environment (see .env.example).

DJANGO_ENV picks the defaults: `production` (the default: fails closed) requires a secret key, the
allowed hosts, a database and a broker; `development` and `test` run on embedded parts under `var/`
(SQLite, Celery's filesystem broker, local media) with a secret key generated once and kept there.
"""

from __future__ import annotations

import os
from pathlib import Path

import django_stubs_ext

from config.env import Environment, local_secret_key

# Lets Django's generic classes be subscripted (ModelAdmin[Job]) at run time, as the types say.
django_stubs_ext.monkeypatch()

REPO_DIR = Path(__file__).resolve().parents[2]
PLATFORM_DIR = REPO_DIR / "platform"

env = Environment(os.environ)

ENVIRONMENT = env.choice("DJANGO_ENV", ("production", "development", "test"), default="production")
PRODUCTION = ENVIRONMENT == "production"
TESTING = ENVIRONMENT == "test"

# Tests keep their own files (database, broker queues, media) apart from a running dev server.
VAR_DIR = env.path("ATELIER_VAR_DIR", default=REPO_DIR / "var" / ("test" if TESTING else ""))
DEBUG = env.flag("DJANGO_DEBUG", default=False)

if PRODUCTION:
    SECRET_KEY = env.text("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 50:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is shorter than 50 characters; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    ALLOWED_HOSTS = env.items("DJANGO_ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS is required in production: the host names this site answers to, "
            "comma-separated (for example atelier.example.org)."
        )
else:
    SECRET_KEY = env.text("DJANGO_SECRET_KEY", default=None) or local_secret_key(
        VAR_DIR / "secret_key"
    )
    ALLOWED_HOSTS = env.items(
        "DJANGO_ALLOWED_HOSTS", default=("localhost", "127.0.0.1", "[::1]", "testserver")
    )

CSRF_TRUSTED_ORIGINS = env.items("DJANGO_CSRF_TRUSTED_ORIGINS")

# --- applications --------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "core",
    "accounts",
    "studio",
    "registry",
    "insights",
    "authenticity",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PLATFORM_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.navigation",
            ],
        },
    },
]

# --- data ----------------------------------------------------------------------------------------

_default_database = None if PRODUCTION else f"sqlite:///{VAR_DIR / 'atelier.sqlite3'}"
_database = env.database("DATABASE_URL", default=_default_database)
if _database["ENGINE"].endswith("sqlite3"):
    _database["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrades.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that a Celery worker started by the tests sees the same test database.
    _database["TEST"] = {"NAME": str(VAR_DIR / "test-atelier.sqlite3")}
else:
    _database["CONN_MAX_AGE"] = env.integer(
        "DATABASE_CONN_MAX_AGE", default=60, minimum=0, maximum=3600
    )
    _database["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if (_cache_url := env.url("CACHE_URL", schemes=("redis", "rediss")))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing dominates test time at the production work factor; tests check logic, not cost.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- files ---------------------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = None if TESTING else VAR_DIR / "static"  # tests serve from the apps' folders
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Tests serve straight from the apps' folders; everything else from collected, hashed files.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = TESTING
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = 5000  # a portfolio is hundreds of files in one upload
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # larger uploads stream to temporary files

# --- security ------------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    _https = env.flag("DJANGO_HTTPS", default=True)
    SESSION_COOKIE_SECURE = _https
    CSRF_COOKIE_SECURE = _https
    SECURE_SSL_REDIRECT = env.flag("DJANGO_SSL_REDIRECT", default=False)
    SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", default=0, minimum=0, maximum=63072000)
    if env.flag("DJANGO_BEHIND_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- API -----------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": "10/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Atelier API",
    "DESCRIPTION": "GAN studio, provenance and market analytics. Authenticate with "
    "`Authorization: Bearer <token>` (tokens from /api/v1/auth/token/ or the account page).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- tasks ---------------------------------------------------------------------------------------

_default_broker = None if PRODUCTION else "filesystem://"
CELERY_BROKER_URL = env.broker("CELERY_BROKER_URL", default=_default_broker)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = env.path("CELERY_BROKER_DIR", default=VAR_DIR / "broker")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
else:
    # Long GPU jobs are acknowledged late; the broker must not hand them out again while they run.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues: `default` for everything, `gpu` for training and generation (GPU workers take only it).
# Both are declared by the workers that consume them (-Q default,gpu).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
# A running job whose worker has not reported for this long is sent again when a worker starts.
JOB_STALE_AFTER_SECONDS = env.integer(
    "JOB_STALE_AFTER_SECONDS", default=300, minimum=1, maximum=7 * 24 * 3600
)
CELERY_ACCEPT_CONTENT = ["json"]

# --- chain ---------------------------------------------------------------------------------------

CHAIN_RPC_URL = env.url("CHAIN_RPC_URL", schemes=("http", "https"))
CHAIN_ID = env.integer("CHAIN_ID", default=31337, minimum=1, maximum=2**53)
# The AtelierWorks contract (`python -m provenance deploy`; `make run` deploys one on anvil).
CHAIN_CONTRACT_ADDRESS = env.text("CHAIN_CONTRACT_ADDRESS", default=None)
# The platform's own account, which relays mints and pays their gas: a keystore v3 file with its
# password file, or a file holding a hex key (development only). Never the key itself.
CHAIN_SIGNER_KEY_FILE = env.text("CHAIN_SIGNER_KEY_FILE", default=None)
CHAIN_SIGNER_PASSWORD_FILE = env.text("CHAIN_SIGNER_PASSWORD_FILE", default=None)
# A mint counts once its block has this many confirmations and is still canonical.
CHAIN_CONFIRMATIONS = env.integer("CHAIN_CONFIRMATIONS", default=1, minimum=1, maximum=100)
# A sent transaction still unmined after this long is replaced with higher fees.
CHAIN_STUCK_AFTER_SECONDS = env.integer(
    "CHAIN_STUCK_AFTER_SECONDS", default=180, minimum=5, maximum=24 * 3600
)
# Keys kept for artists are keystore v3 files (scrypt) whose passwords derive from this secret:
# lose it and the keys are lost; leak it together with the database and they are leaked.
if PRODUCTION:
    WALLET_KEY_SECRET = env.text("WALLET_KEY_SECRET")
else:
    WALLET_KEY_SECRET = env.text("WALLET_KEY_SECRET", default=None) or local_secret_key(
        VAR_DIR / "wallet_key_secret"
    )
# scrypt cost of those keystores: geth's standard 2**18 (about a second to unlock) in production.
WALLET_KEYSTORE_SCRYPT_N = env.integer(
    "WALLET_KEYSTORE_SCRYPT_N",
    default=2**18 if PRODUCTION else 2**12,
    minimum=2**10,
    maximum=2**20,
)
# How long an artist has to mint a certificate after signing it.
CERTIFICATE_VALID_DAYS = env.integer("CERTIFICATE_VALID_DAYS", default=30, minimum=1, maximum=3650)

# --- authenticity --------------------------------------------------------------------------------

# Verifications a minute: anyone (per address, keyed hash) and a signed-in person.
VERIFY_PER_MINUTE_ANON = env.integer("VERIFY_PER_MINUTE_ANON", default=20, minimum=1, maximum=10**6)
VERIFY_PER_MINUTE_USER = env.integer(
    "VERIFY_PER_MINUTE_USER", default=120, minimum=1, maximum=10**6
)

# --- insights ------------------------------------------------------------------------------------

# An auction export uploaded but never imported is deleted after this long.
INSIGHTS_UPLOAD_TTL_SECONDS = env.integer(
    "INSIGHTS_UPLOAD_TTL_SECONDS", default=24 * 3600, minimum=60, maximum=30 * 24 * 3600
)

# --- logging -------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO"),
    },
}
