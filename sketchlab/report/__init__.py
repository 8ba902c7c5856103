"""Report renderers (Qt lives here, never in sketchlab.cases)."""
