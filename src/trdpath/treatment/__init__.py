"""Treatment: from prescriptions to ingredients, exposures, eras, adequate trials and episodes (study-definition.md 3)."""
