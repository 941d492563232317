"""Route handlers, one module per area. Each translates HTTP to a service call and back."""
