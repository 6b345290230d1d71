"""Django settings for Civicstack, all read from the environment through ``conf.env``.

With no variables set, Civicstack runs embedded: SQLite in WAL mode, the database task
backend, local memory cache and local files, all under ``var/``. Setting DATABASE_URL and
REDIS_URL moves it to PostgreSQL and Redis with no code change.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP  # type: ignore[import-untyped,unused-ignore]
from django.utils.translation import gettext_lazy as _

from civicstack.conf.env import ConfigurationError, env

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = env.path("CIVICSTACK_PROJECT_DIR", PACKAGE_DIR.parent.parent)
VAR_DIR = env.path("CIVICSTACK_VAR_DIR", PROJECT_DIR / "var")

ENVIRONMENT = env.str("CIVICSTACK_ENVIRONMENT", "development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ConfigurationError("CIVICSTACK_ENVIRONMENT must be development, test or production")
PRODUCTION = ENVIRONMENT == "production"
TESTING = ENVIRONMENT == "test"
DEBUG = env.bool("DEBUG", False)


def _secret_key() -> str:
    configured = env.optional("SECRET_KEY")
    if configured:
        return configured
    if PRODUCTION:
        raise ConfigurationError("SECRET_KEY must be set in production")
    # Outside production a key is made once and kept under var/, so sessions and signed
    # links survive restarts of `make run`.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env.str("SITE_URL", "http://127.0.0.1:8000")
SERVICE_NAME = env.str("CIVICSTACK_SERVICE_NAME", "Civicstack")
# Passkeys (WebAuthn): the relying party id (a host name, never an IP address) and the
# origin pages are served from. Empty: both come from SITE_URL at the time of use, with
# 127.0.0.1 read as localhost (browsers refuse IP addresses as relying party ids).
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", "")
WEBAUTHN_ORIGIN = env.str("WEBAUTHN_ORIGIN", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "oauth2_provider",
    "civicstack.core",
    "civicstack.accounts",
    "civicstack.identity",
    "civicstack.catalogue",
    "civicstack.documents",
    "civicstack.forms",
    "civicstack.cases",
    "civicstack.notify",
    "civicstack.portal",
    "civicstack.backoffice",
]

MIDDLEWARE = [
    "civicstack.portal.pagecache.PublicPageCacheMiddleware",
    "civicstack.core.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "civicstack.core.middleware.SafeRequestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "civicstack.accounts.middleware.SessionPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Whom the signed-in person acts for: re-checked on every request, given to the audit log.
    "civicstack.identity.acting.ActingForMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "civicstack.core.middleware.ErrorPageMiddleware",
]

ROOT_URLCONF = "civicstack.urls"
WSGI_APPLICATION = "civicstack.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "civicstack.portal.context_processors.site",
                "civicstack.accounts.context_processors.account",
                "civicstack.identity.acting.acting_banner",
            ],
            "string_if_invalid": "",
        },
    }
]
if not DEBUG:
    TEMPLATES[0]["APP_DIRS"] = False
    TEMPLATES[0]["OPTIONS"]["loaders"] = [  # type: ignore[index]
        (
            "django.template.loaders.cached.Loader",
            [
                "django.template.loaders.filesystem.Loader",
                "django.template.loaders.app_directories.Loader",
            ],
        )
    ]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env.optional("DATABASE_URL")
CONN_MAX_AGE = env.int("DB_CONN_MAX_AGE", 600)
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
        )
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "civicstack.core.db.sqlite",
            "NAME": str(env.path("SQLITE_PATH", VAR_DIR / "civicstack.sqlite3")),
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock
                # at BEGIN so concurrent writers queue on busy_timeout instead of failing.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA mmap_size=134217728;"
                    "PRAGMA cache_size=-32000;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Public pages for visitors without a session are served from each process's memory for
# up to this many seconds (and never after the catalogue changes); 0 turns it off.
PUBLIC_PAGE_CACHE_SECONDS = env.int("PUBLIC_PAGE_CACHE_SECONDS", 0 if TESTING else 60)
# How often each process asks the database whether the catalogue changed (search index,
# public pages): a publish is visible everywhere within this many seconds.
CATALOGUE_CHECK_SECONDS = float(env.int("CATALOGUE_CHECK_SECONDS", 0 if TESTING else 1))

# --- Cache, tasks ---------------------------------------------------------------------
REDIS_URL = env.optional("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "civicstack"),
        }
    }
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_rq.RQBackend",
            "QUEUES": ["default"],
        }
    }
    RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 300}}
    # django-rq's admin dashboard is a page over a model with no table; the back office
    # gets its own view of the task queue instead.
    RQ_SHOW_ADMIN_LINK = False
    INSTALLED_APPS.append("django_rq")
else:
    # The database cache is shared by every web process (rate limits must count across
    # all of them); `make run` creates its table with `createcachetable`.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "civicstack_cache",
        }
    }
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Rendered template fragments that are the same for everyone (navigation, footer): kept in
# each process's memory, since fetching them from Redis would cost more than rendering.
FRAGMENT_CACHE: dict[str, object] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "civicstack-fragments",
    "TIMEOUT": 600,
}
CACHES["fragments"] = FRAGMENT_CACHE  # type: ignore[assignment]

# --- Accounts, passwords, sessions ----------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["civicstack.accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:sign-in"
PASSWORD_HASHERS = [
    "civicstack.accounts.hashers.CivicstackArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "civicstack.accounts.passwords.MaximumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT_SECONDS", 30 * 60)
SESSION_ABSOLUTE_TIMEOUT = env.int("SESSION_ABSOLUTE_TIMEOUT_SECONDS", 12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
ACCOUNT_THROTTLE_PER_ACCOUNT = env.int("ACCOUNT_THROTTLE_PER_ACCOUNT", 10)
ACCOUNT_THROTTLE_PER_ADDRESS = env.int("ACCOUNT_THROTTLE_PER_ADDRESS", 50)
ACCOUNT_THROTTLE_WINDOW = env.int("ACCOUNT_THROTTLE_WINDOW_SECONDS", 15 * 60)

# --- OpenID Connect provider (identity app, django-oauth-toolkit) ------------------------
# The issuer identifies this provider in every token; every endpoint is under /oidc/.
OIDC_ISSUER = env.str("OIDC_ISSUER", SITE_URL.rstrip("/") + "/oidc")
# Lifetimes (seconds). Codes live at most 10 minutes (OpenID Connect's upper bound).
OIDC_CODE_SECONDS = min(env.int("OIDC_CODE_SECONDS", 60), 600)
OIDC_ACCESS_TOKEN_SECONDS = env.int("OIDC_ACCESS_TOKEN_SECONDS", 10 * 60)
OIDC_ID_TOKEN_SECONDS = env.int("OIDC_ID_TOKEN_SECONDS", 10 * 60)
OIDC_REFRESH_TOKEN_SECONDS = env.int("OIDC_REFRESH_TOKEN_SECONDS", 12 * 60 * 60)
# However often it is refreshed, a sign-in's refresh tokens stop working this long after
# the person signed in (the code's auth_time); then the client signs them in again.
OIDC_FAMILY_MAX_SECONDS = env.int("OIDC_FAMILY_MAX_SECONDS", 24 * 60 * 60)
OAUTH2_PROVIDER_APPLICATION_MODEL = "identity.Client"
OAUTH2_PROVIDER_GRANT_MODEL = "identity.Grant"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": OIDC_ISSUER,
    "OAUTH2_VALIDATOR_CLASS": "civicstack.identity.oidc.validator.CivicstackValidator",
    "OAUTH2_SERVER_CLASS": "civicstack.identity.oidc.validator.CivicstackServer",
    "SCOPES_BACKEND_CLASS": "civicstack.identity.oidc.validator.ClientScopes",
    "SCOPES": {
        "openid": "Sign in",
        "profile": "Name and language",
        "email": "Email address",
        "phone": "Phone number",
        "address": "Postal address",
        "national_id": "National identifier",
    },
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": OIDC_CODE_SECONDS,
    "ACCESS_TOKEN_EXPIRE_SECONDS": OIDC_ACCESS_TOKEN_SECONDS,
    "ID_TOKEN_EXPIRE_SECONDS": OIDC_ID_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": OIDC_REFRESH_TOKEN_SECONDS,
    "ACCESS_TOKEN_GENERATOR": "civicstack.identity.oidc.validator.new_token",
    "REFRESH_TOKEN_GENERATOR": "civicstack.identity.oidc.validator.new_token",
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ALLOW_URI_WILDCARDS": False,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ],
}

# --- HTTPS and security headers ---------------------------------------------------------
HTTPS = env.bool("HTTPS", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if HTTPS:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 63072000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = False
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    # The __Host- prefix pins a cookie to this exact host, over HTTPS, for the whole site.
    SESSION_COOKIE_NAME = "__Host-session"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    LANGUAGE_COOKIE_NAME = "__Host-language"
else:
    SESSION_COOKIE_NAME = "civicstack_session"
    CSRF_COOKIE_NAME = "civicstack_csrftoken"
    LANGUAGE_COOKIE_NAME = "civicstack_language"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("cy", _("Welsh"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", "Europe/London")
USE_TZ = True

# --- Files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", VAR_DIR / "static")
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
NODE_MODULES_DIR = env.path("NODE_MODULES_DIR", PROJECT_DIR / "node_modules")
MEDIA_ROOT = env.path("MEDIA_ROOT", VAR_DIR / "files")
STORAGES = {
    "default": {
        "BACKEND": env.str("FILE_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if TESTING or DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = TESTING or DEBUG
WHITENOISE_MAX_AGE = 0 if DEBUG else 31536000

# --- Documents: uploads, scanning, encrypted storage (documents app) ---------------------
# Files citizens upload are encrypted before they reach this storage (documents.crypto), so
# the folder or bucket only ever holds ciphertext.
DOCUMENTS_S3_BUCKET = env.optional("DOCUMENTS_S3_BUCKET")
# (STORAGES was inferred from its first entries as str-to-str; these carry OPTIONS.)
if DOCUMENTS_S3_BUCKET:
    STORAGES["documents"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {  # type: ignore[dict-item]
            "bucket_name": DOCUMENTS_S3_BUCKET,
            "endpoint_url": env.optional("DOCUMENTS_S3_ENDPOINT_URL"),
            "region_name": env.optional("DOCUMENTS_S3_REGION"),
            "access_key": env.optional("DOCUMENTS_S3_ACCESS_KEY_ID"),
            "secret_key": env.optional("DOCUMENTS_S3_SECRET_ACCESS_KEY"),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": False,
        },
    }
else:
    STORAGES["documents"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {  # type: ignore[dict-item]
            "location": str(env.path("DOCUMENTS_DIR", VAR_DIR / "documents")),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
# Key-encryption keys as "id:base64url-key" pairs, newest first; without it (outside
# production) a key ring is kept in DOCUMENT_KEYS_FILE.
DOCUMENT_KEYS = env.optional("DOCUMENT_KEYS")
DOCUMENT_KEYS_FILE = env.path("DOCUMENT_KEYS_FILE", VAR_DIR / "keys" / "documents.keys")
# Largest request body with files, refused before it is read (bytes), and per file.
UPLOAD_MAX_REQUEST_BYTES = env.int("UPLOAD_MAX_REQUEST_BYTES", 25 * 1024 * 1024)
UPLOAD_MAX_FILE_BYTES = env.int("UPLOAD_MAX_FILE_BYTES", 20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
_upload_temp_dir = env.path("FILE_UPLOAD_TEMP_DIR", VAR_DIR / "uploads")
_upload_temp_dir.mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_TEMP_DIR = str(_upload_temp_dir)
# ClamAV's clamd: "unix:///path/clamd.sock" or "tcp://host:3310". Outside production
# `civicstack serve` starts its own clamd (if Debian's clamav-daemon is installed).
CLAMD_ADDRESS = env.str("CLAMD_ADDRESS", f"unix://{VAR_DIR / 'clamav' / 'clamd.sock'}")
CLAMD_TIMEOUT_SECONDS = env.int("CLAMD_TIMEOUT_SECONDS", 30)
CLAMD_MANAGED = env.bool("CLAMD_MANAGED", not PRODUCTION)
# The size caps are enforced while the body is read (documents.uploads): the first handler
# refuses before anything is stored in memory or on disk.
FILE_UPLOAD_HANDLERS = [
    "civicstack.documents.uploads.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# The CSRF check is usually what reads the body first; this reads it just before, so an
# upload over the cap gets a clear 413 page instead of a CSRF or 400 error.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.csrf.CsrfViewMiddleware"),
    "civicstack.documents.uploads.UploadLimitMiddleware",
)

# --- Applications (forms app) -------------------------------------------------------------
FORM_DRAFT_RETENTION_DAYS = env.int("FORM_DRAFT_RETENTION_DAYS", 28)
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", 24)

# --- Email ----------------------------------------------------------------------------
EMAIL_URL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
if EMAIL_URL_BACKEND.endswith("filebased.EmailBackend"):
    _mail_options: dict[str, object] = {
        "file_path": str(env.path("EMAIL_FILE_PATH", VAR_DIR / "outbox"))
    }
elif EMAIL_URL_BACKEND.endswith("smtp.EmailBackend"):
    _mail_options = {
        "host": env.str("EMAIL_HOST", "localhost"),
        "port": env.int("EMAIL_PORT", 25),
        "username": env.str("EMAIL_HOST_USER", ""),
        "password": env.str("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env.bool("EMAIL_USE_TLS", False),
        "timeout": env.int("EMAIL_TIMEOUT", 10),
    }
else:
    _mail_options = {}
MAILERS = {"default": {"BACKEND": EMAIL_URL_BACKEND, "OPTIONS": _mail_options}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Civicstack <no-reply@civicstack.example>")

# --- Notifications ----------------------------------------------------------------------
# A worker holding a message longer than this is presumed dead; the sweeper takes it back.
NOTIFY_CLAIM_SECONDS = env.int("NOTIFY_CLAIM_SECONDS", 120)
NOTIFY_MAX_ATTEMPTS = env.int("NOTIFY_MAX_ATTEMPTS", 25)
# An idle drain task waits this long for more messages before it ends (0 in tests, where
# tasks run inline and waiting would only slow the suite).
NOTIFY_DRAIN_LINGER_SECONDS = float(env.str("NOTIFY_DRAIN_LINGER_SECONDS", "0" if TESTING else "1"))
# Text messages: "outbox" writes them to a folder; "http" posts them to NOTIFY_SMS_URL.
NOTIFY_SMS_BACKEND = env.str("NOTIFY_SMS_BACKEND", "outbox")
NOTIFY_SMS_URL = env.str("NOTIFY_SMS_URL", "")
NOTIFY_SMS_TOKEN = env.str("NOTIFY_SMS_TOKEN", "")
NOTIFY_SMS_SENDER = env.str("NOTIFY_SMS_SENDER", "Civicstack")
NOTIFY_OUTBOX_DIR = env.path("NOTIFY_OUTBOX_DIR", VAR_DIR / "outbox")
# Web push (VAPID, RFC 8292): `civicstack notify_vapid_keys` writes the key file.
NOTIFY_VAPID_PRIVATE_KEY_FILE = env.path(
    "NOTIFY_VAPID_PRIVATE_KEY_FILE", VAR_DIR / "keys" / "vapid-p256.pem"
)
# Push services a browser subscription may point at (empty: the major browsers' own).
NOTIFY_PUSH_SERVICE_HOSTS = env.list("NOTIFY_PUSH_SERVICE_HOSTS", [])
NOTIFY_VAPID_SUBJECT = env.str("NOTIFY_VAPID_SUBJECT", "mailto:notifications@civicstack.example")

# --- Audit log ------------------------------------------------------------------------
AUDIT_SIGNING_KEY = env.optional("AUDIT_SIGNING_KEY")
AUDIT_SIGNING_KEY_FILE = env.path("AUDIT_SIGNING_KEY_FILE", VAR_DIR / "keys" / "audit-ed25519.pem")
AUDIT_LOG_ORIGIN = env.str("AUDIT_LOG_ORIGIN", "civicstack.example/audit")

# --- Cases ----------------------------------------------------------------------------
# Decision letters are PDFs signed (PAdES) with the platform's signing key and certificate.
# In production both must be configured; in development a self-signed pair is made under
# var/keys on first use. The chain file holds intermediate certificates, if any.
LETTER_SIGNING_KEY_FILE = env.path("LETTER_SIGNING_KEY_FILE", VAR_DIR / "keys" / "letters-key.pem")
LETTER_SIGNING_CERT_FILE = env.path(
    "LETTER_SIGNING_CERT_FILE", VAR_DIR / "keys" / "letters-cert.pem"
)
LETTER_SIGNING_CHAIN_FILE = env.optional("LETTER_SIGNING_CHAIN_FILE")
# The nation whose bank holidays count when a service does not name one.
CASES_DEFAULT_NATION = env.str("CASES_DEFAULT_NATION", "england")
# Days before an SLA breach when the caseworker is warned.
CASES_SLA_WARNING_DAYS = env.int("CASES_SLA_WARNING_DAYS", 2)

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    # SpiffWorkflow logs every task state change, WeasyPrint and fontTools every step of
    # rendering a letter, at INFO.
    "loggers": {
        "django.server": {"level": "WARNING"},
        "spiff": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
CSRF_FAILURE_VIEW = "civicstack.core.views.csrf_failure"
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0)
