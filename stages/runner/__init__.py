"""How a stage runs: its params, its process (errors, signals, exit) and its writes."""
