"""shiplog's core: the timeline, its filters and its renderings, free of HTTP clients."""
