"""Console widgets, one per module; each renders a part of `console.state.ConsoleState`."""
