"""What the back-office serves to programs: the JSON API (bearer tokens, OpenAPI) and the
Prometheus metrics."""
