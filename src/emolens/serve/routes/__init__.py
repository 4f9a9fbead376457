"""The service's routes, one module per resource; :func:`emolens.serve.app.create_app` includes each router."""
