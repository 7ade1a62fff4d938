"""Version 1 of the HTTP API. Each module is one domain's router: auth -> service -> response."""
