#!/usr/bin/env python3
"""Stands in for systemctl where no systemd runs (CI containers): install.sh's service control for a tree installed
with --root. `start` runs the unit's program from $EDGEMED_TEST_ROOT as systemd would (WorkingDirectory, a notify
socket) and returns once it sends READY=1, like `systemctl start` of a Type=notify unit; it never returns otherwise
(install.sh's timeout decides). `stop` sends SIGTERM and waits. Every call is appended to $EDGEMED_TEST_ROOT/systemctl.log."""
import os, signal, socket, subprocess, sys, time

root = os.environ["EDGEMED_TEST_ROOT"]
state = os.path.join(root, "var/lib/edgemed")
pid_file = os.path.join(root, "service.pid")
command = sys.argv[1] if len(sys.argv) > 1 else ""
with open(os.path.join(root, "systemctl.log"), "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")


def stop():
    try:
        pid = int(open(pid_file).read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.remove(pid_file)


def start():
    stop()
    notify = os.path.join(root, "notify.sock")
    if os.path.exists(notify):
        os.remove(notify)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify)
    env = dict(os.environ, NOTIFY_SOCKET=notify)
    program = os.path.join(root, "opt/edgemed/current/app/EdgeMed.EdgeAgent")
    args = [program, "run", "--db", os.path.join(state, "edgemed.db"), "--models", os.path.join(state, "models"),
            "--config", os.path.join(root, "etc/edgemed/appsettings.json"), "--quarantine", os.path.join(state, "quarantine")]
    with open(os.path.join(root, "service.log"), "ab") as out:
        process = subprocess.Popen(args, cwd=state, env=env, stdout=out, stderr=out, start_new_session=True)
    with open(pid_file, "w") as f:
        f.write(str(process.pid))
    while True:
        sock.settimeout(1)
        try:
            if sock.recv(4096).split(b"\n")[0] == b"READY=1":
                return 0
        except socket.timeout:
            if process.poll() is not None:
                return 1  # exited before READY, as systemd reports a failed start


if command == "start":
    sys.exit(start())
if command == "stop":
    stop()
elif command == "restart":
    sys.exit(start())
sys.exit(0)  # daemon-reload, enable, disable: nothing to do without systemd
