"""HTTP routes, one module per concern; `app.main` puts their lists together."""
