"""Console screens, one per module; `console.screens.base.ConsoleScreen` is their frame."""
