"""``emolens serve``: the library behind a REST/WebSocket service (extra ``serve``)."""
