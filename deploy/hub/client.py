"""A student or a teacher at the hub, without a browser: JupyterHub's REST API, the Jupyter server's
REST API and the kernel's websocket protocol, as JupyterLab uses them.

    person = HubUser(hub_url, "alice", password).login()   # the login form, then an API token
    server = person.start_server()                          # JupyterLab is up
    notebook = server.read("lesson00/00_introduction.ipynb")
    with server.kernel_for("lesson00/00_introduction.ipynb") as kernel:
        reply = kernel.execute("1 + 1")                     # reply.status, reply.outputs

Every request and every wait is bounded by a timeout; nothing here retries without end.
"""

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

import requests
import websocket

HTTP_TIMEOUT = 60  # seconds for one request (a server on a busy machine answers slowly)
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


class HubError(RuntimeError):
    """The hub or a server answered something other than what a student expects."""


def check(response: requests.Response, *expected: int) -> requests.Response:
    if response.status_code not in expected:
        raise HubError(
            f"{response.request.method} {response.url} -> {response.status_code}: {response.text[:500]}"
        )
    return response


@dataclass
class HubUser:
    """Someone on the roster: logs in with the form, then works with an API token."""

    hub_url: str
    name: str
    password: str
    http: requests.Session = field(default_factory=requests.Session)

    def login(self) -> "HubUser":
        page = check(self.http.get(f"{self.hub_url}/hub/login", timeout=HTTP_TIMEOUT), 200)
        xsrf = XSRF.search(page.text)
        form = {"username": self.name, "password": self.password, "_xsrf": xsrf.group(1) if xsrf else ""}
        done = self.http.post(
            f"{self.hub_url}/hub/login", data=form, allow_redirects=False, timeout=HTTP_TIMEOUT
        )
        if done.status_code != 302:
            raise HubError(f"login of {self.name} refused: {done.status_code}")
        # an API token of the student's own (what JupyterLab's hub extension does with the cookie)
        made = self.http.post(
            f"{self.hub_url}/hub/api/users/{self.name}/tokens",
            json={"note": "client.py"},
            headers={"X-XSRFToken": self.http.cookies.get("_xsrf", path="/hub/") or ""},
            timeout=HTTP_TIMEOUT,
        )
        token = check(made, 200, 201).json()["token"]
        self.http.headers["Authorization"] = f"token {token}"
        self.token = token
        return self

    def hub_api(self, method: str, path: str, *expected: int, **kwargs) -> requests.Response:
        response = self.http.request(method, f"{self.hub_url}/hub/api{path}", timeout=HTTP_TIMEOUT, **kwargs)
        return check(response, *expected)

    def start_server(self, timeout: float = 660) -> "Server":
        """Start the student's JupyterLab (or find it running) and wait until it answers."""
        self.hub_api("POST", f"/users/{self.name}/server", 201, 202, 400)  # 400: already running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.hub_api("GET", f"/users/{self.name}", 200).json()["servers"].get("")
            if server and server["ready"]:
                return Server(self.hub_url + server["url"].rstrip("/"), self.http)
            if not server:
                raise HubError(f"the server of {self.name} stopped while starting: see the hub's logs")
            time.sleep(0.5)
        raise TimeoutError(f"the server of {self.name} was not ready within {timeout:.0f} s")

    def stop_server(self, timeout: float = 60) -> None:
        self.hub_api("DELETE", f"/users/{self.name}/server", 202, 204)
        deadline = time.monotonic() + timeout
        while self.hub_api("GET", f"/users/{self.name}", 200).json()["servers"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server of {self.name} did not stop within {timeout:.0f} s")
            time.sleep(0.5)

    def service(self, name: str) -> "Server":
        """A hub service (the formgrader) as the same person."""
        return Server(f"{self.hub_url}/services/{name}", self.http)


@dataclass
class Server:
    """A Jupyter server behind the hub (``/user/NAME`` or ``/services/NAME``)."""

    url: str
    http: requests.Session

    def request(self, method: str, path: str, *expected: int, timeout: float = HTTP_TIMEOUT, **kwargs):
        return check(self.http.request(method, f"{self.url}/{path}", timeout=timeout, **kwargs), *expected)

    def read(self, path: str) -> dict:
        """The notebook at ``path`` (relative to the server's root) as a dict."""
        return self.request("GET", f"api/contents/{path}", 200, params={"content": 1}).json()["content"]

    def save(self, path: str, notebook: dict) -> None:
        body = {"type": "notebook", "format": "json", "content": notebook}
        self.request("PUT", f"api/contents/{path}", 200, 201, json=body)

    def kernel_for(self, path: str, timeout: float = 120) -> "Kernel":
        """Open ``path`` as JupyterLab does: a session with a new python3 kernel, and its websocket."""
        body = {
            "path": path,
            "type": "notebook",
            "name": path.rsplit("/", 1)[-1],
            "kernel": {"name": "python3"},
        }
        session = self.request("POST", "api/sessions", 201, json=body, timeout=timeout).json()
        return Kernel(self, session["id"], session["kernel"]["id"], timeout)

    def kernel_pid(self, kernel: "Kernel") -> int:
        return int(kernel.execute("import os; print(os.getpid())").text)


@dataclass
class Reply:
    status: str  # "ok" or "error"
    outputs: list  # nbformat v4 outputs
    execution_count: int | None
    seconds: float

    @property
    def text(self) -> str:
        """What the cell printed and returned, as plain text."""
        parts = [o["text"] if o["output_type"] == "stream" else o.get("data", {}).get("text/plain", "")
                 for o in self.outputs if o["output_type"] in ("stream", "execute_result")]  # fmt: skip
        return "".join(parts)

    @property
    def error(self) -> str:
        return "\n".join(f"{o['ename']}: {o['evalue']}" for o in self.outputs if o["output_type"] == "error")


class Kernel:
    """A kernel's channels over the Jupyter server's websocket (the JSON protocol JupyterLab speaks)."""

    def __init__(self, server: Server, session_id: str, kernel_id: str, timeout: float):
        self.server, self.session_id, self.id = server, session_id, kernel_id
        ws_url = (
            server.url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?session_id={session_id}"
        )
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: {server.http.headers['Authorization']}"], timeout=timeout
        )

    def _send(self, msg_type: str, content: dict, channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": msg_type,
            "session": self.session_id,
            "username": "",
            "date": datetime.now(timezone.utc).isoformat(),
            "version": "5.3",
        }
        message = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": channel,
        }
        self.ws.send(json.dumps(message))
        return msg_id

    def execute(self, code: str, timeout: float = 300) -> Reply:
        """Run ``code`` and collect its outputs until the kernel is idle again (or ``timeout`` passes)."""
        start = time.monotonic()
        msg_id = self._send(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        outputs, status, count, idle = [], None, None, False
        while status is None or not idle:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                raise TimeoutError(f"the kernel did not finish a cell within {timeout:.0f} s")
            self.ws.settimeout(left)
            message = json.loads(self.ws.recv())
            kind = message["header"]["msg_type"]
            if kind == "status" and message["content"]["execution_state"] in ("restarting", "dead"):
                raise KernelDied(f"the kernel {message['content']['execution_state']} while running a cell")
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = message["content"]
            if kind == "execute_reply":
                status, count = content["status"], content.get("execution_count")
            elif kind == "status":
                idle = content["execution_state"] == "idle"
            elif kind == "stream":
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                output = {
                    "output_type": kind,
                    "data": content["data"],
                    "metadata": content.get("metadata", {}),
                }
                if kind == "execute_result":
                    output["execution_count"] = content["execution_count"]
                outputs.append(output)
            elif kind == "error":
                outputs.append(
                    {"output_type": "error", **{k: content[k] for k in ("ename", "evalue", "traceback")}}
                )
        return Reply(status, outputs, count, time.monotonic() - start)

    def restart(self, timeout: float = 120) -> None:
        """Restart the kernel (JupyterLab's Kernel > Restart) and reconnect.

        After a crash the server restarts the kernel by itself first; a restart asked for meanwhile
        fails (500) and is asked again, a second at a time, until ``timeout``."""
        self.ws.close()
        deadline = time.monotonic() + timeout
        while True:
            url = f"{self.server.url}/api/kernels/{self.id}/restart"
            response = self.server.http.post(url, timeout=timeout)
            if response.status_code == 200:
                break
            if time.monotonic() > deadline:
                check(response, 200)
            time.sleep(1)
        self.__init__(self.server, self.session_id, self.id, timeout)

    def close(self, shut_down: bool = True) -> None:
        self.ws.close()
        if shut_down:
            self.server.request("DELETE", f"api/sessions/{self.session_id}", 204)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KernelDied(RuntimeError):
    """The kernel died (or was restarted) while a cell ran."""
