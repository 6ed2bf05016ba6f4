#!/usr/bin/python3
"""A user-space TCP latency relay: netem's `delay` for a kernel without sch_netem.

    bench/relay.py --pair LISTEN_PORT:TARGET_HOST:TARGET_PORT[:DELAY_MS] [--pair ...]
                   [--delay MS] [--listen-host 127.0.0.1] [--no-handshake]
                   [--ready-file PATH]

Every pair listens on LISTEN_HOST:LISTEN_PORT and forwards each accepted connection to
TARGET_HOST:TARGET_PORT. Each chunk read from one side is held for DELAY_MS (default
--delay) before it is written to the other side, in both directions, so request/response
traffic sees 2*DELAY_MS of added round-trip time.

The hold is a per-direction queue of (deadline, chunk), not a sleep per chunk: the reader
keeps reading while earlier chunks wait, so order is kept and throughput is not limited to
one chunk per DELAY_MS (a bulk transfer is shifted by DELAY_MS, not slowed down).

The TCP handshake of a real network costs the client one round trip before it can send
anything. By default the relay models it: a new connection is held for 2*DELAY_MS before
the relay connects to the target and starts forwarding (what the client sent meanwhile
waits in the socket buffer and is then held DELAY_MS like any other chunk).
--no-handshake connects at once.

One process serves any number of pairs (the benchmark runs 512 hosts' and 3 more in one):
a listener per pair and 2 sockets per connection, so it raises its open-file limit to the
hard limit and says so when that is too low for the pairs. It writes "ready" to
--ready-file (or stdout) once every listener is bound, and stops on SIGTERM or SIGINT.
Python 3 standard library only.
"""

import argparse
import asyncio
import os
import resource
import signal
import socket
import sys

CHUNK = 256 * 1024


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


async def pump(reader, writer, delay, loop):
    """Copies reader to writer, each chunk delivered `delay` seconds after it was read."""
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time() + delay, b""))

    async def write_side():
        try:
            while True:
                deadline, data = await queue.get()
                wait = deadline - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    reading = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        reading.cancel()


def make_handler(target_host, target_port, delay, handshake):
    async def handle(client_reader, client_writer):
        loop = asyncio.get_running_loop()
        nodelay(client_writer)
        server_writer = None
        try:
            if handshake and delay > 0:
                await asyncio.sleep(2 * delay)
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
            nodelay(server_writer)
            await asyncio.gather(
                pump(client_reader, server_writer, delay, loop),
                pump(server_reader, client_writer, delay, loop),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (client_writer, server_writer):
                if w is not None:
                    w.close()

    return handle


def parse_pair(text, default_delay):
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"bad pair {text!r}: LISTEN_PORT:HOST:PORT[:DELAY_MS]")
    listen_port, host, port = int(parts[0]), parts[1], int(parts[2])
    delay_ms = float(parts[3]) if len(parts) == 4 else default_delay
    return listen_port, host, port, delay_ms


async def main(args):
    pairs = [parse_pair(p, args.delay) for p in args.pair]
    if args.pairs_file:
        with open(args.pairs_file) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    pairs.append(parse_pair(line, args.delay))
    if not pairs:
        sys.exit("relay: no --pair given")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    # A listener and one connection's 2 sockets per pair, and room to spare.
    if soft != resource.RLIM_INFINITY and soft < 3 * len(pairs) + 64:
        sys.exit(f"relay: {len(pairs)} pairs need about {3 * len(pairs) + 64} open files; the limit is {soft}")
    servers = []
    for listen_port, host, port, delay_ms in pairs:
        handler = make_handler(host, port, delay_ms / 1000.0, not args.no_handshake)
        servers.append(
            await asyncio.start_server(handler, args.listen_host, listen_port, reuse_address=True, backlog=512)
        )
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"ready {os.getpid()} {len(servers)}\n")
        os.replace(tmp, args.ready_file)
    else:
        print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", action="append", default=[], help="LISTEN_PORT:TARGET_HOST:TARGET_PORT[:DELAY_MS]")
    parser.add_argument("--pairs-file", help="a file of pairs, one per line")
    parser.add_argument("--delay", type=float, default=10.0, help="one-way delay in ms (default 10: 20 ms RTT)")
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--no-handshake", action="store_true", help="do not model the TCP handshake's round trip")
    parser.add_argument("--ready-file")
    asyncio.run(main(parser.parse_args()))
