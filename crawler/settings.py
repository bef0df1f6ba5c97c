"""Scrapy settings for trialscope's crawls: polite to the registry, safe on the user's machine.

Load with ``Settings().setmodule("trialscope.crawler.settings")``; ``run_crawl`` does, then
adds the per-crawl values (``TRIALS_STORE_PATH``, ``TRIALS_PROGRESS``) and any overrides.
"""

from __future__ import annotations

from trialscope import __version__

BOT_NAME = "trialscope"
SPIDER_MODULES = ["trialscope.crawler.spiders"]
NEWSPIDER_MODULE = "trialscope.crawler.spiders"

# Who we are and where to complain: the registry has no documented rate limit, so the least we
# owe it is a way to reach us.
USER_AGENT = f"trialscope/{__version__} (+https://github.com/trialscope/trialscope)"

# ClinicalTrials.gov's API is a documented JSON API meant for programs; its robots.txt governs
# the website's HTML pages and has no rules for API clients.  Fetching robots.txt would only
# add a request per host (and a mirror or mock named by TRIALS_CTGOV_API may have none).
ROBOTSTXT_OBEY = False

# Politeness: few requests in flight, AutoThrottle adapts the delay to the server's latency.
# Token paging is sequential anyway; large pages (pageSize=1000) beat concurrency.
CONCURRENT_REQUESTS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.5
DOWNLOAD_TIMEOUT = 120  # a 1000-study page can be tens of MB
DOWNLOAD_WARNSIZE = 256 * 1024 * 1024  # the default (32 MB) warns on ordinary full pages
COOKIES_ENABLED = False  # a stateless API: no session to keep

# Retries: transient server trouble and rate limiting.  Our middleware replaces Scrapy's to
# honour Retry-After and back off exponentially without blocking the reactor.
RETRY_ENABLED = True
RETRY_TIMES = 5
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 408, 522, 524]
TRIALS_RETRY_BACKOFF_BASE = 1.0  # seconds; the n-th retry waits base * 2**(n-1)
TRIALS_RETRY_BACKOFF_MAX = 60.0  # cap on one exponential wait
TRIALS_RETRY_AFTER_MAX = 120.0  # cap on a server's Retry-After (a bad header must not stall us)
# Failures retrying cannot fix fail fast: at most this many retries for them (the others get
# RETRY_TIMES).  A refused connection gets one (a server restarting); a timeout two (each
# may cost DOWNLOAD_TIMEOUT).  403 is not in RETRY_HTTP_CODES: never retried.
TRIALS_RETRY_LIMITS = {"dns_lookup": 0, "connection_refused": 1, "tls": 0, "http_403": 0,
                       "timeout": 2}
# ... and after this many of them in a row from one host (no good answer between), the crawl
# stops with finish reason "unreachable" (0: never).
TRIALS_STOP_AFTER_PERMANENT = 5
DOWNLOADER_MIDDLEWARES = {
    # First in line: gives every request an errback, so any failure is counted (faults.py).
    "trialscope.crawler.faults.FailureAccounting": 10,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "trialscope.crawler.middlewares.BackoffRetryMiddleware": 550,
}

# The API answers an alias NCT id with a 301 to the study's current id: follow it (the spider
# records the alias).  404 reaches the spider so it can report unknown ids; 400 too, so a
# query the API rejects is reported with the API's message instead of vanishing.
REDIRECT_ENABLED = True
HTTPERROR_ALLOWED_CODES = [400, 404]

# Items go to the store, nowhere else.
ITEM_PIPELINES = {"trialscope.crawler.pipelines.StorePipeline": 300}
FEEDS: dict[str, dict[str, str]] = {}
TRIALS_STORE_PATH = None  # set per crawl
TRIALS_STORE_BATCH = 200  # items per transaction (a killed crawl loses at most one batch)
TRIALS_STORE_BATCH_SECONDS = 10.0  # ... or this many seconds of them, on a slow id crawl

EXTENSIONS = {"trialscope.crawler.progress.CrawlProgress": 500}
TRIALS_PROGRESS = True

# Caching would replay stale registry data into the store: off unless asked for.
HTTPCACHE_ENABLED = False

# Scrapy 2.19 starts a localhost server that runs code sent to it, and a telnet console: a
# crawler on a researcher's laptop needs neither.
REMOTE_CONTROL_ENABLED = False
TELNETCONSOLE_ENABLED = False

# run_crawl installs exactly one handler (file or stderr); Scrapy's own would double each line.
LOG_INSTALL_ROOT_HANDLER = False
LOG_LEVEL = "INFO"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
