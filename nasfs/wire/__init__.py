"""The control protocol, which belongs to neither side: the daemon (server) and nasfs.client
both import it, and it imports nothing else of nasfs.

    codes     every error code, as explicit constants (the one table)
    protocol  framing of requests and answers
    types     the typed shapes of answers (status, capacity, job progress)
"""
