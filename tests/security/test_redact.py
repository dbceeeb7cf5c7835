"""Log redaction: tokens by pattern, registered secrets by value, also in tracebacks."""

import logging

from engine.security.redact import RedactingFilter, install_redaction, redact, register_secret


def test_patterns():
    text = (
        "Atza|IwEBIabc token Atzr|IwEBIdef Atz.sprdt|xyz Authorization: Bearer eyJhbGc "
        '{"client_secret": "s3cr3t-val", "refresh_token":"Atzr|q"} password=hunter2'
    )
    out = redact(text)
    for s in ("IwEBIabc", "IwEBIdef", "xyz", "eyJhbGc", "s3cr3t-val", "hunter2"):
        assert s not in out
    assert "Atza|***" in out and "Bearer ***" in out


def test_registered_secret_masked_in_records_and_tracebacks(caplog):
    register_secret("plain-secret-4711")
    logger = logging.getLogger("engine.test.redact")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="engine.test.redact"):
            logger.info("login with %s", "plain-secret-4711")
            try:
                raise RuntimeError("failed for plain-secret-4711")
            except RuntimeError:
                logger.exception("boom")
    finally:
        logger.filters.clear()
    assert "plain-secret-4711" not in caplog.text
    assert "***" in caplog.text


def test_install_is_idempotent():
    logger = logging.getLogger("engine.test.install")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        install_redaction(logger)
        install_redaction(logger)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    finally:
        logger.removeHandler(handler)
        logger.filters.clear()
