"""moto_server, one request at a time: the DynamoDB and Secrets Manager stand-in for the tests and
the refresher bench (./infra/test-all.sh and ./infra/bench/refresher.sh start it).

Why not moto_server itself: DynamoDB applies each conditional write atomically, and the store's
contract tests ("of N racing claimers exactly one wins") rely on that. moto's handlers read the
item, check the condition and then write, with no lock between (UpdateItem on an absent item:
the condition passes, then the item is created), and moto_server runs each request in its own
thread, so two racing requests could both pass their condition: once in a CI run, two batch
runners both claimed one item. Serialising the requests gives moto DynamoDB's per-request
atomicity; a race in our own code (a read, then a separate write) is still two requests and still
caught. Under the GIL moto served one request at a time anyway, so throughput hardly changes.

    python infra/moto/serial_server.py HOST PORT
"""

import logging
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    # No access-log line per request (tens of thousands in a test run or a bench); errors still
    # reach the log.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        # The whole answer is produced under the lock: moto's state changes while it is built.
        with lock:
            return list(app(environ, start_response))

    run_simple(
        host,
        port,
        one_at_a_time,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
