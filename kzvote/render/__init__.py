"""Turn reports into text: rich console renderables, JSON, CSV."""
