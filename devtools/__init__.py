"""Developer tools that are not production services: the chaos suite, benches' helpers."""
