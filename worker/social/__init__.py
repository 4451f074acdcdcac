"""The social networks: every module in this package that defines a `Channel` subclass with a
name is a network (adding one is adding its module). `NETWORKS` lists them in a stable order;
`channels_for(settings)` builds the ones whose credentials are set.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from pydantic import ValidationError

from feeds.article import Article
from feeds.share import share_links as classic_share_links
from syndicate.config import ConfigError, Settings, one_line
from worker.social.base import Channel, NetworkSettings

__all__ = [
    "NETWORKS",
    "REGISTRY",
    "Channel",
    "NetworkSettings",
    "channels_for",
    "enabled_networks",
    "network_settings",
    "share_links",
    "share_networks",
]

_NOT_NETWORKS = {"base", "errors"}


def _discover() -> dict[str, type[Channel]]:
    found: dict[str, type[Channel]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name in _NOT_NETWORKS:
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Channel) and cls.__module__ == module.__name__ and cls.name:
                found[cls.name] = cls
    return found


REGISTRY: dict[str, type[Channel]] = _discover()
NETWORKS: tuple[str, ...] = tuple(REGISTRY)


def network_settings(settings: Settings) -> dict[str, NetworkSettings]:
    """Each network's settings from the environment; a malformed one is a ConfigError."""
    out = {}
    for name, cls in REGISTRY.items():
        try:
            out[name] = cls.settings_class.model_validate(
                {k: v.strip() for k, v in settings.environ.items() if v.strip()}
            )
        except ValidationError as exc:
            raise ConfigError(one_line(exc)) from None
    return out


def enabled_networks(settings: Settings) -> tuple[str, ...]:
    return tuple(n for n, config in network_settings(settings).items() if config.enabled)


def share_networks(settings: Settings) -> tuple[str, ...]:
    """The networks whose share-intent links articles get: SYNDICATE_SHARE_LINKS (`none`: no
    link at all), else the networks that are on (a network that is off, like Google+ whose
    share page is gone, gets none)."""
    chosen = settings.share_links
    if chosen is None:
        return enabled_networks(settings)
    if chosen == ("none",):
        return ()
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown:
        raise ConfigError(
            f"SYNDICATE_SHARE_LINKS: no network named {unknown[0]!r} (known: "
            f"{', '.join(NETWORKS)}, or none)"
        )
    return chosen


def share_links(settings: Settings, article: Article) -> dict[str, str]:
    """The share-intent links of an article, for the networks `share_networks` names: the
    classic ones and each network's own."""
    wanted = share_networks(settings)
    classic = classic_share_links(article)
    links = {name: classic[name] for name in wanted if name in classic}
    configs = network_settings(settings)
    for name in wanted:
        link = REGISTRY[name].share_link(configs[name], article)
        if link:
            links[name] = link
    return links


def channels_for(settings: Settings, state: Any = None) -> dict[str, Channel]:
    """The enabled networks; `state(name)` gives each its shared state (the store's)."""
    share_networks(settings)  # a misspelt SYNDICATE_SHARE_LINKS stops the start, not a page
    return {
        name: REGISTRY[name](config, settings.http_timeout, state(name) if state else None)
        for name, config in network_settings(settings).items()
        if config.enabled
    }
