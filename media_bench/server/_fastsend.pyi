def send_rtp(
    fd: int,
    sockaddr: bytes,
    protect: int,
    context: int,
    buffer: int,
    capacity: int,
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    /,
) -> int: ...
