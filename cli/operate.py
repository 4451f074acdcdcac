"""Operator commands: `init`, `purge`/`unpurge`, `rebuild`, `replay`, `status` and `check`. Each
acts on the running service and with its configuration, never this shell's."""

from __future__ import annotations

import base64
import difflib
import json
import os
import secrets
import stat
import sys
import time
from pathlib import Path

import click

from cli.common import (
    ops_runtime,
    render_by_workers,
    settings_or_exit,
    with_kept_secrets,
    with_running_service,
)
from cli.group import main
from feeds.membership import is_feed_key
from feeds.text import slugify
from syndicate.config import Settings
from worker import enqueue, takedown
from worker.checks import check as run_checks
from worker.deadletters import dead_letters
from worker.deadletters import replay as replay_all
from worker.ops import overview
from worker.runtime import Runtime, configure
from worker.social import REGISTRY
from worker.store.takedowns import ENDED


@main.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path | None, force: bool) -> None:
    """Write PATH (.env) with fresh secrets and every setting, commented (for compose's
    `env_file`, or `set -a; . ./.env; set +a`), owner-only. `-` prints it instead; so does no
    PATH when the output is not a terminal (`syndicate init > .env` makes the file
    owner-only first)."""
    text = env_template()
    if path is None and not sys.stdout.isatty():
        path = Path("-")
    if str(path) == "-":
        _owner_only_stdout()
        click.echo(text, nl=False)
        return
    path = path or Path(".env")
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists: pass --force to replace it")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    click.echo(
        f"wrote {path} (owner-only): fresh SYNDICATE_WEBHOOK_SECRET and "
        "SYNDICATE_ADMIN_TOKEN; fill in SYNDICATE_PUBLIC_URL and the networks you use"
    )


def _owner_only_stdout() -> None:
    """Secrets go to a redirect (`> .env`) only once the file is the owner's alone: the shell
    created it with its umask (often world-readable)."""
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(mode) or stat.S_IMODE(mode) & 0o077 == 0:
        return
    try:
        os.fchmod(sys.stdout.fileno(), 0o600)
    except OSError as exc:
        raise click.ClickException(
            f"the output file is readable by others and cannot be made owner-only "
            f"({exc.strerror}): nothing written; remove it and run `syndicate init .env`"
        ) from None


def env_template() -> str:
    """Every setting with its default and meaning, secrets freshly made."""
    lines = ['# syndicate settings (README "Configuration"). Uncomment what you change.', ""]
    fresh = {
        "SYNDICATE_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "SYNDICATE_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "FLOWER_BASIC_AUTH": "admin:" + secrets.token_urlsafe(18),
    }
    for name, value in fresh.items():
        lines.append(f"{name}={value}")
    lines += ["SYNDICATE_PUBLIC_URL=https://feeds.example.org", ""]
    models = [("service", Settings)] + [
        (name, cls.settings_class) for name, cls in REGISTRY.items()
    ]
    for title, model in models:
        lines.append(f"# {title}")
        for field in model.model_fields.values():
            alias = field.validation_alias
            if not isinstance(alias, str) or alias in fresh or alias == "SYNDICATE_PUBLIC_URL":
                continue
            default = field.default
            shown = (
                ""
                if default in (None, (), False)
                else (",".join(default) if isinstance(default, tuple) else str(default))
            )
            if isinstance(default, bool) and default:
                shown = "1"
            elif isinstance(default, float) and default.is_integer():
                shown = str(int(default))
            lines.append(f"# {alias}={shown}")
        lines.append("")
    return "\n".join(lines)


