"""Scrapy components that fail on purpose, for tests of the failure accounting: enabled in a
crawl or refresh subprocess through ``TRIALS_CRAWL_SETTINGS`` (``tests.mockserver.cli_env``).

Each raises for the requests whose URL contains the setting ``TRIALS_TEST_FAIL_URL_PART``
(default ``/studies``): an exception nobody planned for, in the download path or in a callback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class RaisingDownloaderMiddleware:
    """Raises in ``process_response``, as the Retry-After parse once did."""

    def __init__(self, part: str) -> None:
        self.part = part

    @classmethod
    def from_crawler(cls, crawler: Any) -> RaisingDownloaderMiddleware:
        return cls(crawler.settings.get("TRIALS_TEST_FAIL_URL_PART", "/studies"))

    def process_response(self, request: Any, response: Any) -> Any:
        if self.part in request.url:
            raise ValueError(f"injected failure in the download path for {request.url}")
        return response


class RaisingSpiderMiddleware:
    """Raises while a callback's output is read: a bug in a callback."""

    def __init__(self, part: str) -> None:
        self.part = part

    @classmethod
    def from_crawler(cls, crawler: Any) -> RaisingSpiderMiddleware:
        return cls(crawler.settings.get("TRIALS_TEST_FAIL_URL_PART", "/studies"))

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterable[Any]:
        if self.part in response.url:
            raise RuntimeError(f"injected failure in a callback for {response.url}")
        yield from result

    async def process_spider_output_async(self, response: Any, result: Any) -> Any:
        if self.part in response.url:
            raise RuntimeError(f"injected failure in a callback for {response.url}")
        async for item in result:
            yield item
