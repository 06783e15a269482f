"""Full-text index: normalisation and character-bigram terms for exact Chinese matching."""
