"""How things read in the reader's language: translations, labels, wording, renderers."""
