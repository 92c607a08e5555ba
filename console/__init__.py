"""The on-box Textual console (UI only; talks to the daemon through nasfs.client)."""
