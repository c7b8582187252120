"""`python -m app.serve_class [--processes N] [--server.port 8501] [--server.address ADDR] [streamlit options]`:
a whole class on every core (`make serve-class`).

One Streamlit process runs its pages' Python on one core (the GIL): with a class of 30 it is that core, not the
machine, that runs out (issue #25). Here N app processes (default: one per core) serve the class behind nginx, the
reverse proxy from the distribution, and one `python -m mnist_core serve-jobs` trains the runs they all queue: they
share the run store (SQLite: runs, identities, the queue, teacher sessions) and one pool of worker processes.

nginx keeps each browser on one app process (a Streamlit session, its websocket and its media files live in one
process): a browser's first request goes to the next app process in turn, and the answer sets a cookie naming that
process (its number); every later request of that browser goes there. So a class arriving splits evenly. (A random key
hashed onto the processes splits a class by chance; nginx's least_conn cannot count the websockets that go to a
process of their own, and split 30 students 19 to 11 and 16 to 14 in the benchmark.) The route cookie is no secret and
says nothing about the student: one who edits it only moves to another process. The app processes share one cookie
secret, so an upload's XSRF check holds whichever process answers. Ctrl+C (or SIGTERM) stops everything this started.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
ROUTE_COOKIE = "mnist_playground_route"
UPLOAD_LIMIT_MB = 50  # above the app's own upload limits: the app, not nginx, words a refusal
START_TIMEOUT_S = 120.0

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # Kept in memory (no temp files: nginx's workers may run as another user than this directory's owner).
    client_body_buffer_size {upload_mb}m;
    client_max_body_size {upload_mb}m;
    proxy_max_temp_file_size 0;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    # A browser's route cookie names its app process; none (or an unknown one): the next process in turn, whose
    # answer then sets the cookie.
    map $cookie_{cookie} $app_process {{
        default app_in_turn;
{routes}
    }}
    map $upstream_addr $route_cookie {{
        default "";
{route_cookies}
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    upstream app_in_turn {{
{servers}
    }}
{process_upstreams}
    server {{
        listen {address}:{port};
        location / {{
            proxy_pass http://$app_process;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1d;
            proxy_send_timeout 1d;
            add_header Set-Cookie $route_cookie always;
            add_header X-App-Process $upstream_addr always;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_config(directory: Path, address: str, port: int, app_ports: list[int]) -> str:
    addresses = [f"127.0.0.1:{p}" for p in app_ports]
    servers = "\n".join(f"        server {a} max_fails=0;" for a in addresses)
    routes = "\n".join(f'        "{n}" app_process_{n};' for n in range(len(addresses)))
    route_cookies = "\n".join(f'        "{a}" "{ROUTE_COOKIE}={n}; Path=/; SameSite=Strict; HttpOnly";'
                               for n, a in enumerate(addresses))
    process_upstreams = "\n".join(f"    upstream app_process_{n} {{ server {a} max_fails=0; }}"
                                   for n, a in enumerate(addresses))
    return NGINX_CONF.format(dir=directory, address=address, port=port, servers=servers, routes=routes,
                             route_cookies=route_cookies, process_upstreams=process_upstreams, cookie=ROUTE_COOKIE,
                             upload_mb=UPLOAD_LIMIT_MB)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m app.serve_class", description=__doc__.split("\n\n")[1])
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="app processes (default: one per core)")
    parser.add_argument("--server.port", dest="port", type=int, default=8501, help="the class's port (nginx)")
    parser.add_argument("--server.address", dest="address", default="0.0.0.0",
                        help="the address nginx listens on (default: every interface)")
    args, streamlit_options = parser.parse_known_args(argv)
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")
    return args, streamlit_options


class Class:
    """The processes serving a class, started in order (trainer, app processes, nginx) and stopped in reverse."""

    def __init__(self) -> None:
        self.nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if self.nginx is None:
            raise SystemExit("serve-class needs nginx, the reverse proxy in front of the app processes: install it "
                             "with `sudo apt-get install nginx` (or your system's package), then try again.")
        self.directory = Path(tempfile.mkdtemp(prefix="mnist-serve-class-"))
        self.children: list[subprocess.Popen] = []
        self.app_ports: list[int] = []

    def start(self, processes: int, address: str, port: int, streamlit_options: list[str]) -> None:
        env = {**os.environ, "MNIST_PLAYGROUND_TRAINER": "elsewhere",
               "STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_urlsafe(32)}
        self._start([sys.executable, "-m", "mnist_core", "serve-jobs"], dict(os.environ))
        self.app_ports = [free_port() for _ in range(processes)]
        for app_port in self.app_ports:
            self._start([sys.executable, "-m", "app.serve", "--server.headless", "true", "--server.address",
                         "127.0.0.1", "--server.port", str(app_port), *streamlit_options], env)
        self._wait_for(self.app_ports, "an app process did not start; its output is above")
        conf = self.directory / "nginx.conf"
        conf.write_text(nginx_config(self.directory, address, port, self.app_ports))
        self._start([self.nginx, "-e", "stderr", "-p", str(self.directory), "-c", str(conf)], dict(os.environ))
        self._wait_for([port], "nginx did not start; its output is above")

    def _start(self, command: list[str], env: dict[str, str]) -> None:
        self.children.append(subprocess.Popen(command, cwd=PROJECT, env=env, stdin=subprocess.DEVNULL))

    def _wait_for(self, ports: list[int], problem: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(healthy(p) for p in ports):
            if time.monotonic() > deadline or any(c.poll() is not None for c in self.children):
                raise RuntimeError(problem)
            time.sleep(0.25)

    def wait(self) -> int:
        """Until a signal, or until one of the processes ends (then the class is stopped: half a class is none)."""
        ended: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda number, _frame: ended.append(number))
        while not ended:
            if any(child.poll() is not None for child in self.children):
                print("serve-class: a process ended; stopping the others", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        for child in reversed(self.children):  # nginx first, the trainer last (its runs end as "stopped")
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(90)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    args, streamlit_options = parse_args(argv)
    served = Class()
    try:
        served.start(args.processes, args.address, args.port, streamlit_options)
        shown = "localhost" if args.address in ("0.0.0.0", "127.0.0.1") else args.address
        print(f"Serving the class at http://{shown}:{args.port} with {args.processes} app processes and one "
              "trainer. Ctrl+C stops them all.", file=sys.stderr, flush=True)
        return served.wait()
    finally:
        served.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
