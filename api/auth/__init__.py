"""Authentication at the HTTP edge: session cookies (with CSRF) and bearer tokens."""
