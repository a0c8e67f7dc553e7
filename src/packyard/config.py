"""Settings from the environment (PACKYARD_*) and an optional packyard.toml in the data folder.

One `Settings` object is built at start-up and handed to `create_app`; nothing reads the environment later.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
    login_failures_allowed: int = 10
    login_failure_window_seconds: int = 300
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

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data / 'packyard.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        return self.data / "blobs"

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
