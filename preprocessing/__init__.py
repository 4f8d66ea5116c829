"""Raw files -> index -> cleaned, resized, cached arrays. Never imports torch."""
