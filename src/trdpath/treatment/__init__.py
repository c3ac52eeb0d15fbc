"""Treatment: from prescriptions to ingredients, exposures, eras, adequate trials and episodes (trd-rules.md 3)."""
