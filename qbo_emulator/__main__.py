"""Run the QBO emulator: ``python -m qbo_emulator --port N --data SNAPSHOT_DIR``.

Prints one JSON line with ``base_url``, ``token_url``, ``realm_id`` and the first
``refresh_token`` (a fake token, valid only against this emulator), then serves until
interrupted. Faults can be set on the command line or at runtime with
``POST /_emulator/faults`` (a JSON object of :class:`qbo_emulator.server.Faults` fields);
``GET /_emulator/stats`` summarizes the request record.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from qbo_emulator.server import Emulator, Faults


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, start the emulator and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m qbo_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one; default 8765)")
    parser.add_argument("--data", type=Path, help="snapshot folder of <Entity>.json files")
    parser.add_argument("--realm", default="9130350000000000", help="the realm (company) id served")
    parser.add_argument("--client-id", help="accept only this OAuth client id (default: any)")
    parser.add_argument("--client-secret", help="accept only this OAuth client secret (default: any)")
    parser.add_argument("--refresh-token", help="the first valid refresh token (default: a random one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds added to every API request")
    parser.add_argument("--throttle-every", type=int, default=0, help="XML 429 on every Nth API request")
    parser.add_argument("--error-every", type=int, default=0, help="HTTP 503 on every Nth API request")
    parser.add_argument("--drop-every", type=int, default=0, help="drop the connection on every Nth API request")
    parser.add_argument(
        "--cut-every", type=int, default=0, help="cut the connection halfway through every Nth API answer"
    )
    parser.add_argument("--access-token-lifetime", type=float, default=3600.0, help="seconds an access token lives")
    args = parser.parse_args(argv)
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {args.data}: not a folder")
    faults = Faults(
        latency=args.latency_ms / 1000.0,
        throttle_every=args.throttle_every,
        error_every=args.error_every,
        drop_every=args.drop_every,
        cut_every=args.cut_every,
        access_token_lifetime=args.access_token_lifetime,
    )
    emulator = Emulator(
        args.data,
        realm_id=args.realm,
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        refresh_token=args.refresh_token,
        faults=faults,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    emulator.start()
    info = {
        "base_url": emulator.base_url,
        "token_url": emulator.token_url,
        "realm_id": emulator.realm_id,
        "refresh_token": emulator.refresh_token,
        "port": emulator.port,
    }
    print(json.dumps(info), flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
