"""LanguageTool, the one external service the engine calls: its HTTP client (``client``)
and the watch that notices it arrive (``watch``)."""
