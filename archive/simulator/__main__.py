"""``python -m archive.simulator``: run the simulated WeCom on its own.

    python -m archive.simulator populate DATA_DIR --count 100000
    python -m archive.simulator serve DATA_DIR [--port 18930]

The demo starts it in-process; benchmarks and manual testing run it as its own process,
as WeCom's servers would be.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from archive.simulator.consent import ConsentWorld
from archive.simulator.directory import DirectoryWorld
from archive.simulator.handover import HandoverWorld
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from archive.wecom.callback_crypto import CallbackCrypto


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m archive.simulator")
    commands = parser.add_subparsers(dest="command", required=True)
    populate = commands.add_parser("populate", help="generate and encrypt messages")
    populate.add_argument("data_dir", type=Path)
    populate.add_argument("--count", type=int, default=6000)
    populate.add_argument("--seed", type=int, default=7)
    populate.add_argument("--messages-per-day", type=int, default=3000)
    populate.add_argument("--rotate-after", type=int, default=None)
    serve = commands.add_parser("serve", help="serve the archive API to the fake SDK")
    serve.add_argument("data_dir", type=Path)
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=18930)
    serve.add_argument("--callback-url", default=None, help="POST contact-change callbacks here")
    serve.add_argument("--callback-token", default="", help="the callback Token (with --callback-url)")
    serve.add_argument("--callback-aes-key", default="", help="the callback EncodingAESKey (43 characters)")
    arguments = parser.parse_args()

    simulator = SimulatedWeCom(arguments.data_dir, seed=arguments.seed)
    if arguments.command == "populate":
        report = simulator.populate(
            arguments.count, messages_per_day=arguments.messages_per_day, rotate_after=arguments.rotate_after
        )
        print(json.dumps({"corp_id": simulator.corp_id, "messages": report.messages, "last_seq": report.last_seq}))
        return
    server = SimulatorServer(
        simulator.store,
        corp_id=simulator.corp_id,
        secret=simulator.archive_secret,
        host=arguments.host,
        port=arguments.port,
    )
    # The handover world (departed members, transfers) on the customer-contact API.
    world = HandoverWorld.build(simulator.company, server.clock_ms()).install(server)
    # The directory (通讯录, customers by member, internal groups, robots) over the same world.
    DirectoryWorld(world).install(server)
    # Consent to archiving (msgaudit/check_single_agree, check_room_agree), as the chats imply.
    ConsentWorld(simulator, world.callbacks).install(server)
    if arguments.callback_url:
        crypto = CallbackCrypto(arguments.callback_token, arguments.callback_aes_key, simulator.corp_id)
        world.callbacks.configure(crypto, arguments.callback_url)
    print(json.dumps({"url": server.url, "corp_id": simulator.corp_id}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
