"""Human-facing views of kinship: text tables, figures, report.md, and the comparison of
trained models."""
