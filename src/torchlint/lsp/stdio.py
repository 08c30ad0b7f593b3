"""Standard input read by the event loop itself, not by a thread per read.

pygls reads stdin through its thread pool: three reads per message (header,
blank line, body), each handed to a thread and back. While a lint holds the
interpreter lock, every hand-off waits for the lock's switch interval, so
during a lint the server took in about 30 messages a second, and a hover
sent after a burst of keystrokes waited seconds behind them (the storm of
bench/lsp_latency.py with debounce 0). Where stdin is a pipe or a socket (as
an editor starts a server), asyncio reads it in the event loop and takes in
every message already buffered at once. Elsewhere (a terminal, Windows)
pygls' own reader is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from typing import BinaryIO

from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)
#: Longest line the reader takes (headers are short; garbage input may not be),
#: and half of what it buffers before it stops reading until messages are handled.
LINE_LIMIT = 16 * 1024 * 1024


class PipeReader:
    """pygls' reader interface over an asyncio stream."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream

    async def readline(self) -> bytes:
        return await self._stream.readline()

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._stream.readexactly(n)
        except asyncio.IncompleteReadError as err:  # end of input: pygls expects the bytes read
            return err.partial


def readable_by_the_loop(stdin: BinaryIO) -> bool:
    """Whether asyncio can read `stdin` without changing a terminal's mode."""
    if os.name != "posix":
        return False
    try:
        mode = os.fstat(stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def serve(server: LanguageServer) -> None:
    """Serve on stdin and stdout until the input ends or the client says exit."""
    stdin = sys.stdin.buffer
    if not readable_by_the_loop(stdin):
        server.start_io()
        return
    try:  # as pygls' own start_io ends
        asyncio.run(_serve(server, stdin))
    except BrokenPipeError:
        logger.error("Connection to the client is lost! Shutting down the server.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


async def _serve(server: LanguageServer, stdin: BinaryIO) -> None:
    stream = asyncio.StreamReader(limit=LINE_LIMIT)
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), stdin)
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    await run_async(stop_event=threading.Event(), reader=PipeReader(stream),
                    protocol=server.protocol, logger=logger,
                    error_handler=server.report_server_error)
