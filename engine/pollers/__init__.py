"""Pollers: fetch from Amazon and QAD through ``adapters`` and append immutable events to ``log``.

Each appends its events and its watermark in one transaction. Imports adapters, log, security,
config, errors.
"""