@main.command()
@click.argument("article_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option(
    "--wait",
    default=180,
    show_default=True,
    type=click.IntRange(0, 3600),
    help="seconds to wait for the takedown to finish (0: queue it and return)",
)
@click.option(
    "--again", "run_again", is_flag=True, help="an article already purged: run its takedown again"
)
def purge(article_id: str, yes: bool, wait: int, run_again: bool) -> None:
    """Take ARTICLE_ID down for good (a legal takedown), leaving an audit record.

    \b
    The service's workers carry it out with the service's own configuration: its text, title,
    URL, events and the words kept for networks leave Redis; it leaves every feed it was ever
    in (re-rendered, exported, hubs told), a feed it leaves empty is removed (bytes and files),
    posts of it are deleted where the network allows (the others are named), Redis's
    append-only file is rewritten, and every copy is checked. No later event brings it back
    until `syndicate unpurge`. Exits 0 only when every check passed.
    """

    rt = ops_runtime()
    state = rt.store.articles.state(article_id)
    if state is None:
        raise click.ClickException(f"no such article: {article_id}")
    again = state == "purged"
    if again:
        _say_already_purged(rt, article_id, run_again)
        if not run_again:
            return
    if not yes:
        click.confirm(
            f"Run the takedown of {article_id!r} again?"
            if again
            else f"Remove every trace of article {article_id!r}?",
            abort=True,
        )
    rt.store.takedowns.request(article_id)
    enqueue.takedown(article_id)
    rt.store.actions.record("purge", article_id + (" (again)" if again else ""))
    if not rt.store.workers.live():
        click.echo(
            "takedown queued: no worker is running; it is carried out when one starts "
            f"(`syndicate purge {article_id}` again shows nothing new, "
            "`syndicate status` shows the workers)",
            err=True,
        )
        raise SystemExit(1)
    _report_takedown(article_id, _wait_for_takedown(rt, article_id, wait), again)


def _say_already_purged(rt: Runtime, article_id: str, run_again: bool) -> None:
    """Since when, and whether the takedown runs again (--again) or nothing is done."""
    when = float((rt.store.articles.get(article_id) or {}).get("purged_at") or 0)
    click.echo(
        f"{article_id} is already purged"
        + (time.strftime(" (%Y-%m-%d %H:%M UTC)", time.gmtime(when)) if when else "")
        + (
            ": the takedown runs again to remove anything left and check every copy"
            if run_again
            else ": nothing done (pass --again to run the takedown again, "
            "removing anything left and checking every copy)"
        )
    )


def _wait_for_takedown(rt: Runtime, article_id: str, wait: int) -> dict:
    """The takedown's progress record once it has ended, or as it stands after `wait` s."""
    deadline = time.monotonic() + wait
    record = rt.store.takedowns.get(article_id)
    while record.get("state") not in ENDED and time.monotonic() < deadline:
        time.sleep(0.2)
        record = rt.store.takedowns.get(article_id)
    return record


def _report_takedown(article_id: str, record: dict, again: bool) -> None:
    """Each step's line, then the verdict; exit 1 unless every check passed."""
    for line in takedown.summary(record):
        click.echo(f"  {line}")
    if record.get("state") == "done":
        click.echo(
            f"already purged {article_id}: takedown run again, every copy checked"
            if again
            else f"purged {article_id}: every copy checked; audit record kept"
        )
        return
    if record.get("state") not in ENDED:
        click.echo(f"takedown of {article_id} still under way: see `syndicate status`", err=True)
    else:
        click.echo(f"takedown of {article_id} incomplete: see the lines above", err=True)
    raise SystemExit(1)


@main.command()
@click.argument("article_id")
@click.option("--reason", required=True, help="why (kept in the audit record)")
def unpurge(article_id: str, reason: str) -> None:
    """Let the CMS publish a purged article again: its next event applies (it is not shared
    again). Audited."""

    rt = ops_runtime()
    if not rt.store.purges.unpurge(article_id, reason[:500]):
        raise click.ClickException(f"{article_id} is not purged")
    rt.store.actions.record("unpurge", f"{article_id}: {reason}")
    click.echo(f"unpurged {article_id}: the CMS's next event for it applies; audit record kept")


@main.command()
@click.option("--feed", "feed_key", default=None, help="one feed key (default: every feed)")
def rebuild(feed_key: str | None) -> None:
    """Have the service's renderers render feeds again from the stored articles (with the
    service's configuration); hubs hear of those that changed."""

    rt = ops_runtime()
    if feed_key is not None:
        if not is_feed_key(feed_key) or not rt.store.articles.is_feed(feed_key):
            raise click.ClickException(
                f"no such feed: {feed_key}" + _did_you_mean(feed_key, rt.store.articles.all_feeds())
            )
        feeds = [feed_key]
    else:
        feeds = rt.store.articles.all_feeds()
    changed = render_by_workers(rt, feeds)
    rt.store.actions.record(
        "rebuild", f"{feed_key or 'every feed'}: {len(feeds)} rendered, {changed} changed"
    )
    click.echo(f"rebuild: {len(feeds)} feeds rendered, {changed} changed")


