"""Processing algorithms of the "DAKD oil spill" provider."""
