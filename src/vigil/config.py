"""One settings object, read from ``VIGIL_*`` environment variables (or a ``.env`` file).

Nothing imports settings as module constants: the app, the CLI and the worker build a
``Settings`` and pass it down, so tests can run several configurations in one process.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_file=".env", extra="ignore")

    # Storage. SQLite (WAL) is the embedded default; production is ``postgresql+psycopg://``.
    database_url: str = "sqlite:///./var/vigil.db"
    # Redis for shared hot state when more than one process serves; empty means in-process.
    redis_url: str | None = None
    data_dir: Path = Path("./var")

    # Secrets. The default key is random per process: sessions do not survive a restart and
    # several processes would not share it, so deployments must set VIGIL_SECRET_KEY.
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    # Where people reach this Vigil; defaults to http://HOST:PORT.
    base_url: str = ""
    session_cookie: str = "vigil_session"
    session_ttl_hours: int = 12
    cookie_secure: bool = False
    max_body_bytes: int = 1_048_576
    # HTTP requests handled at once by one process; the rest queue. 0 picks a value below the
    # database connection pool: 8 on SQLite (one writer at a time anyway), 24 on PostgreSQL.
    max_concurrent_requests: int = 0

    # Jobs. ``serve_worker`` runs one in-process worker inside ``vigil serve`` (embedded mode).
    serve_worker: bool = True
    worker_poll_seconds: float = 1.0
    job_lease_seconds: int = 300
    job_max_attempts: int = 8
    job_backoff_base_seconds: float = 2.0
    job_backoff_max_seconds: float = 3600.0
    job_retention_days: int = 7
    scheduler_enabled: bool = True
    sla_sweep_seconds: int = 60

    # The marketplace's name, as users see it in messages, statements of reasons and the
    # appeal form. A proper name: the templates say "your {name} account", "use {name} as
    # usual", "{name} · Trust & Safety". Set it to your brand.
    marketplace_name: str = "Marketplace"
    # Where a user appeals a decision; empty means ``{base_url}/appeals``. DSA Art. 20 gives
    # users at least six months to appeal: 184 days covers the longest six months.
    appeal_url: str = ""
    appeal_window_days: int = 184

    # Disputes between two users (docs/disputes.md). The other party has
    # ``dispute_response_hours`` to give their side, reminded ``dispute_reminder_hours`` before
    # the deadline; each party has ``dispute_proposal_hours`` to accept or reject a proposed
    # resolution (silence counts as a rejection). ``dispute_sweep_seconds``: how often the
    # deadlines are checked.
    dispute_response_hours: int = 72
    dispute_reminder_hours: int = 24
    dispute_proposal_hours: int = 72
    dispute_sweep_seconds: int = 300

    # Quality assurance (docs/quality.md). The share of applied decisions sampled for QA when
    # no rate is set for their queue or reviewer; ``qa_sample_seconds``: how often new
    # decisions are sampled.
    qa_default_sample_rate: float = 0.05
    qa_sample_seconds: int = 300

    # Enforcement. Actions that need a second approver from the specialist tier (four-eyes),
    # comma-separated action names. A suspension or restriction longer than
    # ``four_eyes_over_days`` (or a restriction without an end) needs one too: it takes as
    # much as a ban. None may last longer than ``max_suspension_days``: that is a ban.
    four_eyes_actions: str = "remove,ban"
    four_eyes_over_days: int = 90
    max_suspension_days: int = 365
    enforcement_sweep_seconds: int = 60

    # Outbound webhooks to the marketplace: at-least-once, retried with backoff, each attempt
    # logged. The delay before attempt n+1 is base * 2**(n-1), capped.
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 12
    webhook_backoff_base_seconds: float = 30.0
    webhook_backoff_max_seconds: float = 6 * 3600.0

    # Email to users (SMTP). Without a host, email messages are recorded and fail visibly.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Trust & Safety <trust@vigil.example>"

    # Detection. An event's fired rules add their scores: at ``detection_review_score`` the
    # outcome is review (a case), at ``detection_block_score`` block (an automated action),
    # unless a rule's own outcome is more severe. A review signal for an account and policy
    # whose last case closed without a violation is snoozed for ``detection_snooze_days``.
    # A block for an account and policy whose last decision still restricts the account,
    # waits for approval, or was applied less than ``detection_block_cooldown_hours`` ago
    # takes nothing more: the event joins that decision's case as evidence.
    detection_review_score: float = 50.0
    detection_block_score: float = 100.0
    detection_snooze_days: int = 14
    detection_block_cooldown_hours: int = 24
    events_batch_max: int = 1000

    # Identity verification (docs/identity.md). Document images are encrypted (AES-GCM) in
    # ``blob_dir`` (default ``data_dir/blobs``) with ``blob_key``: 32 bytes, base64. Without
    # one, a key is created in ``data_dir/blob.key`` on first use (one machine only: every
    # process that reads the blobs needs the same key).
    blob_dir: Path | None = None
    blob_key: SecretStr = SecretStr("")
    # The secret of the document fingerprints (HMAC of number + issuer + birth date), one
    # base64 key of 32 bytes, independent of ``blob_key`` so rotating the blob keys never
    # changes a fingerprint. Unset: ``data_dir/fingerprint.key``, derived once from the blob key
    # on first use (one machine; several machines set this). Changing it later makes new
    # fingerprints miss the older ones (each stores its key's id).
    identity_fingerprint_key: SecretStr = SecretStr("")
    # Uploads: one request carries up to three images (front, back, selfie).
    identity_max_upload_bytes: int = 12_000_000  # per image
    identity_max_pixels: int = 40_000_000  # per image, after decoding (no decompression bombs)
    identity_min_pixels_short_side: int = 300
    # Outcomes. Below ``identity_min_age`` (years, on the day of the check) a holder is
    # rejected. Auto-approval needs every check passed and the read confirmed; turn it off to
    # send every clean document to a person.
    identity_min_age: int = 18
    identity_auto_approve: bool = True
    identity_auto_reject: bool = True
    # Quality: variance of the Laplacian below which an image is blurry; share of blown-out
    # pixels in the document above which glare hides it.
    identity_blur_min: float = 60.0
    identity_glare_max: float = 0.04
    # Face match: dlib's 128-d embeddings, Euclidean distance. At or below ``match`` the faces
    # match; above ``mismatch`` they do not; between is a person's call (review). Chosen with
    # eval/identity_faces.py (docs/identity/images-faces.md): on ../shared/data/idv/faces,
    # genuine pairs measure 0.33-0.44 (also when one side is printed as a card portrait) and
    # impostors 0.77-1.04; the simulator's two portraits 0.08-0.13 vs 0.65-0.69. 0.5 leaves a
    # margin over the farthest genuine pair; 0.6 is dlib's own same/different point (99.38 %
    # on LFW); no pair measured falls on the wrong side of either (FMR 0/94, FNMR 0/34).
    identity_face_match_distance: float = 0.5
    identity_face_mismatch_distance: float = 0.6
    # Below this distance the selfie is taken for a copy of the document's photo (review,
    # ``selfie_is_document_copy``): two photos taken apart measure 0.33 and more (above), the
    # same photo 0.00 (re-saved 0.07-0.14, cropped 0.05-0.12). The simulator's selfies are cut
    # from the document portrait's own photo and measure 0.069-0.127 (docs/identity/
    # images-faces.md): 0.04 keeps them passing while catching the document photo submitted as
    # the selfie; a re-saved copy is caught by its perceptual hash (identity_image_hash_distance).
    identity_face_same_image_distance: float = 0.04
    # Names: rapidfuzz token scores 0-100 after ICAO transliteration.
    identity_name_match_min: float = 90.0
    identity_name_review_min: float = 70.0
    # Sanctions / PEP screening: name score at or above ``hit`` with the birth date agreeing
    # is a hit; at or above ``possible`` a possible hit (review).
    identity_screening_hit_score: float = 92.0
    identity_screening_possible_score: float = 85.0
    # Perceptual-hash Hamming distance (of 64 bits) at or below which two images are the same.
    identity_image_hash_distance: int = 6

    # Emerging clusters (vigil.analytics.clusters, docs/clusters.md): every ``cluster_seconds``
    # the texts of recent reports and flagged messages (the last ``cluster_window_hours``, at
    # most ``cluster_max_texts``, newest first) are grouped by TF-IDF cosine similarity (at or
    # above ``cluster_similarity``); a group of at least ``cluster_min_size`` texts from
    # ``cluster_min_accounts`` accounts is new when the baseline (the ``cluster_baseline_days``
    # before the window, at most ``cluster_max_baseline_texts``) holds fewer than
    # 1/``cluster_novelty_ratio`` of its size, scaled to the window's length.
    cluster_seconds: int = 3600
    cluster_window_hours: int = 24
    cluster_baseline_days: int = 7
    cluster_max_texts: int = 5_000
    cluster_max_baseline_texts: int = 20_000
    cluster_similarity: float = 0.6
    # A connected group is split (average linkage) into parts whose members are on average
    # at least this alike: distinct waves joined by a few edited copies stay distinct.
    cluster_group_similarity: float = 0.5
    cluster_min_size: int = 5
    cluster_min_accounts: int = 3
    cluster_novelty_ratio: float = 4.0

    # Trend alerts (vigil.analytics.trends, docs/trends.md). Every ``trend_rollup_seconds``
    # new events are added to hourly counts per category; every ``trend_detect_seconds`` the
    # latest complete hour and the 24 hours ending with it (a rolling day) of each series are
    # compared with the same hours of the week over the previous ``trend_baseline_weeks``
    # weeks; hours are matched in
    # the marketplace's local time ``trend_timezone`` (an IANA name, so a daylight-saving
    # change does not shift busy hours). A rise alerts when its negative-binomial upper-tail
    # p-value is below ``trend_alpha`` (baseline median; the series' own over-dispersion, at
    # least ``trend_min_overdispersion`` = 1/k), it counts at least
    # ``trend_{hour,day}_min_count`` and ``trend_{hour,day}_min_ratio`` times the median. A
    # value never (or hardly) seen is compared with ``trend_new_value_expected`` per hour. An
    # alert resolves itself after ``trend_resolve_hours`` back within baseline; a dismissed
    # series does not alert again for ``trend_dismiss_snooze_hours``. Policy leads are emailed
    # when ``trend_notify`` is on.
    trend_rollup_seconds: int = 300
    trend_detect_seconds: int = 900
    trend_baseline_weeks: int = 4
    trend_alpha: float = 1e-4
    trend_hour_min_count: int = 10
    trend_hour_min_ratio: float = 2.0
    trend_day_min_count: int = 20
    trend_day_min_ratio: float = 1.5
    trend_new_value_expected: float = 0.1
    trend_resolve_hours: int = 24
    trend_dismiss_snooze_hours: int = 24
    trend_notify: bool = True
    trend_min_overdispersion: float = 0.05
    trend_timezone: str = "UTC"

    # Page sizes for keyset pagination.
    page_size_default: int = 50
    page_size_max: int = 500

    # Operations: logs, metrics, readiness (docs/observability.md, docs/deployment.md).
    # Log lines as JSON objects (one per line, for log shippers) or as plain text.
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # One access log line per HTTP request (method, route template, status, duration).
    access_log: bool = True
    # Bearer token for ``GET /ops/metrics`` (and the worker's metrics port). Empty: only
    # clients on loopback may scrape.
    metrics_token: SecretStr = SecretStr("")
    # Readiness fails when a check takes longer than this (seconds).
    readiness_timeout_seconds: float = 2.0

    # Access: rate limits, login throttling and lockout, second factor (docs/security.md).
    # Requests per minute per API key, and per staff member on /v1 with a session cookie;
    # 0 turns the limit off. Shared through Redis when ``redis_url`` is set.
    api_rate_limit: int = 600
    # Namespace of the rate-limit keys in Redis (two installs sharing one Redis differ here).
    rate_limit_prefix: str = "vigil:rl:"
    # Login attempts allowed per client IP and per email within ``login_window_seconds``
    # (0 = no limit); then 429 until the window slides on.
    login_ip_limit: int = 30
    login_email_limit: int = 10
    login_window_seconds: int = 900
    # After ``lockout_threshold`` consecutive failed logins a staff account is locked for
    # ``lockout_minutes`` (kept in the database; 0 = never lock). Admins can unlock earlier.
    lockout_threshold: int = 10
    lockout_minutes: int = 15
    # Roles that must enrol a TOTP second factor at their next login (comma-separated).
    require_totp_for_roles: str = ""
    # Second-factor codes a staff member may try per ``login_window_seconds``.
    totp_attempt_limit: int = 10

    # Sealed fields and key rotation (docs/encryption.md).
    # Keys of the sealed database fields (document numbers, birth dates, MRZ lines...): base64
    # keys of 32 bytes, comma-separated; the first seals, all open. Unset: one key in
    # ``data_dir/field.key`` (one machine only; several machines set this).
    field_keys: SecretStr = SecretStr("")
    # The re-seal job (``keys.rotate``): rows per transaction, and how often the scheduler
    # runs it (seconds; daily: each run scans the sealed columns, and writes nothing when
    # every value is sealed with the first key; after a rotation run ``vigil keys rotate``).
    keys_rotate_batch: int = 500
    keys_rotate_interval_seconds: int = 86400

    # Privacy: retention, legal holds, erasure (docs/privacy.md).
    # Days each data class is kept (0 = kept for ever). Nothing under a legal hold goes.
    # Identity images and what was read from documents: counted from the decision.
    retention_identity_images_days: int = 90
    retention_identity_fields_days: int = 180
    # Texts users wrote (messages, reviews, listings, reports) in events, then the rest of
    # the personal payload of every event (ip, device, payment instrument, data).
    retention_event_texts_days: int = 365
    retention_event_payloads_days: int = 730
    # Address and body of messages sent to users (the statement of reasons stays).
    retention_messages_days: int = 730
    # Identifiers (emails, phones, IPs, devices, payment, documents) not seen for this long.
    retention_identifiers_days: int = 730
    # Console sessions, counted from their expiry; finished webhook deliveries.
    retention_staff_sessions_days: int = 30
    retention_webhook_deliveries_days: int = 90
    # Blob files no row points at are deleted once this old (0 = never swept).
    retention_orphan_blob_grace_hours: int = 24
    # Rows per batch, and at most this many rows per class per run (one transaction).
    retention_batch_size: int = 500
    retention_max_rows_per_run: int = 50_000
    retention_interval_seconds: int = 6 * 3600

    # Behind a reverse proxy (docs/security.md).
    # Addresses of the reverse proxies whose X-Forwarded-For / X-Forwarded-Proto `vigil serve`
    # trusts (uvicorn's forwarded_allow_ips: comma-separated IPs or CIDRs, "*" = any). Empty:
    # uvicorn's default (127.0.0.1 only, or the FORWARDED_ALLOW_IPS environment variable).
    forwarded_allow_ips: str = ""

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value.startswith("postgresql://"):
            # psycopg 3 is the only PostgreSQL driver we ship.
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not (value.startswith("sqlite") or value.startswith("postgresql+psycopg://")):
            raise ValueError("VIGIL_DATABASE_URL must be sqlite:/// or postgresql+psycopg://")
        return value

    @field_validator("identity_image_hash_distance")
    @classmethod
    def _hash_distance_under_bands(cls, value: int) -> int:
        # Near images are found through eight 8-bit bands of the 64-bit hash: two hashes within
        # 7 bits share a band (pigeonhole); at 8 or more, matches could be missed.
        if not 0 <= value < 8:
            raise ValueError("identity_image_hash_distance is 0 to 7 (eight hash bands)")
        return value

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        if not self.base_url:
            self.base_url = f"http://{self.host}:{self.port}"
        return self

    @property
    def request_concurrency(self) -> int:
        if self.max_concurrent_requests > 0:
            return self.max_concurrent_requests
        return 8 if self.database_url.startswith("sqlite") else 24

    @property
    def blob_path(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def four_eyes(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.four_eyes_actions.split(",") if a.strip())

    @property
    def appeal_link(self) -> str:
        return self.appeal_url or f"{self.base_url.rstrip('/')}/appeals"

    @cached_property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    return Settings()