def _did_you_mean(typed: str, feeds: list[str]) -> str:
    """`nato` -> `; did you mean tag/nato?`: the feeds whose key, or last part, is what was typed
    as a slug (`NATO`, `tag/NATO`), else the closest keys; "" when none is near."""
    wanted = "/".join(slugify(part) for part in typed[:1200].split("/"))
    exact = [
        key
        for key in feeds
        if key == wanted or key.rpartition("/")[2] == wanted or key.endswith("/" + wanted)
    ]
    near = exact[:5] or difflib.get_close_matches(wanted, feeds, n=3, cutoff=0.75)
    return (
        f"; did you mean {' or '.join(near)}?"
        if near
        else " (feed keys look like tag/nato, section/news, author/jane-doe, all, audio)"
    )


@main.command()
@click.option(
    "--only", default=None, help="one dead letter, e.g. event:ID or delivery:ARTICLE:NETWORK"
)
@click.option("--list", "list_only", is_flag=True, help="list the dead letters, replay nothing")
def replay(only: str | None, list_only: bool) -> None:
    """Retry events and deliveries that ran out of retries (a worker picks them up)."""

    rt = ops_runtime()
    if list_only:
        letters = dead_letters(rt, limit=1000)
        for item in letters:
            click.echo(f"{item['name']}  {item.get('error', '')}")
        click.echo(f"{len(letters)} dead letters")
        return
    done = replay_all(rt, only)
    if done:
        rt.store.actions.record(
            "replay",
            ", ".join(item["name"] for item in done[:5])
            + (f" and {len(done) - 5} more" if len(done) > 5 else ""),
        )
    for item in done:
        click.echo(f"replayed {item['name']}")
    if only is not None and not done:
        raise click.ClickException(f"no dead letter named {only}")
    click.echo(f"replay: {len(done)} queued again")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the overview as JSON")
def status(as_json: bool) -> None:
    """Queue depth, live workers, recent events, channel health and dead letters."""

    data = overview(ops_runtime())
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(
        "queues     "
        + ", ".join(f"{q} {n if n is not None else '?'}" for q, n in data["queues"].items())
    )
    click.echo(f"workers    {', '.join(data['workers']) or 'none alive'}")
    click.echo(f"renderers  {len(data['renderers']) or 'none alive'}")
    click.echo(
        f"articles   {data['articles']} in {data['feeds']} feeds "
        f"({data['feeds_to_render']} waiting to be rendered)"
    )
    for ch in data["channels"]:
        states = ", ".join(f"{k} {v}" for k, v in sorted(ch["deliveries"].items())) or "nothing yet"
        line = f"{ch['network']:<11}{'on ' if ch['enabled'] else 'off'}  {states}"
        if ch["open"]:
            line += f"; {ch['open']} open"
        if ch["last_failure"]:
            line += f"; last failure: {ch['last_failure']['error']}"
        click.echo(line)
    click.echo(f"dead       {len(data['dead_letters'])} (syndicate replay --list)")
    click.echo("recent events:")
    for ev in data["events"][:10]:
        when = time.strftime("%H:%M:%S", time.localtime(ev["received_at"]))
        click.echo(
            f"  {when} {ev['status']:<10} {ev['type']:<20} {ev['article_id']} "
            f"{ev['outcome'] or ev['error']}"
        )


@main.command()
def check() -> None:
    """Validate the configuration and reach Redis, the broker and every configured remote."""

    settings = with_kept_secrets(with_running_service(settings_or_exit()))
    click.echo("ok    configuration: every SYNDICATE_* variable is valid")
    failed = False
    for item in run_checks(configure(settings)):
        mark = (
            "warn"
            if item.warning and item.ok is False
            else {True: "ok ", False: "FAIL", None: "off"}[item.ok]
        )
        click.echo(f"{mark:<5} {item.name}: {item.detail}")
        failed = failed or (item.ok is False and not item.warning)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
