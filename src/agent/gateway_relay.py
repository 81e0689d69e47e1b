"""Relays the agent's TCP connections to the bot's LLM gateway through the gateway's Unix socket.

Inside bubblewrap the agent has a network namespace of its own, with nothing but its own loopback: the
host's 127.0.0.1, where the gateway listens, is out of reach, and so is every other address. The bot
mounts the gateway's Unix socket into the sandbox, and `start` listens on the gateway's address inside
(the same 127.0.0.1 port, so MetaGPT's `base_url` is unchanged) and copies bytes both ways, one pair of
threads per connection. `wrapper.py` starts it before MetaGPT when job.json has
"gateway_relay": {"listen": [host, port], "socket": path}.
"""

import socket
import threading


def start(listen, socket_path):
    """Listens on `listen` ([host, port]) and relays each connection to `socket_path`; returns at once."""
    server = socket.create_server((listen[0], int(listen[1])))
    threading.Thread(target=_accept, args=(server, socket_path), name="gateway-relay", daemon=True).start()
    return server


def _accept(server, socket_path):
    while True:
        try:
            client, _ = server.accept()
        except OSError:
            return
        threading.Thread(target=_relay, args=(client, socket_path), daemon=True).start()


def _relay(client, socket_path):
    # Streamed answers arrive in small pieces; without TCP_NODELAY the last one waits for a delayed ACK.
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError:
        upstream.close()
        client.close()
        return
    answers = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    answers.start()
    _pump(client, upstream)
    answers.join()
    upstream.close()
    client.close()


def _pump(source, target):
    """Copies `source` to `target` until `source` ends, then ends `target`'s sending side."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    try:
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass
