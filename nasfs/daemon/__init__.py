"""The daemon that owns one mounted array: FUSE, the control socket, periodic jobs.

`service.Daemon` assembles the parts; `control` is the socket server and its method table;
`methods` holds the control methods; `registry` the lock and records under /run/nasfs;
`detach` starts it in the background; `periodic` runs its timed jobs. docs/daemon.md
describes its life cycle and docs/control-protocol.md the socket protocol.
"""
