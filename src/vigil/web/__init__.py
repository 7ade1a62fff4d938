"""The reviewer console: server-rendered Jinja2 + htmx, assets vendored in ``static/``."""
