"""Tenant URL and entity path validation."""

import pytest

from engine.errors import ConfigError
from engine.security.urls import validate_entity_path, validate_tenant_url


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://Acme.QAD.com/clouderp/", "https://acme.qad.com/clouderp"),
        ("https://acme.qad.com:8443/qad-central", "https://acme.qad.com:8443/qad-central"),
        ("http://127.0.0.1:9000/clouderp", "http://127.0.0.1:9000/clouderp"),
        ("http://localhost:9000/clouderp", "http://localhost:9000/clouderp"),
        ("http://[::1]:9000/clouderp", "http://[::1]:9000/clouderp"),
    ],
)
def test_good_tenant_urls(url, expected):
    assert validate_tenant_url(url) == expected


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://acme.qad.com/clouderp", "https"),
        ("http://10.0.0.5/clouderp", "https"),
        ("ftp://acme.qad.com", "https"),
        ("acme.qad.com/clouderp", "https"),
        ("https://user:pw@acme.qad.com/clouderp", "user:password"),
        ("https://user@acme.qad.com/clouderp", "user:password"),
        ("https://acme.qad.com/clouderp?next=https://evil", "query"),
        ("https://acme.qad.com/clouderp#x", "fragment"),
        ("https:///clouderp", "host"),
        ("https://acme.qad.com/a/../b", r"'\.\.'"),
        ("https://acme.qad.com/a b", "whitespace"),
        ("", "empty"),
    ],
)
def test_bad_tenant_urls(url, reason):
    with pytest.raises(ConfigError, match=reason):
        validate_tenant_url(url)


@pytest.mark.parametrize(
    "path", ["api/erp/salesOrderHeaders", "api/erp/items/", "api/qracore/browses"]
)
def test_good_entity_paths(path):
    assert validate_entity_path(path) == path.rstrip("/")


@pytest.mark.parametrize(
    "path",
    [
        "../api/erp/items",
        "api/../../admin",
        "api/./erp",
        "api/%2e%2e/admin",
        "api/%2E%2E/admin",
        "api/%252e%252e/admin",
        "api%2f..%2fadmin",
        "api/erp%5c..%5cadmin",
        "api\\..\\admin",
        "/api/erp/items",
        "//evil.example/api",
        "https://evil.example/api",
        "http:evil",
        "api//erp",
        "api/erp?x=1",
        "api/erp#f",
        "api/e rp",
        "api/erp\n",
        "",
    ],
)
def test_bad_entity_paths(path):
    with pytest.raises(ConfigError):
        validate_entity_path(path)
