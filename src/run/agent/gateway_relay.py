"""Relays the agent's TCP connections to the bot's LLM gateway through the gateway's Unix socket.

Inside bubblewrap the agent has a network namespace of its own, with nothing but its own loopback: the
host's 127.0.0.1, where the gateway listens, is out of reach, and so is every other address. The bot
mounts the gateway's Unix socket into the sandbox, and `start` listens on the gateway's address inside
(the same 127.0.0.1 port, so MetaGPT's `base_url` is unchanged) and copies bytes both ways, one pair of
threads per connection. `wrapper.py` starts it before MetaGPT when job.json has
"gateway_relay": {"listen": [host, port], "socket": path}.
"""

import socket
import sys
import threading
import time


def start(listen, socket_path):
    """Listens on `listen` ([host, port]) and relays each connection to `socket_path`; returns at once."""
    server = socket.create_server((listen[0], int(listen[1])))
    threading.Thread(target=_accept, args=(server, socket_path), name="gateway-relay", daemon=True).start()
    return server


def _accept(server, socket_path):
    while True:
        try:
            client, _ = server.accept()
        except OSError as error:
            if server.fileno() == -1:  # closed: the relay is over
                return
            # Out of descriptors or an aborted handshake: say so, and keep serving the next call.
            print(f"metagpt-bot gateway relay: accept failed: {error}", file=sys.stderr, flush=True)
            time.sleep(0.1)
            continue
        try:
            threading.Thread(target=_relay, args=(client, socket_path), daemon=True).start()
        except RuntimeError as error:  # no thread to be had: refuse this call, not the next ones
            print(f"metagpt-bot gateway relay: {error}", file=sys.stderr, flush=True)
            client.close()


def _relay(client, socket_path):
    # Streamed answers arrive in small pieces; without TCP_NODELAY the last one waits for a delayed ACK.
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError as error:
        print(f"metagpt-bot gateway relay: cannot reach the gateway at {socket_path}: {error}",
              file=sys.stderr, flush=True)
        upstream.close()
        client.close()
        return
    answers = threading.Thread(target=_answers, args=(upstream, client), daemon=True)
    answers.start()
    if _pump(client, upstream):  # the agent's requests, until it closes or half-closes
        _end_sending(upstream)
    answers.join()
    upstream.close()
    client.close()


def _answers(upstream, client):
    """The gateway's answers, until it closes; then the connection is over both ways."""
    _pump(upstream, client)
    for sock in (client, upstream):
        try:
            sock.shutdown(socket.SHUT_RDWR)  # also wakes the other direction's recv
        except OSError:
            pass


def _pump(source, target):
    """Copies `source` to `target` until `source` ends (True) or either fails (False)."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                return True
            target.sendall(data)
    except OSError:
        return False


def _end_sending(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
