"""sockloop.py - what slowloris.py and slowbody.py share: reading whatever arrived."""


def arrivals(sel, timeout=0.1):
    """(socket, bytes) for each registered socket with something to read within `timeout`;
    the bytes are b"" when the server closed it (or reading failed)."""
    for key, _ in sel.select(timeout=timeout):
        try:
            data = key.fileobj.recv(4096)
        except OSError:
            data = b""
        yield key.fileobj, data
