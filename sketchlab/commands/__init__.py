"""CLI subcommands, one module each, registered by sketchlab.cli."""
