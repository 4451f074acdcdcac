"""The WordPress plugin (integrations/wordpress/syndicate) in a real WordPress: Debian's
`wordpress` package with php-cli, on a throwaway database of the machine's MariaDB, driven
through WordPress's own PHP API (tests/wordpress/drive.php, one process per editor action) and
its real WP-Cron (`php wp-cron.php`, as a system cron runs it), sending to a real `syndicate run`
through a loopback proxy that can lose answers. What counts is what the service then shows: the
article in its feeds and its delivery states, once."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
from typing import Any

import pytest

from tests.fakes import FakeServers
from tests.support import ADMIN_TOKEN, SECRET, Run, wait_for
from tests.wordpress.harness import (
    HELPERS,
    INSTALL_HINT,
    PHP,
    PLUGIN,
    WORDPRESS,
    Proxy,
    Stack,
    WordPress,
    database_do,
    missing,
    wp_config,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    reason = missing()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("wordpress")
    fakes = FakeServers()
    fakes.start()
    run = Run(tmp, fakes.environment())
    database = "wp_syndicate_test_" + secrets.token_hex(6)
    proxy = None
    created = False
    try:
        run.wait_up()
        proxy = Proxy(run.base)
        database_do("create", database)
        created = True
        root = tmp / "site"
        shutil.copytree(
            WORDPRESS,
            root,
            symlinks=True,
            ignore=shutil.ignore_patterns("wp-config.php", "languages"),
        )
        (root / "wp-config.php").write_text(wp_config(root, database))
        shutil.copytree(PLUGIN, root / "wp-content" / "plugins" / "syndicate")
        (root / "wp-content" / "mu-plugins").mkdir(exist_ok=True)
        shutil.copy(
            HELPERS / "mu-plugin.php", root / "wp-content" / "mu-plugins" / "syndicate-tests.php"
        )
        wp = WordPress(root, database)
        admin = wp.do("install")
        wp.do(
            "activate",
            options={
                "syndicate_url": proxy.url,
                "syndicate_webhook_secret": SECRET,
                "syndicate_admin_token": ADMIN_TOKEN,
            },
        )
        yield Stack(run, fakes, proxy, wp, admin)
    finally:
        if proxy:
            proxy.stop()
        run.stop()
        fakes.stop()
        if created:
            database_do("drop", database)


# --- the plugin's files --------------------------------------------------------------------


def test_every_plugin_file_is_valid_php_and_the_readme_is_in_wordpress_format():
    if PHP is None:
        pytest.skip(f"php-cli is not installed ({INSTALL_HINT})")
    files = sorted(PLUGIN.rglob("*.php")) + sorted(HELPERS.rglob("*.php"))
    assert len(files) >= 10
    for path in files:
        lint = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, (path, lint.stdout, lint.stderr)
    # WordPress coding standards (phpcs + wpcs) are not in Debian: the cheap checks here are
    # tabs for indentation, no closing PHP tag, and the ABSPATH guard on every included file.
    for path in PLUGIN.rglob("*.php"):
        text = path.read_text()
        assert not re.search(r"^ {4}", text, re.M), f"{path}: indent with tabs"
        assert "?>" not in text, f"{path}: no closing PHP tag"
        if path.name not in ("index.php", "uninstall.php"):
            assert "defined( 'ABSPATH' ) || exit;" in text, path
    header = (PLUGIN / "syndicate.php").read_text()
    readme = (PLUGIN / "readme.txt").read_text()
    assert readme.startswith("=== Syndicate ===\n")
    fields = dict(re.findall(r"^([A-Z][A-Za-z ]+): (.+)$", readme.split("\n\n")[0], re.M))
    version = re.search(r"^ \* Version: +(\S+)$", header, re.M)
    assert version and fields["Stable tag"] == version.group(1)
    assert fields["Requires at least"] == "6.1" and "Requires at least: 6.1" in header
    assert fields["Requires PHP"] == "8.1" and "Requires PHP:      8.1" in header
    short = readme.split("\n\n")[1]
    assert len(short) <= 150 and "<" not in short
    for section in ("Description", "Installation", "Frequently Asked Questions", "Changelog"):
        assert f"\n== {section} ==\n" in readme
    assert "DISABLE_WP_CRON" in readme and "php wp-cron.php" in readme


# --- a post's life ---------------------------------------------------------------------------


def _post_with_everything(stack: Stack) -> int:
    wp = stack.wp
    news = wp.do("category", name="News", slug="news")
    lithuania = wp.do("category", name="Lithuania & Baltics", slug="lithuania", parent=news)
    author = wp.do(
        "user",
        user_login="ruta",
        user_pass="ruta-password-123",
        role="author",
        display_name="Rūta Vaitkutė",
        user_email="ruta@wp.test",
    )
    image = wp.do(
        "image",
        title="Vilnius",
        caption="Vilnius, <em>July 2023</em>.",
        credit="Photo: Agency",
        description="ignored: the credit field wins",
        file="2023/07/vilnius.jpg",
    )
    post = wp.do(
        "insert",
        post_title="NATO summit in Vilnius",
        post_status="draft",
        post_excerpt="What the summit decided.",
        post_author=author,
        post_content="<!-- wp:paragraph -->\n<p>Leaders met in Vilnius.</p>\n"
        "<!-- /wp:paragraph -->",
        post_category=[lithuania],
        tags_input=["NATO", "Ukraine"],
        meta_input={
            "_thumbnail_id": image,
            "enclosure": "https://media.example.org/summit.mp3\n14562304\naudio/mpeg\n",
        },
    )
    wp.do(
        "meta_box_save",
        id=post,
        fields={
            "syndicate_share_message": "Read: the NATO summit in Vilnius",
            "syndicate_share_mode": "chosen",
            "syndicate_share_networks": ["twitter", "facebook"],
        },
    )
    return post


def test_a_post_reaches_the_service_once_through_publish_edit_unpublish_and_trash(stack):
    wp, proxy = stack.wp, stack.proxy
    post = _post_with_everything(stack)
    article_id = f"wp-1-{post}"
    # a draft, its autosave and its meta box save: nothing
    wp.do("autosave", id=post, fields={"post_title": "Draft autosave"})
    wp.cron()
    assert wp.queue(post) == [] and proxy.sent(article_id) == []

    wp.do("update", ID=post, post_status="publish")
    rows = wp.queue(post)
    assert [r["state"] for r in rows] == ["queued"]  # stored first, sent by WP-Cron
    doc = stack.deliver(post)
    link = wp.do("post", id=post)["permalink"]
    article = doc["article"]
    assert doc["state"] == "published" and article["title"] == "NATO summit in Vilnius"
    assert article["url"] == link and article["summary"] == "What the summit decided."
    assert "<p>Leaders met in Vilnius.</p>" in article["body_html"]
    assert [s["name"] for s in article["sections"]] == ["News", "Lithuania & Baltics"]
    assert sorted(t["name"] for t in article["tags"]) == ["NATO", "Ukraine"]
    assert article["authors"][0]["name"] == "Rūta Vaitkutė"
    assert not article["authors"][0].get("email")  # no address leaves the site
    assert article["image"]["url"].endswith("/wp-content/uploads/2023/07/vilnius.jpg")
    assert article["image"]["caption"] == "Vilnius, July 2023."
    assert article["image"]["credit"] == "Photo: Agency"
    assert article["audio"]["url"] == "https://media.example.org/summit.mp3"
    assert article["audio"]["length"] == 14562304
    assert article["share"]["message"] == "Read: the NATO summit in Vilnius"
    assert {f["key"] for f in doc["feeds"]} >= {
        "all",
        "section/news",
        "section/news/lithuania",
        "tag/nato",
        "audio",
    }
    first = proxy.sent(article_id)
    assert [e["type"] for e in first] == ["article.published"] and first[0]["status"] == 202
    assert first[0]["headers"]["webhook-signature"].startswith("v1,")
    shares = wait_for(
        lambda: (
            (a := stack.article(article_id))
            and all(a["shares"].get(n, {}).get("state") == "sent" for n in ("twitter", "facebook"))
            and a
        ),
        30,
        "the shares",
    )["shares"]
    assert shares["googleplus"]["state"] == "skipped"
    for feed in doc["feeds"]:  # in each of its feeds, once
        wait_for(
            lambda f=feed: len(stack.feed_entries(f, link)) == 1,  # type: ignore[misc]
            30,
            feed["key"],
        )

    # the box shows the service's delivery states
    status = wp.do("status", id=post)
    assert status["data"]["service"]["state"] == "published"
    assert 'data-network="twitter" data-state="sent"' in status["box"]
    assert "section/news/lithuania" in status["box"] and status["notice"] == ""

    # an edit: updated, once, in every feed
    wp.do("update", ID=post, post_title="NATO summit in Vilnius: the decisions")
    assert stack.deliver(post)["article"]["title"] == "NATO summit in Vilnius: the decisions"
    wait_for(
        lambda: (
            [e.title for e in stack.feed_entries(doc["feeds"][0], link)]
            == ["NATO summit in Vilnius: the decisions"]
        ),
        30,
        "the edit in the feed",
    )
    # the autosave, preview and revision of a published post, and a save that changes
    # nothing: no event
    before = len(proxy.sent(article_id))
    wp.do("autosave", id=post, fields={"post_title": "Autosaved title"})
    wp.do("preview", id=post, fields={"post_title": "Previewed title"})
    wp.do("revision", id=post)
    wp.do("update", ID=post)
    wp.cron()
    assert len(proxy.sent(article_id)) == before
    assert stack.article(article_id)["article"]["title"] == "NATO summit in Vilnius: the decisions"

    # unpublish (to draft), publish again, trash
    wp.do("update", ID=post, post_status="draft")
    assert stack.deliver(post)["state"] == "unpublished"
    assert stack.feed_entries(doc["feeds"][0], link) == [] or wait_for(
        lambda: stack.feed_entries(doc["feeds"][0], link) == [], 30, "the retraction"
    )
    wp.do("update", ID=post, post_status="publish")
    assert stack.deliver(post)["state"] == "published"
    wp.do("trash", id=post)
    assert stack.deliver(post)["state"] == "unpublished"
    wp.do("delete", id=post)  # already out of the feeds: nothing more to say
    wp.cron()
    sent = proxy.sent(article_id)
    assert [e["type"].split(".")[1] for e in sent] == [
        "published",
        "updated",
        "unpublished",
        "published",
        "unpublished",
    ]
    assert all(e["status"] == 202 for e in sent)  # each accepted once: no duplicate sends
    assert len({e["webhook_id"] for e in sent}) == len(sent)
    assert len(stack.fakes.twitter.received("POST", "/2/tweets")) == 1  # shared once
    assert "syndicate" not in wp.debug_log().lower()  # no PHP notice from the plugin


def test_a_lost_answer_is_retried_with_the_same_id_and_the_service_keeps_one(stack):
    wp, proxy = stack.wp, stack.proxy
    post = wp.do(
        "insert", post_title="Retried story", post_status="draft", post_content="<p>Body.</p>"
    )
    article_id = f"wp-1-{post}"
    proxy.faults += ["lost", "503"]  # accepted but the answer lost; then the service "down"
    wp.do("update", ID=post, post_status="publish")
    wp.cron()
    row = wp.queue(post)[-1]
    assert row["state"] == "queued" and row["last_status"] == "503" and row["attempts"] == "1"
    wait_for(
        lambda: (wp.cron() or True) and wp.queue(post)[-1]["state"] == "sent", 30, "the retries"
    )
    sent = proxy.sent(article_id)
    assert [e["status"] for e in sent] == [503, 503, 200]
    assert [e["upstream"] for e in sent] == [202, None, 200]
    assert sent[2]["body"]["status"] == "duplicate"
    assert len({e["webhook_id"] for e in sent}) == 1  # one id for this post state
    assert sent[0]["headers"]["webhook-timestamp"] <= sent[2]["headers"]["webhook-timestamp"]
    doc = wait_for(lambda: stack.article(article_id), 30, "the article")
    assert doc["state"] == "published"
    assert [t for t in doc["timeline"] if "published" in json.dumps(t)]


def test_a_refused_event_is_kept_with_its_fields_and_shown_to_the_editor(stack):
    wp = stack.wp
    post = wp.do("insert", post_title="", post_status="publish", post_content="<p>No title.</p>")
    wp.cron()
    row = wp.queue(post)[-1]
    assert row["state"] == "failed" and row["last_status"] == "422"
    fields = json.loads(row["field_errors"])
    assert "article.title" in [f["field"] for f in fields]
    status = wp.do("status", id=post)
    assert status["data"]["events"][0]["field_errors"] == fields
    assert "<code>article.title</code>" in status["box"]
    assert "notice-error" in status["notice"] and "article.title" in status["notice"]
    wp.cron()  # a refusal is final for that event: not sent again
    assert len(stack.proxy.sent(f"wp-1-{post}")) == 1
    wp.do("update", ID=post, post_title="Now with a title")  # the editor's fix goes out
    assert stack.deliver(post)["article"]["title"] == "Now with a title"


def test_drafts_imports_and_password_protected_posts_send_nothing(stack):
    wp = stack.wp
    draft = wp.do("insert", post_title="Just a draft", post_status="draft")
    pending = wp.do("insert", post_title="Pending review", post_status="pending")
    imported = wp.do(
        "import", post_title="Imported", post_status="publish", post_content="<p>Old.</p>"
    )
    locked = wp.do(
        "insert",
        post_title="Members only",
        post_status="publish",
        post_password="s3cret",
        post_content="<p>Hidden.</p>",
    )
    page = wp.do("insert", post_title="About us", post_status="publish", post_type="page")
    wp.cron()
    for post in (draft, pending, imported, locked, page):
        assert wp.queue(post) == [], post
        assert stack.proxy.sent(f"wp-1-{post}") == []
    # a published post that gains a password leaves the feeds
    post = wp.do(
        "insert", post_title="Open, then locked", post_status="publish", post_content="<p>Text.</p>"
    )
    assert stack.deliver(post)["state"] == "published"
    wp.do("update", ID=post, post_password="s3cret")
    assert stack.deliver(post)["state"] == "unpublished"


def test_a_published_post_deleted_for_good_is_unpublished(stack):
    wp = stack.wp
    post = wp.do(
        "insert", post_title="Deleted at once", post_status="publish", post_content="<p>Text.</p>"
    )
    assert stack.deliver(post)["state"] == "published"
    wp.do("delete", id=post)
    wp.cron()
    assert [e["type"] for e in stack.proxy.sent(f"wp-1-{post}")] == [
        "article.published",
        "article.unpublished",
    ]
    wait_for(lambda: stack.article(f"wp-1-{post}")["state"] == "unpublished", 30, "unpublished")


def test_settings_keep_secrets_hidden_and_refuse_bad_values(stack):
    wp = stack.wp
    assert wp.do("autoload", name="syndicate_webhook_secret") in ("no", "off")
    page = wp.do("settings_page")
    assert SECRET not in page["html"] and ADMIN_TOKEN not in page["html"]
    assert "…" + SECRET[-4:] in page["html"]  # only its end, to tell which one is set
    bad = wp.do(
        "settings_page",
        submit={
            "syndicate_url": "ftp://user:pw@feeds.example.org",
            "syndicate_webhook_secret": "nope",
            "syndicate_admin_token": "",
        },
    )
    assert bad["saved"]["syndicate_url"] == stack.proxy.url  # kept
    assert bad["saved"]["syndicate_webhook_secret"] == SECRET  # kept
    assert bad["saved"]["syndicate_admin_token"] == ADMIN_TOKEN  # empty keeps the saved one
    assert len(bad["errors"]) == 2 and not any(SECRET in e for e in bad["errors"])
    good = wp.do("settings_page", submit={"syndicate_url": "https://feeds.example.org/"})
    assert good["saved"]["syndicate_url"] == "https://feeds.example.org" and not good["errors"]
