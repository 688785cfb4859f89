"""Other systems the partnership connects: the JSON API's tokens and webhook subscriptions."""
