"""The back-office's HTML pages, one module per area; each adds its routes to the app."""
