"""Users, roles, data scopes, protected people, API tokens and sessions."""
