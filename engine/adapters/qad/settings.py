"""Per-tenant QAD settings. Paths QAD does not publish are configuration (simulator defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from engine.security.urls import validate_entity_path, validate_tenant_url

__all__ = ["QadPaths", "QadSettings"]


@dataclass(frozen=True, slots=True)
class QadPaths:
    """Paths relative to the tenant URL, browse ids and viewUris (INVENTED ones marked)."""

    token_endpoint: str = "oauth/token"  # noqa: S105 - a path, not a secret
    security_control: str = "api/qracore/securityControl"
    browses: str = "api/qracore/browses"
    sales_order_headers: str = "api/erp/salesOrderHeaders"
    sales_orders: str = "api/erp/salesOrders"
    items: str = "api/erp/items"
    inventory_balances: str = "api/erp/inventoryBalances"  # INVENTED
    unplanned_receives: str = "api/erp/unplannedReceives"
    unplanned_issues: str = "api/erp/unplannedIssues"  # INVENTED
    customer_invoices: str = "api/erp/customerInvoices"  # INVENTED
    journal_entries: str = "api/erp/journalEntries"  # INVENTED
    sales_order_view: str = "urn:be:com.qad.sales.salesorder.ISalesOrderHeader"
    unplanned_receive_view: str = "urn:be:com.qad.logistics.unplanned.IUnplannedReceiveV2"
    unplanned_issue_view: str = "urn:be:com.qad.logistics.unplanned.IUnplannedIssueV2"  # INVENTED
    customer_invoice_view: str = "urn:be:com.qad.sim.ICustomerInvoice"  # INVENTED
    journal_entry_view: str = "urn:be:com.qad.sim.IJournalEntry"  # INVENTED
    sales_order_browse: str = "urn:browse:bebrowse:com.qad.erp.sales.salesOrders"
    sales_order_reference_field: str = "salesOrder.customerPurchaseOrder"  # INVENTED field
    item_browse: str = "urn:browse:mfg:gp340"
    inventory_history_browse: str = "urn:browse:sim:inventoryHistory"  # INVENTED

    def entity_paths(self) -> dict[str, str]:
        """Config key -> relative path of every ``api/erp`` entity (probed at start-up)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name).startswith("api/erp/")
        }

    def browse_ids(self) -> dict[str, str]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.endswith("_browse")
        }

    def validated(self) -> QadPaths:
        """Raise ConfigError for an unsafe path (traversal, foreign host, query)."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not value.startswith("urn:"):
                validate_entity_path(value, what=f"qad.paths.{f.name}")
        return self


@dataclass(frozen=True, slots=True)
class QadSettings:
    """One QAD tenant, addressed by its full URL (context root included, kept as given)."""

    tenant_url: str
    username: str
    password: str = field(repr=False)
    domain: str = "10USA"
    entity: str = "10USACO"
    client_id: str = ""  # "" = read it from securityControl with Basic auth
    paths: QadPaths = field(default_factory=QadPaths)
    request_timeout_s: float = 30.0
    token_refresh_margin_s: float = 60.0
    page_size: int = 100
    probe_paths: bool = True

    def validated_url(self) -> str:
        return validate_tenant_url(self.tenant_url, what="qad.tenant_url")
