"""`backup` and `restore`: a point-in-time copy of the service's Redis, taken while it runs, and
loaded back while it is stopped (the snapshot and the copy: worker/backup.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import redis

from cli.common import ops_runtime, settings_or_exit
from cli.group import main
from worker.backup import BackupError, snapshot
from worker.backup import restore as restore_snapshot
from worker.runtime import configure


@main.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path | None) -> None:
    """Save a point-in-time snapshot of the service's Redis (every article, feed, outbox and
    queue) to PATH (default: syndicate-YYYYmmdd-HHMMSS.rdb here), owner-only. The service keeps
    running. Secrets (.env, DATA_DIR/webhook-secret, admin-token) are not in it: keep them apart."""
    rt = ops_runtime()
    path = path or Path(time.strftime("syndicate-%Y%m%d-%H%M%S.rdb", time.gmtime()))
    if path.exists():
        raise click.ClickException(f"{path} exists: name another file")
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            size = snapshot(rt.redis, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except (BackupError, OSError, redis.RedisError) as exc:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"backup failed: {exc}") from None
    click.echo(
        f"backup: {path.resolve()} ({size} bytes, owner-only); restore with "
        f"`syndicate restore {path}` (the service stopped)"
    )


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace what the Redis holds now")
def restore(path: Path, force: bool) -> None:
    """Load a `syndicate backup` into the service's Redis, the service stopped: the embedded
    Redis of DATA_DIR (started for the restore), else SYNDICATE_REDIS_URL's."""
    settings = settings_or_exit()
    if settings.redis_url is not None:
        _restore_into(path, force, settings.redis_url, "SYNDICATE_REDIS_URL", True)
        return
    from cli.service import _lock_data_dir, _private_data_dir
    from syndicate.embedded_redis import EmbeddedRedis

    _private_data_dir(settings.data_dir)
    lock = _lock_data_dir(settings.data_dir)  # refuses while a `syndicate run` uses it
    embedded = EmbeddedRedis(settings.data_dir / "redis")
    try:
        try:
            url = embedded.start()
        except (RuntimeError, OSError) as exc:
            raise click.ClickException(f"could not start the embedded Redis: {exc}") from None
        _restore_into(
            path, force, url, f"the embedded Redis in {embedded.data_dir.resolve()}", False
        )
    finally:
        embedded.stop()
        lock.close()


def _restore_into(path: Path, force: bool, url: str, where: str, external: bool) -> None:
    from syndicate.embedded_redis import redis_server_binary

    target = _client_for_db(url, None)
    try:
        if target.dbsize() and not force:
            raise click.ClickException(
                f"{where} is not empty: pass --force to replace what it holds with the backup"
            )
        # the embedded Redis's data dir is locked already; an external one may be in use
        if external and configure(settings_or_exit().with_(redis_url=url)).store.workers.live():
            raise click.ClickException(
                "a worker is running on this Redis: stop the service first; nothing was changed"
            )

        def emptied(db: int) -> redis.Redis:
            client = _client_for_db(url, db)
            client.flushdb()  # only the databases the backup holds; empty unless --force
            return client

        counts = restore_snapshot(path, emptied, redis_server_binary())
    except (BackupError, redis.RedisError) as exc:
        raise click.ClickException(f"restore failed: {exc}") from None
    click.echo(
        f"restore: {sum(counts.values())} keys from {path} into {where}; start the "
        "service, then `syndicate status` (secrets are not in a backup: keep the same "
        ".env, or DATA_DIR/webhook-secret and admin-token)"
    )


def _client_for_db(url: str, db: int | None) -> redis.Redis:
    from syndicate.connections import redis_client

    pool = redis_client(url).connection_pool
    if db is None:
        return redis.Redis(connection_pool=pool)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": db}
        )
    )
