"""Amazon SP-API: LWA tokens, the rate-limited client, orders, reports, settlements, Listings."""
