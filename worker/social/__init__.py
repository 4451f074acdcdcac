"""Social channels, one module per network; `channels_for(settings)` lists the enabled ones."""

from __future__ import annotations

from syndicate.config import Settings
from worker.social.base import Channel
from worker.social.facebook import Facebook
from worker.social.googleplus import GooglePlus
from worker.social.twitter import Twitter

CHANNEL_CLASSES: dict[str, type[Channel]] = {
    "twitter": Twitter,
    "facebook": Facebook,
    "googleplus": GooglePlus,
}


def channels_for(settings: Settings) -> dict[str, Channel]:
    return {name: CHANNEL_CLASSES[name](settings) for name in settings.enabled_networks}
