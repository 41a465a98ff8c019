"""Platform adapters: one module per platform, all behind `BaseAdapter`."""

from bot.adapters.base import BaseAdapter
from bot.adapters.telegram_adapter import TelegramAdapter
from bot.adapters.web_adapter import WebAdapter
from bot.adapters.x_adapter import XAdapter

__all__ = ["ADAPTERS", "BaseAdapter", "TelegramAdapter", "WebAdapter", "XAdapter"]

ADAPTERS: dict[str, type[BaseAdapter]] = {cls.name: cls for cls in (WebAdapter, TelegramAdapter, XAdapter)}
