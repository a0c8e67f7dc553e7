"""Settings from the environment (PACKYARD_*) and an optional packyard.toml in the data folder.

One `Settings` object is built at start-up and handed to `create_app`; nothing reads the environment later.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from packyard.core.storage import BlobStore, open_store, parse_blob_url
from packyard.core.throttle import Network, ThrottlePolicy, split_networks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PACKYARD_", extra="ignore")

    data: Path = Field(
        default=Path("packyard-data"), description="Folder for blobs, the SQLite database and keys."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite in the data folder."
    )
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = Field(
        default=None,
        description="Public URL of the server (e.g. https://repo.example.org); default: from request.",
    )
    domain: str | None = Field(default=None, description="With conda.DOMAIN / pypi.DOMAIN host routing.")
    admin_user: str = "admin"
    admin_password: str | None = None
    allow_signup: bool = False
    secret_key: str | None = Field(
        default=None, description="Signs upload forms; default: generated in the data folder."
    )
    max_upload_bytes: int = 5 * 1024**3
    stage_ttl_seconds: int = 3600
    login_failures_allowed: int = Field(
        default=10,
        ge=1,
        description="Failed passwords for one login from one client address before that address must wait "
        "(docs/security.md, Sign-in throttling).",
    )
    login_failures_per_address_allowed: int = Field(
        default=100,
        ge=1,
        description="Failed passwords from one client address, any login, before it must wait.",
    )
    login_failure_window_seconds: int = Field(
        default=3600, ge=1, description="How long a failed password counts toward the delays."
    )
    login_delay_seconds: float = Field(
        default=5, gt=0, description="The first delay once throttled; each further failure doubles it."
    )
    login_delay_max_seconds: float = Field(default=900, gt=0, description="The longest delay.")
    trusted_proxies: str = Field(
        default="",
        description="Addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed (comma or space "
        "separated, e.g. '127.0.0.1, 10.0.0.0/8'); empty: the socket address is the client.",
    )
    password_cache_ttl_seconds: int = Field(
        default=300, description="How long a successful password check is remembered; 0 turns the cache off."
    )
    password_cache_size: int = Field(
        default=1000, description="Most successful password checks remembered per process; 0 turns it off."
    )
    token_default_max_age_seconds: int | None = None
    accel_redirect: str | None = Field(
        default=None,
        description="With a front proxy (nginx) serving the blob folder under this internal URL prefix (e.g. "
        "/_blobs), file downloads answer with X-Accel-Redirect and the proxy sends the bytes.",
    )
    session_max_age_seconds: int = Field(
        default=14 * 24 * 3600, ge=60, description="How long a web UI sign-in lasts (the session cookie)."
    )
    jobs_interval_seconds: float = Field(
        default=600,
        ge=0,
        description="How often the periodic clean-ups (expired staged uploads, expired web sessions, old failed "
        "sign-ins) run, once across all nodes (docs/operations.md); 0 turns them off on this node.",
    )
    mirror_sync_poll_seconds: float = Field(
        default=5,
        ge=0,
        description="How often this node looks for queued mirror syncs (`packyard mirror sync`) when it is idle; "
        "each is run by one node (docs/mirrors.md); 0: this node runs none.",
    )
    blob_url: str | None = Field(
        default=None,
        description="Where blobs are kept: file://PATH (a folder) or s3://BUCKET/PREFIX (endpoint and credentials "
        "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION); default: the data "
        "folder's blobs/.",
    )
    blob_redirect: bool = Field(
        default=False,
        description="With an S3 store, answer downloads with a 302 to a presigned URL of the object (after the "
        "permission check) instead of streaming the bytes through the server.",
    )
    blob_redirect_minutes: int = Field(
        default=5, ge=1, le=7 * 24 * 60, description="How long a presigned download URL stays valid."
    )
    blob_redirect_endpoint: str | None = Field(
        default=None,
        description="The S3 endpoint as clients reach it, for presigned URLs, when the servers reach it at "
        "another address (AWS_ENDPOINT_URL); default: the same.",
    )
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description="Bucket in the path (http://HOST/BUCKET/KEY, most self-hosted S3 servers) or in the host "
        "name (http://BUCKET.HOST/KEY); auto: boto3 decides.",
    )
    db_pool_size: int | None = Field(
        default=None,
        ge=1,
        description="Database connections per pool and worker process; default: worker threads (40) + 2.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # packyard.toml lives in the data folder, which itself may come from the environment.
        data = Path(env_settings().get("data") or init_settings().get("data") or "packyard-data")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=data / "packyard.toml")
        return (init_settings, env_settings, toml)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        split_networks(value)  # a ValueError naming the bad entry stops start-up
        return value

    @field_validator("blob_url")
    @classmethod
    def _check_blob_url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_blob_url(value)  # a ValueError saying what is expected stops start-up
        return value

    @cached_property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return split_networks(self.trusted_proxies)

    @property
    def throttle_policy(self) -> ThrottlePolicy:
        return ThrottlePolicy(
            allowed=self.login_failures_allowed,
            per_address_allowed=self.login_failures_per_address_allowed,
            window_seconds=self.login_failure_window_seconds,
            base_seconds=self.login_delay_seconds,
            max_seconds=self.login_delay_max_seconds,
        )

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data / 'packyard.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        """The local blob folder: PACKYARD_BLOB_URL's file:// path, else the data folder's blobs/ (which, with an
        S3 store, holds only tmp/, where uploads are received before they go to the bucket)."""
        where = parse_blob_url(self.blob_url) if self.blob_url else None
        return where if isinstance(where, Path) else self.data / "blobs"

    @property
    def blob_store_url(self) -> str:
        return self.blob_url or f"file://{self.blob_root}"

    @property
    def lock_dir(self) -> Path:
        """Lock files of the periodic jobs on SQLite (PostgreSQL uses advisory locks instead)."""
        return self.data / "jobs"

    @cached_property
    def signing_key(self) -> bytes:
        """The key that signs upload forms; persisted so restarts and several workers agree."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data / "secret.key"
        if not path.exists():
            self.data.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"secret.key.{secrets.token_hex(4)}")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            with contextlib.suppress(FileExistsError):  # another worker won the race: use its key
                os.link(tmp, path)
            tmp.unlink()
        return path.read_text().strip().encode()


def build_store(settings: Settings) -> BlobStore:
    """The one place the blob store is built from the settings (the app, the CLI)."""
    return open_store(
        settings.blob_store_url,
        tmp=settings.blob_root / "tmp",
        presign_endpoint=settings.blob_redirect_endpoint,
        addressing_style=settings.s3_addressing_style,
    )
