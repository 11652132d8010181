"""One connection to the SMSC: smpplib's client with a thread-safe send and a buffered reader
that never loses a partly received PDU to a timeout, and the sequence numbers shared by the
submitting and the reading thread."""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from typing import TYPE_CHECKING, Any

from smpplib import client as smpp_client
from smpplib import consts, exceptions

# smpplib logs every PDU as hex at DEBUG (numbers and texts included): keep that logger at INFO
# whatever the application's level.
WIRE_LOGGER = f"{__package__}.wire"
logging.getLogger(WIRE_LOGGER).setLevel(logging.INFO)
# smpplib warns once per PDU for each optional parameter it does not know (and skips it): SMSCs
# add vendor TLVs to every inbound SMS, which would be a warning per SMS.
logging.getLogger("smpplib.command").setLevel(logging.ERROR)

_MAX_PDU = 64 * 1024


class _Sequence:
    """Sequence numbers shared by the submitting and the reading thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def sequence(self) -> int:
        return self._value

    def next_sequence(self) -> int:
        with self._lock:
            self._value = self._value % 0x7FFFFFFF + 1
            return self._value


if TYPE_CHECKING:

    class _Client:
        """What this package uses of smpplib's ``Client`` (which has no types): its base at run time."""

        _socket: socket.socket | None
        state: str

        def __init__(
            self, host: str, port: int, timeout: float = 5, sequence_generator: Any = None, logger_name: str | None = None,
            ssl_context: Any = None, allow_unknown_opt_params: bool | None = None,
        ) -> None: ...

        def connect(self) -> None: ...

        def disconnect(self) -> None: ...

        def bind_transceiver(self, **kwargs: Any) -> Any: ...

        def read_pdu(self) -> Any: ...

else:
    _Client = smpp_client.Client


class _Link(_Client):
    """One connection: smpplib's client with a thread-safe send and a buffered reader that
    never loses a partly received PDU to a timeout."""

    def __init__(self, host: str, port: int, timeout: float, sequence: _Sequence) -> None:
        super().__init__(host, port, timeout=timeout, sequence_generator=sequence, logger_name=WIRE_LOGGER, allow_unknown_opt_params=True)
        self._send_lock = threading.Lock()
        self._buffer = bytearray()
        self.dead = False
        self.bound_at = 0.0

    def send(self, pdu: Any) -> None:
        """Send a PDU; encoding errors raise before anything is written."""
        self.send_bytes(pdu.generate())

    def send_bytes(self, data: bytes) -> None:
        with self._send_lock:
            sock = self._socket
            if sock is None or self.dead:
                raise exceptions.ConnectionError("not connected")
            try:
                sock.sendall(data)
            except OSError as error:
                raise exceptions.ConnectionError(str(error)) from error

    def wait_pdu(self, timeout: float) -> bool:
        """True once a whole PDU is buffered (``read_pdu`` then returns at once)."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buffer) >= 4:
                length = struct.unpack(">L", self._buffer[:4])[0]
                if length < 16 or length > _MAX_PDU:
                    raise exceptions.PDUError(f"bad command_length {length}")
                if len(self._buffer) >= length:
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sock = self._socket
            if sock is None:
                raise exceptions.ConnectionError("not connected")
            try:
                readable, _, _ = select.select([sock], [], [], remaining)
                if not readable:
                    return False
                chunk = sock.recv(65536)
            except (OSError, ValueError) as error:
                raise exceptions.ConnectionError(str(error)) from error
            if not chunk:
                raise exceptions.ConnectionError("closed by the SMSC")
            self._buffer += chunk

    def _recv_exact(self, exact_size: int) -> bytes:
        while len(self._buffer) < exact_size:
            sock = self._socket
            if sock is None:
                raise exceptions.ConnectionError("not connected")
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise
            except OSError as error:
                raise exceptions.ConnectionError(str(error)) from error
            if not chunk:
                raise exceptions.ConnectionError("closed by the SMSC")
            self._buffer += chunk
        data = bytes(self._buffer[:exact_size])
        del self._buffer[:exact_size]
        return data

    def shutdown(self) -> None:
        """Wake the reader (it then closes the socket)."""
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def disconnect(self) -> None:
        sock, self._socket = self._socket, None
        self.state = consts.SMPP_CLIENT_STATE_CLOSED
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
