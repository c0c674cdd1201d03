"""A real SMTP server (aiosmtpd) for the e-mail channel tests.

It binds 127.0.0.1:0 itself and prints the port it got on the first line of stdout, so no
port is chosen by the test and released before the server takes it. Messages are stored in
the Maildir given as the first argument.
"""
import asyncio
import socket
import sys

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP


def main():
    maildir = sys.argv[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Mailbox(maildir)
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(handler), sock=sock))
    print(sock.getsockname()[1], flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
