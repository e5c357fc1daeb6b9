"""Glue between Snakemake's `script:` directive and the library: the rule's log file and errors with their context."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any


def optional_input(snakemake: Any, name: str) -> str | None:
    """A named input that an input function may leave empty (an empty list); None when absent."""
    value = getattr(snakemake.input, name, None)
    if value is None or (isinstance(value, list) and not value):
        return None
    return str(value)


@contextlib.contextmanager
def rule_logging(snakemake: Any) -> Iterator[logging.Logger]:
    """Log to the rule's log file; an exception is logged with the rule and its wildcards, then re-raised."""
    handler = (
        logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8") if snakemake.log else logging.StreamHandler()
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[handler], force=True
    )
    context = " ".join(f"{key}={value}" for key, value in snakemake.wildcards.items())
    logger = logging.getLogger("wbrad")
    logger.info("rule %s started: %s (threads %s)", snakemake.rule, context, snakemake.threads)
    try:
        yield logger
    except Exception:
        logger.exception("rule %s failed: %s", snakemake.rule, context)
        raise
    logger.info("rule %s finished: %s", snakemake.rule, context)
